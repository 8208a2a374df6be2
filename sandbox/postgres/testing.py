"""pytest plugin: one real PostgreSQL server for the whole run, and crosswalk URLs on both databases.

Fixtures
    postgres_server   session scope; a PostgresServer started on loopback in a temporary directory on first
                      use and stopped (its files removed) at the end of the run.
    postgres_url      a fresh empty database of that server (SQLAlchemy URL, driver psycopg).
    crosswalk_url     parametrized `sqlite` / `postgres`: a test that takes it runs once on each, with a fresh
                      SQLite file in tmp_path or a fresh Postgres database.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.postgres.server import PostgresServer, PostgresUnavailable

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as exc:
        server.stop()
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


def _database_name(request: pytest.FixtureRequest) -> str:
    """Readable in the server's log, unique within the run, within PostgreSQL's 63 characters."""
    stem = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    return f"t{next(_numbers)}_{stem}"


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    return postgres_server.create_database(_database_name(request))


@pytest.fixture(params=["sqlite", "postgres"])
def crosswalk_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crosswalk.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(_database_name(request))
