"""A migration started on one worker and finished on another, through the PostgreSQL they share.

Worker A and worker B are separate checkouts of the project (tests/scale/workers.py): their own
`.meltano/` and `output/` (attachments, the map's files), one database for Meltano's state and
run records and the crosswalk. A's migration is stopped by progress (never by time) while it
uploads attachments, A's disk is then thrown away, and B finishes the job with the operator's
re-run: Pipedrive holds exactly the clinic, nothing twice, and the audit reconciles. B's tap reads
again what the bookmarks had not passed and stages those attachments itself.

- SIGKILL (a lost machine): A's run record still says "running" in the shared system database,
  so B's plain run is refused with Meltano's sentence naming `--force`, and writes nothing; with
  `--force` it finishes.
- SIGTERM (an orchestrator stopping A): B's plain run finishes. B was deployed without the
  reviewed map at first: refused with the target's sentence, nothing written.
- The daily token budget (exit 75): the records A could not send are saved in the crosswalk,
  each file with the `local_path` it was staged at, and the bookmarks move past them. With the
  staging folders (`attachments_dir`, `map_output_dir`) on storage both workers mount at one
  path, B sends them and the migration is exact; with each worker's own folders, every saved
  file fails on B as `file_missing` (loud, in the audit, never duplicated or silently lost).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import (
    PIPELINE,
    PIPELINE_AFTER_CRASH,
    Point,
    assert_migrated_exactly,
    attempt,
    audit,
    pipeline_env,
    served_sandboxes,
    stop_at,
    usage,
)
from sqlalchemy import create_engine, text
from workers import checkout, confirmed_map, deploy_map, lose, output, reviewed_map, worker_env

STOPS = {  # signal -> (where A is stopped, who receives it)
    "SIGKILL": (signal.SIGKILL, Point("attachments", "POST /v1/files", 9), "group"),
    "SIGTERM": (signal.SIGTERM, Point("attachments", "POST /v1/files", 14), "meltano"),
}


def writes(pipedrive: Any) -> int:
    return sum(n for op, n in usage(pipedrive).items() if not op.startswith("GET "))


def staged_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]


@pytest.mark.parametrize("name", list(STOPS))
def test_migration_stopped_on_one_worker_is_finished_on_another(tmp_path: Path, postgres_url: str,
                                                                name: str) -> None:
    signum, point, whom = STOPS[name]
    cliniko, pipedrive = served_sandboxes(tmp_path)
    try:
        common = {**pipeline_env(tmp_path, cliniko, pipedrive), "MELTANO_DATABASE_URI": postgres_url}
        a, b = checkout(tmp_path / "worker-a"), checkout(tmp_path / "worker-b")
        on_a, on_b = worker_env(common, a), worker_env(common, b)
        reviewed = reviewed_map(tmp_path)
        deploy_map(reviewed, a)
        log = tmp_path / "pipeline.log"
        stopped = stop_at(on_a, PIPELINE, log, point, signum, whom, cliniko, pipedrive)
        assert stopped.returncode != 0
        assert staged_files(output(a) / "attachments"), "A stopped before it had staged an attachment"
        lose(a)

        before = writes(pipedrive)
        if signum == signal.SIGKILL:
            deploy_map(reviewed, b)
            refused = attempt(on_b, PIPELINE, log)
            assert refused.returncode == 1 and "already running" in refused.output and "'--force'" in refused.output
            rerun = PIPELINE_AFTER_CRASH
        else:
            refused = attempt(on_b, PIPELINE, log)
            assert refused.returncode != 0
            assert f"map file {confirmed_map(b)} does not exist" in refused.output, refused.stderr_tail
            deploy_map(reviewed, b)
            rerun = PIPELINE
        assert writes(pipedrive) == before, "a refused run wrote to Pipedrive"

        finished = attempt(on_b, rerun, log)
        assert finished.returncode == 0, finished.stderr_tail
        assert staged_files(output(b) / "attachments"), "B staged the attachments A had not sent"
        document = assert_migrated_exactly(cliniko, pipedrive, on_b, tmp_path / "report")
        assert not (output(b) / "crosswalk.sqlite").exists()  # the crosswalk is the shared one
        print(f"{name} on A at {point}; B finished: {document['reconciliation']['line']}")
    finally:
        cliniko.stop()
        pipedrive.stop()


def spooled_files(url: str) -> dict[str, str]:
    """source key -> local_path of every file record the crosswalk keeps for the next run to send."""
    database = create_engine(url)
    try:
        with database.connect() as conn:
            rows = conn.execute(text("SELECT source_key, record FROM crosswalk.pending WHERE stream = 'files'")).all()
    finally:
        database.dispose()
    return {key: json.loads(record)["local_path"] for key, record in rows}


@pytest.mark.parametrize("staging", ["shared", "own"])
def test_budget_stop_on_one_worker_is_finished_on_another(tmp_path: Path, postgres_url: str, staging: str) -> None:
    cliniko, pipedrive = served_sandboxes(tmp_path)
    try:
        common = {**pipeline_env(tmp_path, cliniko, pipedrive), "MELTANO_DATABASE_URI": postgres_url}
        a, b = checkout(tmp_path / "worker-a"), checkout(tmp_path / "worker-b")
        volume = tmp_path / "volume"  # mounted at the same path on both
        staged = {"TAP_CLINIKO_ATTACHMENTS_DIR": str(volume / "attachments"),
                  "TARGET_PIPEDRIVE_MAP_OUTPUT_DIR": str(volume / "map")} if staging == "shared" else {}
        # A's cap is spent part-way through the activities; B runs on a day with budget left
        on_a = worker_env(common, a, TARGET_PIPEDRIVE_DAILY_TOKEN_BUDGET="2500", **staged)
        on_b = worker_env(common, b, TARGET_PIPEDRIVE_DAILY_TOKEN_BUDGET="10000000", **staged)
        reviewed = reviewed_map(tmp_path)
        deploy_map(reviewed, a)
        deploy_map(reviewed, b)
        log = tmp_path / "pipeline.log"
        first = attempt(on_a, PIPELINE, log)
        assert first.returncode == 1 and "STOPPED EARLY: the configured daily_token_budget" in first.output, \
            first.stderr_tail
        spooled = spooled_files(postgres_url)
        assert len(spooled) > 40  # attachments and communications CSVs, each where A staged it
        assert all(Path(p).is_relative_to(volume if staged else output(a)) for p in spooled.values()), spooled
        lose(a)

        finished = attempt(on_b, PIPELINE, log)
        if staging == "shared":
            assert finished.returncode == 0, finished.stderr_tail
            assert_migrated_exactly(cliniko, pipedrive, on_b, tmp_path / "report")
            return
        # not shared: each saved file fails on B, and nothing else does; an attachment B's tap read again
        # (stamped at its bookmark's second) B staged itself
        failed = {r["source_key"]: r["error_code"] for r in audit(on_b, tmp_path / "report")["records"]
                  if r["status"] == "failed"}
        attachments = cliniko.admin("GET", "/_admin/records/patient_attachments")["patient_attachments"]
        last = max(r["updated_at"] for r in attachments)
        read_again = {f"cliniko:patient_attachment:{r['id']}" for r in attachments if r["updated_at"] == last}
        assert failed == dict.fromkeys(set(spooled) - read_again, "file_missing")
        assert finished.returncode == 1 and f"FAILED {len(failed)} record(s): file_missing {len(failed)}" in \
            finished.output, finished.stderr_tail
    finally:
        cliniko.stop()
        pipedrive.stop()
