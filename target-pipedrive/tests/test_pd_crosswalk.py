"""The crosswalk on each database it supports (`crosswalk_url`: a SQLite file and a real PostgreSQL server).

The per-record statements run on a raw DBAPI connection with SQL compiled per dialect, so each
dialect must be seen to return the same rows: ids as ints, JSON columns decoded, and nothing
left open when the crosswalk is closed.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest
from pd_helpers import run_admin, run_target, schema
from sqlalchemy import create_engine, text

from target_pipedrive.crosswalk import Crosswalk
from target_pipedrive.errors import TargetError
from target_pipedrive.settings import Settings

BEFORE = {"name": "Old Name", "custom_fields": {"abc": "Zoë ✓", "n": None}, "phones": [{"value": "+61 2"}]}


@pytest.fixture
def crosswalk(crosswalk_url: str) -> Any:
    opened = Crosswalk(crosswalk_url)
    yield opened
    opened.close()


def test_mappings_and_their_history_read_back_alike(crosswalk: Crosswalk) -> None:
    run = crosswalk.start_run("apply")
    assert crosswalk.get("persons", "cliniko:patient:1") is None
    crosswalk.commit_write(run, "persons", "cliniko:patient:1", 41, "created", "h1", None, {"name": "A"})
    crosswalk.commit_write(run, "persons", "cliniko:patient:1", 42, "updated", "h2", BEFORE, {"name": "B"})
    row = crosswalk.get("persons", "cliniko:patient:1")
    assert row is not None
    assert {k: row[k] for k in ("pipedrive_id", "action", "payload_hash", "run_id", "first_run_id")} == {
        "pipedrive_id": 42, "action": "updated", "payload_hash": "h2", "run_id": run, "first_run_id": run}
    first, second = crosswalk.changes([run])
    assert (first["before_image"], first["prev_xwalk"], first["after_image"]) == (None, None, {"name": "A"})
    assert second["before_image"] == BEFORE and second["prev_xwalk"]["pipedrive_id"] == 41
    assert crosswalk.last_after_image("persons", "cliniko:patient:1") == {"name": "B"}
    assert crosswalk.claimed_among("persons", [41, 42, 43]) == {42}
    crosswalk.touch(run, "persons", "cliniko:patient:1", "h3")
    assert crosswalk.get("persons", "cliniko:patient:1")["payload_hash"] == "h3"  # type: ignore[index]
    # rollback puts back the row the change replaced, or removes it
    crosswalk.restore_mapping("persons", "cliniko:patient:1", second["prev_xwalk"])
    assert crosswalk.get("persons", "cliniko:patient:1")["pipedrive_id"] == 41  # type: ignore[index]
    crosswalk.restore_mapping("persons", "cliniko:patient:1", None)
    assert crosswalk.all_mappings() == []
    crosswalk.finish_run(run, "ok", {"persons": {"created": 1}})
    assert [(r["status"], r["summary"]) for r in crosswalk.runs()] == [("ok", {"persons": {"created": 1}})]


def test_an_intent_left_open_keeps_the_first_before_image_and_closes_with_its_commit(crosswalk: Crosswalk) -> None:
    run = crosswalk.start_run("apply")
    _, kept = crosswalk.begin_intent(run, "persons", "k", "update", "h", {"email": "a@x"}, BEFORE, 7)
    assert kept == BEFORE
    # the run died after the first PATCH: the next read already sees the new name, the intent knows the old
    second_id, kept = crosswalk.begin_intent(run, "persons", "k", "update", "h", {}, {"name": "New", "org": 3}, 7)
    assert kept == {**BEFORE, "org": 3}
    [intent] = crosswalk.open_intents()
    assert (intent["id"], intent["pipedrive_id"], intent["lookup"], intent["before_image"]) == (
        second_id, 7, {}, kept)
    crosswalk.commit_write(run, "persons", "k", 7, "updated", "h", kept, {"name": "New"}, second_id)
    assert crosswalk.open_intents() == []
    other, _ = crosswalk.begin_intent(run, "notes", "n", "create", "h", {"marker": "[ref:n]"})
    crosswalk.drop_intent(other)
    assert crosswalk.open_intents() == []


def test_held_records_audit_rollback_steps_values_and_tokens(crosswalk: Crosswalk) -> None:
    run = crosswalk.start_run("apply")
    crosswalk.hold(run, "notes", "n1", {"content": "<p>é</p>"}, "parent_missing", waiting_for="persons|p1")
    crosswalk.hold(run, "notes", "n2", {"content": "two"}, "spooled")
    crosswalk.hold(run, "notes", "n1", {"content": "again"}, "parent_missing", waiting_for="persons|p1")
    assert [(r["source_key"], r["record"]) for r in crosswalk.pending_rows()] == [
        ("n2", {"content": "two"}), ("n1", {"content": "again"})]  # held again: moved to the back
    assert [r["source_key"] for r in crosswalk.pending_rows("persons|p1")] == ["n1"]
    crosswalk.discard_pending("notes", "n2")
    crosswalk.commit_write(run, "notes", "n1", 5, "created", "h", None, {})  # a commit ends its wait
    assert crosswalk.pending_rows() == []

    crosswalk.audit(run, "persons", "p9", "failed", "invalid_email", "the e-mail is not valid", pipedrive_id=None)
    [row] = crosswalk.audit_rows(run)
    assert (row["code"], row["status"], row["pipedrive_id"]) == ("invalid_email", "failed", None)
    crosswalk.mark_rollback(1, run, "refused", "changed since")
    crosswalk.mark_rollback(1, run, "done", "deleted")
    assert crosswalk.rollback_done()[1]["status"] == "done"
    crosswalk.put_value("map:memory", {"lookups": [1, 2], "name": "Zoë"})
    crosswalk.put_value("map:memory", {"lookups": [3]})
    assert crosswalk.get_value("map:memory") == {"lookups": [3]} and crosswalk.get_value("nothing") is None
    crosswalk.save_tokens("2026-01-01", 10)
    crosswalk.save_tokens("2026-01-01", 25)
    assert (crosswalk.tokens_spent("2026-01-01"), crosswalk.tokens_spent("2026-01-02")) == (25, 0)


def test_a_second_crosswalk_on_the_same_database_sees_every_commit(crosswalk_url: str) -> None:
    """Every method commits before it returns: another process (a resumed run, an admin command) sees it."""
    writer, reader = Crosswalk(crosswalk_url), Crosswalk(crosswalk_url)
    try:
        run = writer.start_run("apply")
        intent, _ = writer.begin_intent(run, "persons", "k", "create", "h", {})
        assert [i["id"] for i in reader.open_intents()] == [intent]
        writer.commit_write(run, "persons", "k", 9, "created", "h", None, {"name": "N"}, intent)
        assert reader.get("persons", "k")["pipedrive_id"] == 9  # type: ignore[index]
        assert reader.open_intents() == []
    finally:
        writer.close()
        reader.close()


def test_close_leaves_no_connection_open(postgres_url: str) -> None:
    """On Postgres an unclosed crosswalk holds server connections (and psycopg warns when it is collected)."""
    crosswalk = Crosswalk(postgres_url)
    run = crosswalk.start_run("apply")
    crosswalk.get("persons", "k")
    crosswalk.commit_write(run, "persons", "k", 1, "created", "h", None, {})
    crosswalk.runs()
    database = crosswalk.engine.url.database
    crosswalk.close()
    del crosswalk
    gc.collect()
    probe = create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres")
    with probe.connect() as conn:
        others = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"), {"d": database})
        assert others.scalar() == 0
    probe.dispose()


def _bad_urls(url: str, password: str) -> dict[str, str]:
    base, _, _ = url.rpartition("/")
    return {
        "wrong password": url.replace(f":{password}@", ":not-the-password@"),
        "no such database": f"{base}/no_such_database",
        "nothing listening": f"postgresql+psycopg://postgres:{password}@127.0.0.1:9/crosswalk",
    }


def test_an_unreachable_postgres_crosswalk_is_one_sentence_without_the_password(
        postgres_url: str, postgres_server: Any, tmp_path: Path) -> None:
    cases = _bad_urls(postgres_url, postgres_server.password)
    for case, url in cases.items():
        with pytest.raises(TargetError) as caught:
            Crosswalk(url)
        assert "cannot open the crosswalk database" in str(caught.value), case
        assert postgres_server.password not in str(caught.value), case
    reasons = {"wrong password": "password authentication failed", "no such database": "does not exist",
               "nothing listening": "Connection refused"}
    config = {"api_token": "sandbox-token", "base_url": "http://127.0.0.1:9", "progress_interval_s": 0}
    for case, url in cases.items():
        admin = run_admin({**config, "crosswalk_url": url}, ["runs"], tmp_path)
        assert admin.returncode == 2, (case, admin.stderr)
        [line] = admin.stderr.strip().splitlines()
        assert line.startswith("target-pipedrive-admin: crosswalk_url: cannot open") and reasons[case] in line
        assert postgres_server.password not in admin.stdout + admin.stderr and "Traceback" not in admin.stderr
    record = {"type": "RECORD", "stream": "persons", "record": {"source_key": "cliniko:patient:1", "name": "Pat"}}
    text_in = json.dumps(schema("persons")) + "\n" + json.dumps(record) + "\n"
    target = run_target({**config, "crosswalk_url": cases["wrong password"]}, text_in, tmp_path)
    assert target.returncode == 2 and "Traceback" not in target.stderr
    assert "target-pipedrive: crosswalk_url: cannot open the crosswalk database" in target.stderr
    assert postgres_server.password not in target.stdout + target.stderr and "Pat" not in target.stderr


# -- one database shared with Meltano and other clinics: a schema per crosswalk ------------------------------------
def _crosswalk_url(**config: Any) -> str:
    return Settings.from_config({"api_token": "t", **config}).crosswalk_url


def test_a_postgres_shared_database_wins_and_anything_else_leaves_crosswalk_url_alone() -> None:
    pg = "postgresql+psycopg://migrator:s3cret@db.internal:5432/migration"
    assert _crosswalk_url(shared_database_url=pg, crosswalk_schema="crosswalk_clinic_a") == (
        "postgresql+psycopg://migrator:s3cret@db.internal:5432/migration?options=-c+search_path%3Dcrosswalk_clinic_a")
    assert _crosswalk_url(shared_database_url=pg).endswith("search_path%3Dcrosswalk")  # the default schema
    assert _crosswalk_url(shared_database_url=pg + "?options=-c%20statement_timeout%3D5000").endswith(
        "?options=-c+statement_timeout%3D5000+-c+search_path%3Dcrosswalk")  # the URL's own options are kept
    own = "sqlite:////srv/clinic/crosswalk.sqlite"
    for ignored in ("sqlite:////srv/clinic/.meltano/meltano.db", "", "not a url", "mssql+pymssql://u:p@h/x"):
        assert _crosswalk_url(shared_database_url=ignored, crosswalk_url=own, crosswalk_schema="x") == own
    for bad in ("Clinic-A", "1clinic", "a" * 64, 'x"; DROP SCHEMA public; --'):
        with pytest.raises(ValueError, match=r"crosswalk_schema .* must be a lower-case name"):
            _crosswalk_url(shared_database_url=pg, crosswalk_schema=bad)


def test_two_clinics_in_one_database_with_meltano_never_share_a_crosswalk(postgres_url: str) -> None:
    meltano_like = create_engine(postgres_url)  # Meltano's system database has a `runs` table of its own
    with meltano_like.begin() as conn:
        conn.execute(text("CREATE TABLE public.runs (id serial PRIMARY KEY, job_name text NOT NULL)"))
        conn.execute(text("INSERT INTO public.runs (job_name) VALUES ('sandbox:tap-cliniko-to-target-pipedrive')"))
    clinic_a = Crosswalk(_crosswalk_url(shared_database_url=postgres_url, crosswalk_schema="crosswalk_clinic_a"))
    clinic_b = Crosswalk(_crosswalk_url(shared_database_url=postgres_url, crosswalk_schema="crosswalk_clinic_b"))
    try:
        run_a = clinic_a.start_run("apply")
        clinic_a.commit_write(run_a, "persons", "cliniko:patient:1", 11, "created", "h", None, {})
        clinic_b.start_run("apply")
        assert clinic_b.get("persons", "cliniko:patient:1") is None and len(clinic_b.runs()) == 1
        assert clinic_a.get("persons", "cliniko:patient:1")["pipedrive_id"] == 11  # type: ignore[index]
    finally:
        clinic_a.close()
        clinic_b.close()
    with meltano_like.connect() as conn:
        assert conn.execute(text("SELECT job_name FROM public.runs")).scalars().all() == [
            "sandbox:tap-cliniko-to-target-pipedrive"]
        tables = conn.execute(text("SELECT table_schema, count(*) FROM information_schema.tables "
                                   "WHERE table_schema LIKE 'crosswalk%' GROUP BY 1 ORDER BY 1")).all()
    meltano_like.dispose()
    assert [schema for schema, _ in tables] == ["crosswalk_clinic_a", "crosswalk_clinic_b"]
    assert tables[0][1] == tables[1][1] >= 9


def test_a_role_that_may_not_create_the_schema_is_told_so_in_one_sentence(
        postgres_url: str, postgres_server: Any) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    postgres_server.execute("CREATE ROLE clinic_reader LOGIN PASSWORD 'reader-pw'")
    postgres_server.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC", database)
    postgres_server.execute(f'REVOKE CREATE ON DATABASE "{database}" FROM PUBLIC', database)
    weak = postgres_url.replace(f"postgres:{postgres_server.password}@", "clinic_reader:reader-pw@")
    with pytest.raises(TargetError) as caught:
        Crosswalk(_crosswalk_url(shared_database_url=weak))
    assert str(caught.value) == (f"crosswalk_url: cannot open the crosswalk database postgresql+psycopg://"
                                 f"clinic_reader:***@127.0.0.1:{postgres_server.port}/{database} "
                                 f"(permission denied for database {database}).")


def test_recent_rows_never_answer_with_a_row_older_than_the_database(crosswalk: Crosswalk) -> None:
    """The rows kept in memory follow every change: a write, a rollback's restore, a hash touch; and a row
    read while another changed is not kept (it may be older than the change)."""
    run = crosswalk.start_run("migration")
    crosswalk.commit_write(run, "persons", "cliniko:patient:1", 11, "created", "h1", None, {"name": "A"})
    assert crosswalk.get("persons", "cliniko:patient:1")["pipedrive_id"] == 11  # kept from the write
    first = crosswalk.get("persons", "cliniko:patient:1")
    crosswalk.commit_write(run, "persons", "cliniko:patient:1", 12, "updated", "h2", {"name": "A"}, {"name": "B"})
    assert (crosswalk.get("persons", "cliniko:patient:1")["pipedrive_id"], first["pipedrive_id"]) == (12, 11)
    crosswalk.touch(run, "persons", "cliniko:patient:1", "h3")
    assert crosswalk.get("persons", "cliniko:patient:1")["payload_hash"] == "h3"
    crosswalk.restore_mapping("persons", "cliniko:patient:1", None)
    assert crosswalk.get("persons", "cliniko:patient:1") is None

    stale_read_at = crosswalk.recent.generation
    crosswalk.commit_write(run, "persons", "cliniko:patient:2", 21, "created", "h", None, None)
    crosswalk.recent.put(("persons", "cliniko:patient:3"), {"pipedrive_id": 99}, stale_read_at)
    assert crosswalk.recent.get(("persons", "cliniko:patient:3")) is None  # read before a change: not kept


def test_a_held_record_written_later_is_no_longer_pending_though_the_run_began_with_none(
        crosswalk: Crosswalk) -> None:
    run = crosswalk.start_run("migration")
    crosswalk.commit_write(run, "persons", "cliniko:patient:1", 11, "created", "h1", None, None)  # none parked
    crosswalk.hold(run, "notes", "cliniko:treatment_note:5", {"source_key": "cliniko:treatment_note:5"}, "held")
    assert [r["source_key"] for r in crosswalk.pending_rows()] == ["cliniko:treatment_note:5"]
    crosswalk.commit_write(run, "notes", "cliniko:treatment_note:5", 7, "created", "h", None, None)
    assert crosswalk.pending_rows() == []
