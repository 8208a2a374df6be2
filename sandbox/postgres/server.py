"""A throwaway PostgreSQL server on loopback: Debian's binaries, a temporary data directory, a free port.

Tests need a real server (its locking, transactions and types are what production meets), and CI
runs as root, which PostgreSQL refuses: as root the server runs as the `postgres` system user
Debian's package creates, on a directory that user owns. Durability is switched off (fsync,
synchronous commit): the tests kill clients, never this server.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

SERVER_USER = "postgres"  # the system user of Debian's package, and the superuser initdb creates
BIN_GLOB = "/usr/lib/postgresql/*/bin"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries, or the server did not start."""


def bin_dir() -> Path:
    """The newest installed server's bin directory (Debian installs one per major version)."""
    found = sorted(glob.glob(BIN_GLOB), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                   else 0)
    found = [p for p in found if os.path.exists(os.path.join(p, "initdb"))]
    if not found:
        raise PostgresUnavailable("PostgreSQL is not installed: `make test` installs Debian's postgresql package "
                                  "(as root), or run `apt-get install postgresql`.")
    return Path(found[-1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One server; `start()` then `url(database)`, `create_database(name)`, and `stop()` (removes its files)."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="pg-test-"))
        self.data = self.root / "data"
        self.password = secrets.token_hex(12)
        self.port = 0
        self.running = False

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:  # PostgreSQL will not run as root
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                              cwd=self.root, env={**os.environ, "LC_ALL": "C.UTF-8"})

    def start(self) -> PostgresServer:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.as_root:
            shutil.chown(self.root, SERVER_USER)
            shutil.chown(pwfile, SERVER_USER)
        done = self._run("initdb", "--pgdata", str(self.data), "--username", SERVER_USER, "--pwfile", str(pwfile),
                         "--auth", "scram-sha-256", "--encoding", "UTF8", "--no-sync")
        pwfile.unlink()
        if done.returncode:
            raise PostgresUnavailable(f"initdb failed: {done.stderr.strip()[-500:]}")
        for _attempt in range(3):  # the free port may be taken between choosing and binding
            self.port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            started = self._run("pg_ctl", "start", "--wait", "--timeout", "60", "--pgdata", str(self.data),
                                "--log", str(self.root / "server.log"), "-o", options)
            if started.returncode == 0:
                self.running = True
                return self
        raise PostgresUnavailable(f"PostgreSQL did not start: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")[-800:]
        except OSError:
            return "(no server log)"

    def url(self, database: str = "postgres", driver: str = "psycopg") -> str:
        """A SQLAlchemy URL (`driver=None`: a plain libpq one)."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{SERVER_USER}:{quote(self.password)}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """One statement outside a transaction (CREATE DATABASE needs that)."""
        import psycopg

        with psycopg.connect(self.url(database, driver=""), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.running:
            self._run("pg_ctl", "stop", "--wait", "--mode", "immediate", "--pgdata", str(self.data))
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)
