"""This machine's name as ingestctl records it: in lease owners, probe owners, scheduler info.

``INGESTCTL_HOSTNAME`` overrides it: containers that share one host name on several machines
set it so their leases are told apart, and tests use it to play several hosts on one machine.
"""

from __future__ import annotations

import os

HOSTNAME_ENV = "INGESTCTL_HOSTNAME"


def hostname() -> str:
    """``INGESTCTL_HOSTNAME`` when set, else the kernel's host name."""
    # What socket.gethostname() returns, without loading socket into every probe's start-up.
    return os.environ.get(HOSTNAME_ENV) or os.uname().nodename
