"""Run the real `tap-cliniko` executable against a sandbox and read its Singer output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TapRun:
    returncode: int
    stdout: str
    stderr: str
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def last_state(self) -> dict[str, Any]:
        return self.states[-1] if self.states else {}

    def ids(self, stream: str) -> list[str]:
        return [r["id"] for r in self.records.get(stream, [])]


def tap_config(sandbox: Any, **overrides: Any) -> dict[str, Any]:
    config = {
        "api_key": sandbox.api_key,
        "user_agent": sandbox.user_agent,
        "base_url": sandbox.base_url,
        "max_requests_per_minute": 0,
        "max_retries": 8,
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def parse_singer(stdout: str) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]], dict[str, dict]]:
    records: dict[str, list[dict[str, Any]]] = {}
    states: list[dict[str, Any]] = []
    schemas: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        if not line.strip():
            continue
        message = json.loads(line)
        if message["type"] == "RECORD":
            records.setdefault(message["stream"], []).append(message["record"])
        elif message["type"] == "STATE":
            states.append(message["value"])
        elif message["type"] == "SCHEMA":
            schemas[message["stream"]] = message["schema"]
    return records, states, schemas


def run_tap(tmp_path: Path, config: dict[str, Any], state: dict[str, Any] | None = None,
            catalog: dict[str, Any] | None = None, timeout: float = 300) -> TapRun:
    """`tap-cliniko --config ... [--state ...]` as Meltano would call it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    args = [sys.executable, "-m", "tap_cliniko", "--config", str(config_file)]
    if state is not None:
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps(state))
        args += ["--state", str(state_file)]
    if catalog is not None:
        catalog_file = tmp_path / "catalog.json"
        catalog_file.write_text(json.dumps(catalog))
        args += ["--catalog", str(catalog_file)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_CLINIKO_")}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    run = TapRun(proc.returncode, proc.stdout, proc.stderr)
    if proc.returncode == 0:
        run.records, run.states, run.schemas = parse_singer(proc.stdout)
    return run


def select_streams(tmp_path: Path, config: dict[str, Any], streams: set[str] | list[str]) -> dict[str, Any]:
    """The tap's own catalog (`--discover`) with only `streams` selected."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "discover-config.json").write_text(json.dumps(config))
    out = subprocess.run([sys.executable, "-m", "tap_cliniko", "--config", str(tmp_path / "discover-config.json"),
                          "--discover"], capture_output=True, text=True, check=True)
    catalog = json.loads(out.stdout)
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog
