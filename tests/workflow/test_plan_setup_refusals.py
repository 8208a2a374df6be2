"""`plan` and `setup` refuse, with one sentence and exit 2, whenever going on would mislead or write blind.

The commands run as the real console script against the Pipedrive sandbox; the crosswalk is
prepared with the state each case is about (no plan, a plan whose extractor failed, a plan of
another map, an unconfirmed map). Nothing may reach Pipedrive in any of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from target_pipedrive.crosswalk import Crosswalk
from target_pipedrive.workflow.confirm import confirm
from target_pipedrive.workflow.planreport import details_key

ADMIN = Path(sys.executable).with_name("target-pipedrive-admin")
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def admin(tmp_path: Path, pipedrive: Any, *args: str, map_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_PIPEDRIVE_")}
    env.update({"TARGET_PIPEDRIVE_API_TOKEN": pipedrive.api_token, "TARGET_PIPEDRIVE_BASE_URL": pipedrive.base_url,
                "TARGET_PIPEDRIVE_CROSSWALK_URL": f"sqlite:///{tmp_path / 'crosswalk.sqlite'}",
                "TARGET_PIPEDRIVE_MAP_OUTPUT_DIR": str(tmp_path / "map-output")})
    if map_path is not None:
        env["TARGET_PIPEDRIVE_MAP"] = str(map_path)
    return subprocess.run([str(ADMIN), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False)


def plan_run(tmp_path: Path, sources: dict[str, dict[str, int]], digest: str) -> str:
    crosswalk = Crosswalk(f"sqlite:///{tmp_path / 'crosswalk.sqlite'}")
    run_id = crosswalk.start_run("plan")
    crosswalk.put_value(details_key(run_id), {"map_digest": digest, "definitions": [], "practitioners": []})
    crosswalk.finish_run(run_id, "ok", {"sources": sources, "planned_writes": 0, "planned_write_tokens": 0})
    crosswalk.close()
    return run_id


def refused(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def no_writes(pipedrive: Any) -> None:
    usage = pipedrive.admin("GET", "/_admin/usage")["by_operation"]
    assert {op for op, v in usage.items() if op.split(" ", 1)[0] in WRITES and v["count"]} == set()


def test_plan_report_without_a_plan_run_says_how_to_make_one(tmp_path: Path, pipedrive_sandbox: Any) -> None:
    refused(admin(tmp_path, pipedrive_sandbox, "plan", "--out-dir", str(tmp_path / "plan")),
            "no plan run", "target-pipedrive--plan")
    assert not (tmp_path / "plan").exists()


def test_plan_report_of_a_plan_that_received_nothing_is_refused(tmp_path: Path, pipedrive_sandbox: Any) -> None:
    run_id = plan_run(tmp_path, {}, "any")  # the extractor failed: the target saw no Cliniko record
    refused(admin(tmp_path, pipedrive_sandbox, "plan", "--out-dir", str(tmp_path / "plan")), run_id,
            "received no Cliniko records")
    assert not (tmp_path / "plan").exists()


def test_setup_refuses_an_unconfirmed_or_missing_map(tmp_path: Path, pipedrive_sandbox: Any) -> None:
    plan_run(tmp_path, {"patients": {"migrated": 1}}, "any")
    refused(admin(tmp_path, pipedrive_sandbox, "setup"), "not confirmed", "confirm-map")  # the packaged map
    refused(admin(tmp_path, pipedrive_sandbox, "setup", map_path=tmp_path / "missing.yaml"), "does not exist")
    no_writes(pipedrive_sandbox)


def test_setup_refuses_without_a_plan_or_with_a_plan_of_another_map(tmp_path: Path, pipedrive_sandbox: Any) -> None:
    confirmed = tmp_path / "confirmed.yaml"
    digest = confirm(None, str(confirmed), str(tmp_path / "map-output"))
    refused(admin(tmp_path, pipedrive_sandbox, "setup", map_path=confirmed), "no plan run")
    run_id = plan_run(tmp_path, {"patients": {"migrated": 1}}, "a-different-map")
    refused(admin(tmp_path, pipedrive_sandbox, "setup", map_path=confirmed), run_id, "another map")
    # an edited rule un-confirms the map: refused again, even with a plan of the edited map's old hash
    plan_run(tmp_path, {"patients": {"migrated": 1}}, digest)
    confirmed.write_text(confirmed.read_text().replace("label: Date of birth", "label: Birth date"))
    refused(admin(tmp_path, pipedrive_sandbox, "setup", map_path=confirmed), "changed since it was confirmed")
    no_writes(pipedrive_sandbox)
