"""Config files and command lines of the tap, the baseline tap and the target, as the bench runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from bench.sandboxes import CLINIKO_KEY, PIPEDRIVE_TOKEN, USER_AGENT

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TAP = [str(BIN / "tap-cliniko")]
BASELINE_TAP = [sys.executable, "-m", "bench.baseline_tap"]
TARGET = [str(BIN / "target-pipedrive")]
ADMIN = [str(BIN / "target-pipedrive-admin")]


def write_json(path: Path, value: Any) -> Path:
    return write_text(path, json.dumps(value, indent=1))


def tap_config(cliniko_url: str, attachments_dir: Path, max_rpm: int) -> dict[str, Any]:
    return {"api_key": CLINIKO_KEY, "user_agent": USER_AGENT, "base_url": f"{cliniko_url}/v1",
            "attachments_dir": str(attachments_dir), "max_requests_per_minute": max_rpm}


@cache
def target_settings() -> frozenset[str]:
    about = subprocess.run([*TARGET, "--about", "--format", "json"], capture_output=True, text=True, check=True)
    return frozenset(json.loads(about.stdout)["settings"]["properties"])


def confirmed_map(folder: Path, policies: dict[str, Any] | None = None) -> Path:
    """The packaged map, confirmed (what `meltano invoke target-pipedrive:confirm-map` writes); with
    `policies`, those lines of its `policies:` block changed first, as a clinic edits its copy."""
    from cliniko_map.mapper import default_map_path
    from cliniko_map.policies import set_in_text
    from target_pipedrive.workflow.confirm import confirm

    out = folder / "cliniko-map.confirmed.yaml"
    if out.exists():
        return out
    source = None
    if policies:
        text = set_in_text(default_map_path().read_text(encoding="utf-8"), policies)
        source = str(write_text(folder / "cliniko-map.yaml", text))
    confirm(source, str(out), str(folder / "map"))
    return out


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def target_config(pipedrive_url: str, work: Path, map_path: Path, plan: str, seats: int, *,
                  mode: str = "apply", limits: bool = True, sequential: bool = False) -> dict[str, Any]:
    """`limits=False`: no pacing on our side either (the sandbox runs with --no-limits then).

    `sequential`: the baseline, one write in flight, passed only when the target knows the setting.
    """
    config: dict[str, Any] = {
        "api_token": PIPEDRIVE_TOKEN, "base_url": pipedrive_url,
        "crosswalk_url": f"sqlite:///{work / 'crosswalk.sqlite'}",
        "map": str(map_path), "map_output_dir": str(work / "map"), "mode": mode, "plan_tier": plan, "seats": seats,
        "progress_interval_s": 0,
    }
    if not limits:
        config["rate_limit_burst"] = 1_000_000
        config["daily_token_budget"] = 1_000_000_000
    if sequential and "max_writes_in_flight" in target_settings():
        config["max_writes_in_flight"] = 1
    return config
