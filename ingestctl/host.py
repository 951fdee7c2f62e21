"""This machine's name as ingestctl records it: in lease owners, probe owners, scheduler info.

``INGESTCTL_HOSTNAME`` overrides it: containers that share one host name on several machines
set it so their leases are told apart, and tests use it to play several hosts on one machine.
"""

from __future__ import annotations

import os
import socket

HOSTNAME_ENV = "INGESTCTL_HOSTNAME"


def hostname() -> str:
    """``INGESTCTL_HOSTNAME`` when set, else the kernel's host name."""
    return os.environ.get(HOSTNAME_ENV) or socket.gethostname()
