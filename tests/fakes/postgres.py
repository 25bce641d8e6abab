"""A real, throwaway PostgreSQL server on 127.0.0.1 for the SQL-source tests.

Not a fake: `initdb` + `pg_ctl` (PostgreSQL 15 on this machine) start a private
cluster in a temporary folder on a free port, and `stop()` removes it. `initdb`
refuses to run as root (CI runs as root), so the server then runs as the
`postgres` system user (created with `useradd` when absent). Binaries are found on
PATH or in /usr/lib/postgresql/*/bin; when there are none this raises (`.ci/run`
installs them): a run that skips the database tests proves nothing.

    with PostgresServer() as pg:
        pg.url        # postgresql+psycopg://outcomes:...@127.0.0.1:PORT/outcomes
        pg.psql("CREATE TABLE ...")   # as the owner, over the private Unix socket

TCP connections need a password (scram-sha-256), so a test that forgets one fails.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "outcomes"
OWNER_PASSWORD = "owner-secret"
DATABASE = "outcomes"
READER = "outcomes_reader"
READER_PASSWORD = "reader-secret"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries: install them (apt-get install -y postgresql)."""


def _bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if candidates:
        return Path(candidates[-1]).parent
    raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found: "
                              "apt-get install -y postgresql")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="outcomes-pg-"))
        self.data = self.root / "data"
        self._as: list[str] = []
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------

    def _run(self, *args: str, input_text: str | None = None) -> str:
        done = subprocess.run([*self._as, *args], input=input_text, capture_output=True,
                              text=True, timeout=120, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
            shutil.chown(self.root, "postgres")
            self.root.chmod(0o700)
            self._as = ["runuser", "-u", "postgres", "--"]
        pwfile = self.root / "pw"
        pwfile.write_text(OWNER_PASSWORD + "\n")
        if self._as:
            shutil.chown(pwfile, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile),
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale",
                  "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories="
                   f"{self.root} -c fsync=off -c full_page_writes=off -c TimeZone=UTC")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                  "-o", options, "-w", "-t", "60", "start")
        self._started = True
        self.psql(f"CREATE DATABASE {DATABASE}", database="postgres")
        return self

    def stop(self) -> None:
        if self._started:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- use -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The owner's SQLAlchemy URL, password included."""
        return f"postgresql+psycopg://{USER}:{OWNER_PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def psql(self, sql: str, database: str = DATABASE) -> str:
        """Run SQL as the owner with psql (stops at the first error)."""
        return self._run(str(self.bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
                         str(self.root), "-p", str(self.port), "-U", USER, "-d", database,
                         input_text=sql)

    def create_reader(self, *tables: str) -> str:
        """A read-only role with a password (as the docs recommend); its URL, without it."""
        grants = "".join(f"GRANT SELECT ON {t} TO {READER};\n" for t in tables)
        self.psql(f"""
            DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER}') THEN
                CREATE ROLE {READER} LOGIN PASSWORD '{READER_PASSWORD}';
              END IF;
            END $$;
            ALTER ROLE {READER} SET default_transaction_read_only = on;
            GRANT USAGE ON SCHEMA public TO {READER};
            {grants}""")
        return f"postgresql+psycopg://{READER}@127.0.0.1:{self.port}/{DATABASE}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session; import this into a conftest.py to use it."""
    with PostgresServer() as server:
        yield server
