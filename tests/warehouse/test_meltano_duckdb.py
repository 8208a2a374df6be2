"""Warehouse reuse: `meltano run tap-cliniko target-duckdb` loads every stream into DuckDB.

Proven by reading the rows back and comparing them with the sandbox, not by the exit code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
MELTANO = Path(sys.executable).with_name("meltano")
sys.path.insert(0, str(ROOT / "tests" / "e2e"))  # test_migration: the e2e contract
from test_migration import private_sys_dir  # noqa: E402

STREAMS = [
    "patients", "practitioners", "users", "businesses", "appointment_types", "individual_appointments",
    "group_appointments", "attendees", "treatment_notes", "invoices", "invoice_items", "products",
    "billable_items", "patient_attachments", "communications", "contacts", "medical_alerts", "patient_cases",
    "appointment_type_billable_items",
]


def meltano_env(tmp_path: Path, sandbox: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_CLINIKO_", "TARGET_"))}
    env.update({
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "MELTANO_SYS_DIR_ROOT": str(private_sys_dir(tmp_path)),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_CLINIKO_BASE_URL": sandbox.base_url,
        "TAP_CLINIKO_API_KEY": sandbox.api_key,
        "TAP_CLINIKO_MAX_REQUESTS_PER_MINUTE": "0",
        "TAP_CLINIKO_ATTACHMENTS_DIR": str(tmp_path / "attachments"),
        "TARGET_DUCKDB_FILEPATH": str(tmp_path / "clinic.duckdb"),
    })
    return env


def test_meltano_run_loads_every_stream_into_duckdb(tmp_path: Path, cliniko_sandbox: Any) -> None:
    if not (ROOT / ".meltano" / "extractors" / "tap-cliniko").exists():
        pytest.fail("meltano plugins are not installed: run `make install` (it runs `meltano install`)")
    env = meltano_env(tmp_path, cliniko_sandbox)
    proc = subprocess.run([str(MELTANO), "--environment", "sandbox", "run", "tap-cliniko", "target-duckdb"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert cliniko_sandbox.api_key not in proc.stdout + proc.stderr

    with duckdb.connect(str(tmp_path / "clinic.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'cliniko'").fetchall()}
        assert set(STREAMS) <= tables
        for stream in STREAMS:
            expected = {r["id"] for r in cliniko_sandbox.admin("GET", f"/_admin/records/{stream}")[stream]}
            got = {str(r[0]) for r in con.execute(f'SELECT id FROM cliniko."{stream}"').fetchall()}
            assert got == expected, stream
        # relation columns and money arrive as values, not only row counts
        patient_ids = {r[0] for r in con.execute(
            "SELECT DISTINCT patient_id FROM cliniko.individual_appointments").fetchall()}
        assert patient_ids and patient_ids <= {str(r[0]) for r in con.execute(
            "SELECT id FROM cliniko.patients").fetchall()}
        totals = con.execute("SELECT total_amount FROM cliniko.invoices WHERE total_amount IS NOT NULL").fetchall()
        assert totals and all(isinstance(t[0], str) for t in totals)
        # the list a practitioner came from (the tap's partition) reaches the warehouse
        practitioners = cliniko_sandbox.admin("GET", "/_admin/records/practitioners")["practitioners"]
        statuses = dict(con.execute("SELECT id, status FROM cliniko.practitioners").fetchall())
        assert {str(k): v for k, v in statuses.items()} == {
            p["id"]: "active" if p["active"] else "inactive" for p in practitioners}
    shutil.rmtree(tmp_path / "attachments", ignore_errors=True)
