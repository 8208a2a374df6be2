"""One measured run of the tap (to a file) or of the target (from a file), with what it did."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import measure, plugins
from bench.sandboxes import Sandbox
from bench.windows import Window, watch

WRITE_ACTIONS = ("created", "updated")


@dataclass
class Run:
    """What one plugin process did and cost."""

    seconds: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    returncode: int = 0
    records: int = 0
    requests: int = 0
    sandbox_cpu_s: float = 0.0
    rss_timeline_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, RSS)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rss_timeline_mb"] = [(round(t, 1), round(m, 1)) for t, m in self.rss_timeline_mb]
        for key in ("seconds", "cpu_s", "peak_rss_mb", "sandbox_cpu_s"):
            out[key] = round(out[key], 2)
        return out


def count_records(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.startswith(b'{"type":"RECORD"'))


def _watched(child: measure.Child, sandbox: Sandbox, counter: Callable[[], int], stop_at: int | None,
             timeout_s: float | None, run: Run, skip: int = 0) -> Window | None:
    """Sample RSS while the child runs; with `timeout_s`, stop it after a window of requests."""
    sandbox_cpu = measure.cpu_s(sandbox.running.process.pid)

    def sample(now: float) -> None:
        rss = measure.rss_mb(child.proc.pid)
        if rss is not None:
            run.rss_timeline_mb.append((now - child.started, rss))

    window = None
    if timeout_s is not None:
        window = watch(counter, child.alive, stop_at, timeout_s, sample, skip)
        finished = child.finish(timeout=30, stop=True)
    else:
        while child.alive():
            sample(time.monotonic())
            time.sleep(0.5)
        finished = child.finish()
    run.sandbox_cpu_s = measure.cpu_s(sandbox.running.process.pid) - sandbox_cpu
    run.seconds, run.cpu_s, run.peak_rss_mb, run.returncode = (finished.seconds, finished.cpu_s,
                                                               finished.peak_rss_mb, finished.returncode)
    if timeout_s is None and finished.returncode != 0:
        raise RuntimeError(f"{child.proc.args[0]} failed (exit {finished.returncode}): {finished.stderr_tail[-1500:]}")
    return window


def run_tap(command: list[str], config: dict[str, Any], cliniko: Sandbox, folder: Path, name: str, *,
            stop_at: int | None = None, timeout_s: float | None = None,
            counter: Callable[[], int] | None = None) -> tuple[Run, Window | None]:
    """The tap writes its Singer stream to `<folder>/<name>.singer`; `counter` counts its requests
    (default: all the sandbox received)."""
    count = counter or cliniko.request_count
    config_path = plugins.write_json(folder / f"{name}.tap.json", config)
    out_path = folder / f"{name}.singer"
    before = count()
    run = Run()
    with out_path.open("wb") as out:
        child = measure.spawn([*command, "--config", str(config_path)], None, out, folder / f"{name}.tap.err",
                              measure.clean_env())
        window = _watched(child, cliniko, count, stop_at, timeout_s, run)
    run.requests = count() - before
    run.records = count_records(out_path)
    return run, window


def pipedrive_requests(pipedrive: Sandbox) -> int:
    return int(pipedrive.admin("/_admin/usage")["requests"])


def run_target(config: dict[str, Any], pipedrive: Sandbox, singer: Path, folder: Path, name: str, *,
               timeout_s: float | None = None, skip: int = 0,
               counter: Callable[[], int] | None = None) -> tuple[Run, Window | None]:
    """The target reads `singer`; its run summary comes from the crosswalk it keeps. With `timeout_s`,
    stopped that long after its window opens (after `skip` requests); `counter` counts its requests
    (default: all the sandbox received)."""
    config_path = plugins.write_json(folder / f"{name}.target.json", config)
    run = Run()
    with singer.open("rb") as inp, (folder / f"{name}.target.out").open("wb") as out:
        child = measure.spawn([*plugins.TARGET, "--config", str(config_path)], inp, out,
                              folder / f"{name}.target.err", measure.clean_env())
        window = _watched(child, pipedrive, counter or (lambda: pipedrive_requests(pipedrive)), None, timeout_s, run,
                          skip)
    summary = last_run_summary(Path(config["crosswalk_url"].removeprefix("sqlite:///")))
    run.extra["summary"] = summary
    if summary:
        run.records = sum(sum(c.values()) for c in (summary.get("sources") or {}).values())
        run.extra["objects_written"] = sum(n for counts in summary.get("streams", {}).values()
                                           for action, n in counts.items() if action in WRITE_ACTIONS)
        run.extra["failed"] = sum((summary.get("failed") or {}).values())
    return run, window


def last_run_summary(crosswalk: Path) -> dict[str, Any] | None:
    if not crosswalk.exists():
        return None
    with sqlite3.connect(crosswalk) as db:
        row = db.execute("SELECT summary FROM runs WHERE summary IS NOT NULL ORDER BY started_at DESC LIMIT 1"
                         ).fetchone()
    return json.loads(row[0]) if row and row[0] else None
