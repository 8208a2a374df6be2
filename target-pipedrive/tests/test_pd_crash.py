"""SIGKILL at any instant, then re-run: no duplicate and nothing missing in Pipedrive.

The named crash points (TARGET_PIPEDRIVE_CRASH_AT) hit the exact windows the write-ahead
protocol exists for — above all `after_response`, where Pipedrive has the object and the
crosswalk does not. The timed kills land wherever the process happens to be.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pd_helpers import (
    assert_exact_clinic,
    base_config,
    clinic,
    file_record,
    messages,
    objects,
    run_admin,
    run_target,
    snapshot,
    to_text,
)

CHAIN = [  # in data order, so each run dies further on: every stream in the critical window, and the windows
    # either side of it (the intent committed but the request not sent; everything committed)
    "after_response@custom_fields:3", "after_response@activity_types:1", "after_response@persons:2",
    "after_response@products:1", "before_request@activities:2", "after_response@activities:3",
    "after_commit@notes:1", "after_response@notes:2", "after_response@files:1",
]


def test_killed_at_every_write_window_then_rerun_leaves_each_record_exactly_once(
        pipedrive_sandbox: Any, pipedrive_spec_validator: Any, tmp_path: Path, crosswalk_url: str) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url)
    data = clinic(tmp_path / "files")
    msgs = messages(data, state_every=2)
    for point in CHAIN:
        run = run_target(cfg, msgs, tmp_path, env={"TARGET_PIPEDRIVE_CRASH_AT": point})
        assert run.returncode == -signal.SIGKILL, f"{point}: {run.stderr[-2000:]}"
    final = run_target(cfg, msgs, tmp_path)
    assert final.returncode == 0, final.stderr[-3000:]
    assert_exact_clinic(sb, data)
    # the file uploaded just before the kill is adopted, not uploaded again (with writes in flight, others
    # may have been open too)
    assert re.search(r"Recovered \d+ unconfirmed write\(s\) of an interrupted run: .*adopted \d", final.stderr)
    report = run_admin(cfg, ["report", "--out-dir", str(tmp_path / "r")], tmp_path)
    document = json.loads((tmp_path / "r" / "audit.json").read_text())
    assert report.returncode == 0 and set(document["counts"]) == {"migrated"}
    pipedrive_spec_validator.assert_clean()


def test_recovery_adopts_the_object_created_just_before_the_kill(pipedrive_sandbox: Any, tmp_path: Path,
                                                                 crosswalk_url: str) -> None:
    sb = pipedrive_sandbox
    # one write at a time: exactly one in the window
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url, max_writes_in_flight=1)
    full = clinic(tmp_path / "files", n_persons=3)
    data = {"custom_fields": full["custom_fields"], "persons": full["persons"]}
    killed = run_target(cfg, messages(data), tmp_path, env={"TARGET_PIPEDRIVE_CRASH_AT": "after_response@persons:2"})
    assert killed.returncode == -signal.SIGKILL
    assert len(objects(sb, "person")) == 2  # the second person exists in Pipedrive but not in the crosswalk
    rerun = run_target(cfg, messages(data), tmp_path)
    assert rerun.returncode == 0
    assert "Recovered 1 unconfirmed write(s) of an interrupted run: adopted 1" in rerun.stderr
    assert len(objects(sb, "person")) == 3


def test_an_empty_file_uploaded_just_before_the_kill_is_adopted(pipedrive_sandbox: Any, tmp_path: Path,
                                                                crosswalk_url: str) -> None:
    """Its size, 0, is a size like any other: the marker that finds it again is its name and size."""
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url, max_writes_in_flight=1)
    data = clinic(tmp_path / "files", n_persons=1, n_files=0)
    data["files"] = [file_record(1, tmp_path / "files", content=b"")]
    killed = run_target(cfg, messages(data), tmp_path, env={"TARGET_PIPEDRIVE_CRASH_AT": "after_response@files:1"})
    assert killed.returncode == -signal.SIGKILL
    assert [f["file_size"] for f in objects(sb, "file")] == [0]  # in Pipedrive, not in the crosswalk
    rerun = run_target(cfg, messages(data), tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "Recovered 1 unconfirmed write(s) of an interrupted run: adopted 1" in rerun.stderr
    assert len(objects(sb, "file")) == 1
    assert_exact_clinic(sb, data)


def test_kill_during_an_update_keeps_the_true_before_image(pipedrive_sandbox: Any, tmp_path: Path,
                                                           crosswalk_url: str) -> None:
    sb = pipedrive_sandbox
    # one write at a time: exactly one in the window
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url, max_writes_in_flight=1)
    prior = snapshot(sb)
    data = clinic(tmp_path / "files", n_persons=2, n_files=1)
    assert run_target(cfg, messages(data), tmp_path).returncode == 0
    data["persons"][0]["name"] = "Renamed Once"
    data["persons"][1]["custom_fields"]["Invoice history"] = "changed"
    killed = run_target(cfg, messages(data), tmp_path, env={"TARGET_PIPEDRIVE_CRASH_AT": "after_response@persons:1"})
    assert killed.returncode == -signal.SIGKILL
    rerun = run_target(cfg, messages(data), tmp_path)
    assert rerun.returncode == 0 and "confirmed 1" in rerun.stderr
    assert {p["name"] for p in objects(sb, "person")} == {"Renamed Once", "Patient 2 Example"}
    # the update is recorded with the before-image taken before the first PATCH: rollback is exact
    assert run_admin(cfg, ["rollback", "--all", "--yes"], tmp_path).returncode == 0
    assert snapshot(sb) == prior


def _kill_after(sb: Any, cfg_path: Path, text: str, cwd: Path, requests_before_kill: int) -> int:
    start = sb.admin("GET", "requests")["count"]
    proc = subprocess.Popen([sys.executable, "-m", "target_pipedrive", "--config", str(cfg_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd,
                            text=True)
    assert proc.stdin is not None
    proc.stdin.write(text)
    proc.stdin.close()
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if sb.admin("GET", "requests")["count"] - start >= requests_before_kill:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    return proc.wait(timeout=30)


def test_kills_at_arbitrary_moments_then_rerun_converge(pipedrive_sandbox: Any, tmp_path: Path,
                                                        crosswalk_url: str) -> None:
    sb = pipedrive_sandbox
    sb.admin("POST", "faults", {"latency_ms": 15})  # stretch each request so the kills land mid-write
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url)
    cfg_path = tmp_path / "config.json"
    cfg_path.write_text(json.dumps(cfg))
    data = clinic(tmp_path / "files")
    text = to_text(messages(data, state_every=3))
    codes = [_kill_after(sb, cfg_path, text, tmp_path, n) for n in (5, 11, 8)]
    assert codes.count(-signal.SIGKILL) >= 2  # (a run may finish before its kill point)
    sb.admin("POST", "faults", {"latency_ms": 0})
    final = run_target(cfg, text, tmp_path)
    assert final.returncode == 0, final.stderr[-3000:]
    assert_exact_clinic(sb, data)


def test_ctrl_c_at_the_end_of_input_while_pipedrive_hangs_stops_within_the_grace(
        pipedrive_sandbox: Any, tmp_path: Path, crosswalk_url: str) -> None:
    """The last writes hang in Pipedrive (held by the sandbox) while the target ends its input: a Ctrl-C
    must stop it after the grace for writes in flight, not when Pipedrive finally answers them."""
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url, max_writes_in_flight=8)
    cfg_path = tmp_path / "config.json"
    cfg_path.write_text(json.dumps(cfg))
    data = clinic(tmp_path / "files")
    text = to_text(messages(data)[:-1])  # no STATE at the end: the input ends while the files are in flight
    sb.admin("POST", "hold", {"operation": "POST /v1/files", "after": 0})
    log = tmp_path / "stderr.log"
    try:
        with open(log, "w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "target_pipedrive", "--config", str(cfg_path)],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, cwd=tmp_path,
                                    text=True)
        assert proc.stdin is not None
        proc.stdin.write(text)
        proc.stdin.close()
        deadline = time.monotonic() + 60
        while sb.admin("GET", "hold")["held_by_operation"].get("POST /v1/files", 0) < len(data["files"]):
            assert proc.poll() is None and time.monotonic() < deadline, "the file writes never reached Pipedrive"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)  # the grace is 5 s; the held writes would wait forever
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("Ctrl-C did not stop the target while Pipedrive held its last writes") from None
    finally:
        sb.admin("DELETE", "hold")  # the held uploads land now, as a slow server's would
    stderr = log.read_text()
    assert proc.returncode == 128 + signal.SIGINT, stderr[-2000:]
    assert "target-pipedrive: stopped by SIGINT (Ctrl-C)" in stderr
    rerun = run_target(cfg, messages(data), tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    # both held uploads are adopted (other writes may have been left open by the stop too, on a loaded machine)
    recovered = re.search(r"Recovered \d+ unconfirmed write\(s\) of an interrupted run: adopted (\d+)", rerun.stderr)
    assert recovered and int(recovered.group(1)) >= len(data["files"]), rerun.stderr[-2000:]
    assert_exact_clinic(sb, data)
