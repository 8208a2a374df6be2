"""Warehouse reuse on a real database: `meltano run tap-cliniko target-postgres` (MeltanoLabs' loader).

Into a PostgreSQL server started for the test. Proven by reading every stream's ids back and
comparing them with the sandbox; then a change in Cliniko and a second, incremental run: the
changed row is updated in place, the new one added, and no id appears twice (the tap re-reads
rows stamped at its bookmark, so the loader must upsert on the key, not append).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from test_meltano_duckdb import MELTANO, ROOT, STREAMS, meltano_env

ALL_STREAMS = [*STREAMS, "settings"]


def load(env: dict[str, str], sandbox: Any) -> None:
    proc = subprocess.run([str(MELTANO), "--environment", "sandbox", "run", "tap-cliniko", "target-postgres"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sandbox.api_key not in proc.stdout + proc.stderr
    password = env["TARGET_POSTGRES_SQLALCHEMY_URL"].rsplit("@", 1)[0].rsplit(":", 1)[1]
    assert password not in proc.stdout + proc.stderr


def ids(conn: Any, stream: str) -> list[str]:
    return [str(r[0]) for r in conn.execute(text(f'SELECT id FROM cliniko."{stream}"'))]


def test_meltano_run_loads_every_stream_into_postgres_and_a_delta_adds_no_duplicate(
        tmp_path: Path, cliniko_sandbox: Any, postgres_url: str) -> None:
    if not (ROOT / ".meltano" / "loaders" / "target-postgres").exists():
        pytest.fail("meltano plugins are not installed: run `make install` (it runs `meltano install`)")
    env = {**meltano_env(tmp_path, cliniko_sandbox), "TARGET_POSTGRES_SQLALCHEMY_URL": postgres_url}
    load(env, cliniko_sandbox)

    def expected(stream: str) -> set[str]:
        if stream == "settings":
            return {"settings"}
        return {r["id"] for r in cliniko_sandbox.admin("GET", f"/_admin/records/{stream}")[stream]}

    database = create_engine(postgres_url)
    try:
        with database.connect() as conn:
            tables = {r[0] for r in conn.execute(text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'cliniko'"))}
            assert set(ALL_STREAMS) <= tables
            first = {stream: ids(conn, stream) for stream in ALL_STREAMS}
        for stream in ALL_STREAMS:
            assert set(first[stream]) == expected(stream), stream

        # a delta: one patient edited, one added, one appointment cancelled
        patient = next(p for p in cliniko_sandbox.admin("GET", "/_admin/records/patients")["patients"]
                       if not p.get("deleted_at"))
        cliniko_sandbox.admin("POST", "/_admin/mutate", {"resource": "patients", "id": patient["id"],
                                                         "set": {"first_name": "Warehoused"}})
        added = cliniko_sandbox.admin("POST", "/_admin/records/patients", {"first_name": "New", "last_name": "Row"})
        appointment = next(a for a in cliniko_sandbox.admin("GET", "/_admin/records/individual_appointments")[
            "individual_appointments"] if not a.get("cancelled_at") and not a.get("deleted_at"))
        cliniko_sandbox.admin("POST", "/_admin/cancel", {"resource": "individual_appointments",
                                                         "id": appointment["id"]})
        load(env, cliniko_sandbox)
        with database.connect() as conn:
            second = {stream: ids(conn, stream) for stream in ALL_STREAMS}
            name = conn.execute(text("SELECT first_name FROM cliniko.patients WHERE id = :id"),
                                {"id": patient["id"]}).scalar()
            cancelled = conn.execute(text("SELECT cancelled_at FROM cliniko.individual_appointments WHERE id = :id"),
                                     {"id": appointment["id"]}).scalar()
    finally:
        database.dispose()
    for stream in ALL_STREAMS:
        assert len(second[stream]) == len(set(second[stream])), f"{stream}: a row was loaded twice"
        assert set(second[stream]) == expected(stream), stream
    assert set(second["patients"]) - set(first["patients"]) == {str(added["id"])}
    assert name == "Warehoused" and cancelled is not None
    shutil.rmtree(tmp_path / "attachments", ignore_errors=True)
