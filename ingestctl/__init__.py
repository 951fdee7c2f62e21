"""ingestctl: run and schedule data imports into SQLite that never fail silently."""

import logging

__version__ = "0.1.0"

# A library stays silent until the application configures logging.
logging.getLogger("ingestctl").addHandler(logging.NullHandler())
