"""The migration with Meltano's system database and the crosswalk in PostgreSQL, moved by one variable.

`MELTANO_DATABASE_URI=postgresql+psycopg://...` is the only switch (README "Running at scale"):
Meltano keeps its state and run records there, and meltano.yml hands the same database to the
target (`shared_database_url`), whose crosswalk goes into its own schema. The crosswalk_url the
tests set (a SQLite file) must then stay unused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from test_migration import ROOT, Account, Clinic, check_contents, meltano, meltano_env, migrate, writes

STATE_ID = "sandbox:tap-cliniko-to-target-pipedrive"


def no_resource_warning(proc: Any) -> None:
    assert "ResourceWarning" not in proc.stdout + proc.stderr, proc.stderr[-3000:]


def test_one_variable_moves_meltano_state_and_the_crosswalk_to_postgres(
        tmp_path: Path, cliniko_sandbox: Any, pipedrive_sandbox: Any, postgres_url: str) -> None:
    assert (ROOT / ".meltano" / "loaders" / "target-pipedrive").exists(), "run `make install` first"
    cliniko, pipedrive = cliniko_sandbox, pipedrive_sandbox
    clinic = Clinic(cliniko)
    for user in clinic.users.values():
        if user.get("email"):
            pipedrive.admin("POST", "/_admin/users", {"name": f"{user['first_name']} {user['last_name']}",
                                                      "email": user["email"]})
    env = {**meltano_env(tmp_path, cliniko, pipedrive), "MELTANO_DATABASE_URI": postgres_url,
           "PYTHONWARNINGS": "always::ResourceWarning"}
    unused = tmp_path / "crosswalk.sqlite"
    assert env["TARGET_PIPEDRIVE_CROSSWALK_URL"] == f"sqlite:///{unused}"

    confirmed = meltano(env, "invoke", "target-pipedrive:confirm-map")
    assert confirmed.returncode == 0, confirmed.stderr[-2000:]
    first = migrate(env, cliniko, pipedrive)
    assert first.returncode == 0, first.stderr[-3000:]
    no_resource_warning(first)
    check_contents(clinic, Account(pipedrive))
    assert not unused.exists()

    database = create_engine(postgres_url)
    try:
        with database.connect() as conn:
            schemas = dict(conn.execute(text(
                "SELECT table_name, table_schema FROM information_schema.tables "
                "WHERE table_name IN ('xwalk', 'intents', 'state', 'alembic_version')")).all())
            assert schemas == {"xwalk": "crosswalk", "intents": "crosswalk", "state": "public",
                               "alembic_version": "public"}
            states = [row[0] for row in conn.execute(text("SELECT state_id FROM public.state"))]
            assert states == [STATE_ID]
            migrated = conn.execute(text("SELECT count(*) FROM crosswalk.xwalk")).scalar()
            assert migrated and migrated > 50
            assert conn.execute(text("SELECT count(*) FROM crosswalk.intents")).scalar() == 0
            assert conn.execute(text("SELECT count(*) FROM public.runs WHERE job_name = :s"), {"s": STATE_ID}).scalar()
    finally:
        database.dispose()
    listed = meltano(env, "state", "list")
    assert listed.returncode == 0 and STATE_ID in listed.stdout, listed.stderr[-2000:]

    pipedrive.admin("POST", "/_admin/usage/reset")
    second = migrate(env, cliniko, pipedrive)
    assert second.returncode == 0, second.stderr[-3000:]
    assert writes(pipedrive) == {}  # the bookmarks and the crosswalk were found again in PostgreSQL

    verified = meltano(env, "invoke", "target-pipedrive:verify", "--out-dir", str(tmp_path / "verify"))
    assert verified.returncode == 0, verified.stderr[-2000:]
    assert json.loads((tmp_path / "verify" / "diff.json").read_text())["summary"]["differences"] == 0
    no_resource_warning(verified)
    rolled_back = meltano(env, "invoke", "target-pipedrive:rollback", "--all", "--yes")
    assert rolled_back.returncode == 0, rolled_back.stdout[-2000:] + rolled_back.stderr[-2000:]
    no_resource_warning(rolled_back)
    assert Account(pipedrive).persons == {}
    assert not unused.exists()
