"""A real, private PostgreSQL for tests: `initdb` into a fresh folder, `pg_ctl start` on a
free loopback port with its own Unix socket folder, nothing shared with a system cluster.

    with PostgresServer() as server:
        url = server.create_database("t1")       # postgresql+psycopg://postgres@127.0.0.1:…/t1

PostgreSQL refuses to run as root, so as root the cluster belongs to an unprivileged
user (`postgres` when the package made one, else `nobody`) and every server command
runs as that user; as anyone else it runs as the invoking user. The binaries come from
the newest /usr/lib/postgresql/*/bin (Debian's layout), else from PATH.

The server's time zone is deliberately not UTC (`SERVER_TIMEZONE`): timestamps read
back through it must still come out as the same instant in aware UTC.

This module must not import pytest: the benchmarks in ``bench/`` may use it too.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import weakref
from pathlib import Path

import psycopg
from psycopg import sql

from tests.support.ports import free_port
from tests.support.servers import Running

SUPERUSER = "postgres"
# +05:45 all year: an offset no code could get right by accident.
SERVER_TIMEZONE = "Asia/Kathmandu"


class PostgresError(RuntimeError):
    """The private PostgreSQL could not be started or used; the message says why."""


def find_binaries() -> Path | None:
    """The folder holding `initdb` and `pg_ctl` (newest version first), or None."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).resolve().parent == Path(pg_ctl).resolve().parent:
        return Path(initdb).resolve().parent
    return None


def _version(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", folder.parent.name)) or (0,)


class PostgresServer(Running):
    """A private PostgreSQL cluster; see the module docstring."""

    host = "127.0.0.1"

    def __init__(self, *, start_timeout: float = 30.0, durable: bool = False) -> None:
        """`durable`: written to disk as an operator's server is (fsync and full-page
        writes on), for benchmarks; tests leave the shared disk alone."""
        self.start_timeout = start_timeout
        self.durable = durable
        self.dir = Path()
        self.port = 0
        self._bin: Path | None = None
        self._user: pwd.struct_passwd | None = None
        self._started = False

    # ---- life cycle ------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.dir / "run"

    @property
    def log_path(self) -> Path:
        return self.dir / "postgres.log"

    def start(self) -> PostgresServer:
        """initdb, then pg_ctl start on a free port; raises PostgresError with the log tail."""
        if self._started:
            raise PostgresError("PostgresServer already started")
        self._bin = find_binaries()
        if self._bin is None:
            raise PostgresError(
                "no PostgreSQL server binaries (initdb, pg_ctl): run "
                "`bash scripts/install-system-deps.sh` (installs the Debian package postgresql)"
            )
        self._user = _server_user()
        self.dir = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))
        self.socket_dir.mkdir()
        if self._user is not None:
            for path in (self.dir, self.socket_dir):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
        try:
            self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "-A", "trust",
                      "-E", "UTF8", "--no-locale", "--no-sync")
            self._start_on_free_port()
        except BaseException:
            self.stop()
            raise
        self._started = True
        _RUNNING.add(self)
        return self

    def _start_on_free_port(self, attempts: int = 3) -> None:
        # A port found free can be taken by another process before the server binds it.
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            options = " ".join([
                f"-c port={self.port}",
                f"-c listen_addresses={self.host}",
                f"-c unix_socket_directories={self.socket_dir}",
                f"-c timezone={SERVER_TIMEZONE}",
                # Enough for several triaged processes and their pools.
                "-c max_connections=200",
                # A commit does not wait for the disk: the durability of SQLite's WAL
                # with synchronous=NORMAL, triaged's default (README: PostgreSQL).
                "-c synchronous_commit=off",
                # Durability is not under test; the machine's disk is shared.
                *([] if self.durable else ["-c fsync=off", "-c full_page_writes=off"]),
            ])
            try:
                self._run("pg_ctl", "start", "-w", "-t", str(int(self.start_timeout)),
                          "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options)
                return
            except PostgresError as error:
                if attempt == attempts or "already in use" not in str(error):
                    raise

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder. Safe to call twice."""
        _RUNNING.discard(self)
        if self._started:
            with contextlib.suppress(PostgresError):
                self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w")
            self._started = False
        if self.dir != Path():
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = Path()

    def halt(self) -> None:
        """Stop the server (fast shutdown: every session is cut), keeping its data and port."""
        self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w")

    def resume(self) -> None:
        """Start a halted server again, on the same port with the same options."""
        # pg_ctl restart reads the options of the last start (postmaster.opts).
        self._run("pg_ctl", "restart", "-w", "-t", str(int(self.start_timeout)),
                  "-D", str(self.data_dir), "-l", str(self.log_path))

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no PostgreSQL log yet)"
        return f"--- {self.log_path}\n" + "\n".join(text)

    # ---- databases -------------------------------------------------------------------

    def url(self, database: str, *, user: str = SUPERUSER, password: str = "") -> str:
        """The SQLAlchemy URL triaged is configured with, over loopback TCP."""
        login = f"{user}:{password}" if password else user
        return f"postgresql+psycopg://{login}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit psycopg connection as the superuser (for CREATE DATABASE etc.)."""
        return psycopg.connect(host=self.host, port=self.port, user=SUPERUSER,
                               dbname=database, autocommit=True)

    def create_database(self, name: str, *, template: str = "template1") -> str:
        """Create database `name` (a copy of `template`) and return its URL."""
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)))
        return self.url(name)

    # ---- helpers ---------------------------------------------------------------------

    def _run(self, program: str, *args: str) -> None:
        assert self._bin is not None
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        try:
            subprocess.run(
                [str(self._bin / program), *args],
                cwd=self.dir,
                env=env,
                user=self._user.pw_uid if self._user else None,
                group=self._user.pw_gid if self._user else None,
                extra_groups=[] if self._user else None,
                check=True,
                capture_output=True,
                timeout=self.start_timeout + 30,
            )
        except subprocess.CalledProcessError as error:
            output = (error.stdout + error.stderr).decode(errors="replace").strip()
            raise PostgresError(
                f"{program} failed with status {error.returncode}: {output}\n{self.log_tail()}"
            ) from None
        except subprocess.TimeoutExpired:
            raise PostgresError(f"{program} timed out\n{self.log_tail()}") from None


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server when we are root (initdb refuses root); None: ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresError("running as root and neither a `postgres` nor a `nobody` user exists")


_RUNNING: weakref.WeakSet[PostgresServer] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    # A test run that dies without calling stop() must not leave servers behind.
    for server in list(_RUNNING):
        server.stop()
