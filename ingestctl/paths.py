"""Where ingestctl keeps its files: the home directory and what lives in it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ingestctl.errors import StoreError


@dataclass(frozen=True)
class Home:
    """The home directory and the files in it (docs/reference/config.md, Files)."""

    root: Path

    @property
    def database(self) -> Path:
        """The SQLite store."""
        return self.root / "ingestctl.db"

    @property
    def breakers(self) -> Path:
        """Circuit breaker state shared by all processes."""
        return self.root / "breakers.json"

    @property
    def log_file(self) -> Path:
        """The structured log, one JSON object a line."""
        return self.root / "logs" / "ingestctl.jsonl"

    def ensure(self) -> None:
        """Create the directories that are missing, private to the user (mode 0700).

        An existing directory keeps its mode: ``--home /tmp`` must not change ``/tmp``.
        """
        try:
            for directory in (self.root, self.log_file.parent):
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(str(exc.filename or self.root), exc.strerror or str(exc),
                             hint="create it, or pass a writable --home DIR") from None


def free_space(path: Path) -> int | None:
    """Bytes an unprivileged user may still write on the filesystem of ``path`` (or of its
    nearest existing parent); None when that cannot be read."""
    for candidate in (path, *path.parents):
        try:
            found = os.statvfs(candidate)
        except FileNotFoundError:
            continue
        except OSError:
            return None
        return found.f_bavail * found.f_frsize
    return None


def resolve_home(explicit: str | None, environ: Mapping[str, str] | None = None) -> Home:
    """``--home``, else ``INGESTCTL_HOME``, else ``$XDG_DATA_HOME/ingestctl``."""
    env = os.environ if environ is None else environ
    chosen = explicit or env.get("INGESTCTL_HOME")
    if chosen:
        return Home(Path(chosen).expanduser())
    data = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Home(Path(data) / "ingestctl")
