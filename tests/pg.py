"""A real PostgreSQL server for the tests: a cluster in a temporary directory, run by the
fixtures as an unprivileged user, one fresh database per test.

Debian's ``postgresql`` package (installed by ``.ci/run``) puts ``initdb`` and ``pg_ctl`` in
``/usr/lib/postgresql/*/bin``; nothing starts a server for us. PostgreSQL refuses to run as
root, so when the tests run as root (CI does) the cluster belongs to the ``postgres`` user the
package creates, or to ``nobody``. Clients connect over TCP on 127.0.0.1 with a password, so
the URLs the tests use carry one (and the tests check it is never shown).

Without the binaries the PostgreSQL tests are skipped with a reason saying how to get them;
under CI (``CI`` set) a missing server fails them instead, so CI never passes by skipping.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PASSWORD = "s3cret-pw"
USER = "ingestctl"


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as (None: we are not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """A running server; :meth:`new_database` gives each test its own database."""

    bindir: Path
    root: Path
    port: int
    account: pwd.struct_passwd | None
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _cmd(self, *args: str) -> subprocess.CompletedProcess[str]:
        extra = ({"user": self.account.pw_uid, "group": self.account.pw_gid}
                 if self.account else {})
        return subprocess.run(args, capture_output=True, text=True, timeout=60,
                              cwd=self.root, check=False, **extra)  # type: ignore[arg-type]

    def url(self, database: str = "postgres") -> str:
        """A URL with the password, as a user would write it in ``[store] url``."""
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """initdb (scram passwords over TCP) and start on a free loopback port."""
        data, pwfile = self.root / "data", self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self.account:
            os.chown(self.root, self.account.pw_uid, self.account.pw_gid)
            os.chown(pwfile, self.account.pw_uid, self.account.pw_gid)
        done = self._cmd(str(self.bindir / "initdb"), "-D", str(data), "-U", USER,
                         "--pwfile", str(pwfile), "--auth-host=scram-sha-256",
                         "--auth-local=trust", "-E", "UTF8", "--no-sync")
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        done = self._cmd(str(self.bindir / "pg_ctl"), "-D", str(data), "-l",
                         str(self.root / "server.log"), "-o", options, "-w", "-t", "60", "start")
        if done.returncode:
            log = (self.root / "server.log")
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()} "
                               f"{log.read_text() if log.exists() else ''}")

    def stop(self) -> None:
        """Stop the server (immediately: the data is thrown away) and remove the cluster."""
        self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m",
                  "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        with self._lock:
            self._count += 1
            name = f"test_{self._count}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


#: Why there is no server, when this machine has no PostgreSQL binaries.
NO_BINARIES = ("no initdb in /usr/lib/postgresql/*/bin (apt-get install postgresql)")


def new_cluster() -> Cluster | None:
    """A cluster in a new temporary directory, not started; None without the binaries."""
    bindir = _binaries()
    if bindir is None:
        return None
    return Cluster(bindir, Path(tempfile.mkdtemp(prefix="ingestctl-pg-")), _free_port(),
                   _run_as())


def bench_cluster(url: str | None) -> Cluster | None:
    """For a benchmark: None when it was given ``url``, else a started throwaway cluster (it
    exits with a message on a machine without the binaries)."""
    if url is not None:
        return None
    cluster = new_cluster()
    if cluster is None:
        raise SystemExit(f"no PostgreSQL server: {NO_BINARIES}, or give --url")
    cluster.start()
    return cluster


def start_cluster() -> Cluster:
    """Start a cluster, or skip (fail under CI) when no server can be started here."""
    cluster = new_cluster()
    if cluster is None:
        reason = f"PostgreSQL tests need a server: {NO_BINARIES}"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI installs it in .ci/run", pytrace=False)
        pytest.skip(reason)
    try:
        cluster.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        cluster.stop()
        pytest.fail(f"cannot start the PostgreSQL test server: {exc}", pytrace=False)
    return cluster
