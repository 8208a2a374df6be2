"""Drive the real pipeline, `tap-cliniko --config | target-pipedrive --config`, against the sandboxes.

The two programs run as real processes joined by a real pipe, exactly as Meltano joins
them; what reaches Pipedrive is read back from the Pipedrive sandbox and the audit log
from the crosswalk (the `report` module the admin command uses). A run that exceeds its
time limit is killed and reported as hung, so no test can wait forever.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUN_TIMEOUT_S = 60.0
ANSWER_TIMEOUT_S = 10  # a sandbox answers in milliseconds; a stuck request must not eat the test's time


@dataclass
class PipelineRun:
    tap_code: int
    target_code: int
    tap_stderr: str
    target_stdout: str
    target_stderr: str
    seconds: float

    @property
    def output(self) -> str:
        """Everything the operator sees on the terminal."""
        return self.tap_stderr + self.target_stdout + self.target_stderr


def tap_config(cliniko: Any, **overrides: Any) -> dict[str, Any]:
    config = {"api_key": cliniko.api_key, "user_agent": cliniko.user_agent, "base_url": cliniko.base_url,
              "max_requests_per_minute": 0, "max_retries": 2, "request_timeout": ANSWER_TIMEOUT_S}
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def confirmed_map(tmp_path: Path, policies: dict[str, Any] | None = None) -> Path:
    """The packaged map, with `policies` changed, confirmed as an operator would (confirm-map)."""
    from cliniko_map.mapper import default_map_path
    from cliniko_map.policies import set_in_text
    from target_pipedrive.workflow.confirm import confirm

    text = set_in_text(default_map_path().read_text(encoding="utf-8"), policies or {})
    source = tmp_path / "map-edited.yaml"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "map-confirmed.yaml"
    confirm(str(source), str(out), str(tmp_path / "map-output"))
    return out


def target_config(pipedrive: Any, tmp_path: Path, map_path: Path | None = None, **overrides: Any) -> dict[str, Any]:
    config = {"api_token": pipedrive.api_token, "base_url": pipedrive.base_url,
              "crosswalk_url": f"sqlite:///{tmp_path / 'crosswalk' / 'crosswalk.sqlite'}",
              "map": str(map_path or confirmed_map(tmp_path)), "map_output_dir": str(tmp_path / "map-output"),
              "progress_interval_s": 0, "rate_limit_burst": 1000, "daily_token_budget": 10_000_000,
              "max_retries": 2, "request_timeout_s": ANSWER_TIMEOUT_S}
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def _write_config(tmp_path: Path, name: str, config: dict[str, Any]) -> Path:
    path = tmp_path / f"{name}-{os.urandom(3).hex()}.json"
    path.write_text(json.dumps(config))
    return path


def clean_env() -> dict[str, str]:
    """The environment without settings a developer's shell may carry for either plugin."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TAP_CLINIKO_", "TARGET_PIPEDRIVE_"))}


PLAN = ("-c", "from target_pipedrive.entry import plan; plan()")  # target-pipedrive-plan, as its console script


def run_pipeline(tmp_path: Path, tap: dict[str, Any], target: dict[str, Any],
                 timeout: float = RUN_TIMEOUT_S, target_command: tuple[str, ...] = ("-m", "target_pipedrive")
                 ) -> PipelineRun:
    """`tap-cliniko --config A | target-pipedrive --config B` (or `target-pipedrive-plan`: PLAN); fails the
    test if it does not end in time."""
    tap_file, target_file = _write_config(tmp_path, "tap", tap), _write_config(tmp_path, "target", target)
    tap_err, target_out, target_err = (tmp_path / f"{n}-{os.urandom(3).hex()}.txt" for n in ("tap-err", "out", "err"))
    env = clean_env()
    start = time.monotonic()
    with open(tap_err, "wb") as te, open(target_out, "wb") as to, open(target_err, "wb") as tr:
        producer = subprocess.Popen([sys.executable, "-m", "tap_cliniko", "--config", str(tap_file)],
                                    stdout=subprocess.PIPE, stderr=te, env=env, cwd=tmp_path)
        consumer = subprocess.Popen([sys.executable, *target_command, "--config", str(target_file)],
                                    stdin=producer.stdout, stdout=to, stderr=tr, env=env, cwd=tmp_path)
        assert producer.stdout is not None
        producer.stdout.close()  # the target holds the only reader: the tap sees EPIPE if it stops early
        try:
            tap_code = producer.wait(timeout=timeout)
            target_code = consumer.wait(timeout=max(1.0, timeout - (time.monotonic() - start)))
        except subprocess.TimeoutExpired:
            for proc in (producer, consumer):
                proc.kill()
                proc.wait()
            raise AssertionError(f"the pipeline hung: still running after {timeout:.0f} s") from None
    return PipelineRun(tap_code, target_code, tap_err.read_text(errors="replace"),
                       target_out.read_text(errors="replace"), target_err.read_text(errors="replace"),
                       time.monotonic() - start)


def audit(target: dict[str, Any], tmp_path: Path) -> dict[str, dict[str, Any]]:
    """The audit log (what `target-pipedrive-admin report` writes), by source key."""
    from target_pipedrive.crosswalk import Crosswalk
    from target_pipedrive.workflow import report

    crosswalk = Crosswalk(target["crosswalk_url"])
    try:
        document = report.write(crosswalk, tmp_path / f"report-{os.urandom(3).hex()}")
    finally:
        crosswalk.close()
    return {r["source_key"]: r for r in document["records"]}


def live(pipedrive: Any, kind: str) -> list[dict[str, Any]]:
    rows = pipedrive.admin("GET", f"/_admin/objects/{kind}")["data"]
    return [r for r in rows if not r.get("is_deleted") and r.get("active_flag", True) is not False]


def pipedrive_writes(pipedrive: Any) -> dict[str, int]:
    usage = pipedrive.admin("GET", "/_admin/usage")["by_operation"]
    return {op: v["count"] for op, v in usage.items() if not op.startswith("GET") and v["count"]}
