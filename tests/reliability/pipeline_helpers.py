"""The whole `meltano run` against sandboxes that run as their own processes, so they can be
restarted mid-run, and the pipeline killed with SIGKILL at chosen moments.

What must be in Pipedrive is `test_migration`'s (tests/e2e): `Clinic`, `Account` and
`check_contents` compute it independently from the Cliniko sandbox; this module only adds
what crashes and restarts need. Both sandboxes keep their data in SQLite files, so a
restarted one serves the same account at the same URL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))  # test_migration: the e2e contract
from test_migration import MELTANO, REF, ROOT, Account, Clinic, check_contents, meltano_env

from sandbox.cliniko.auth import DEFAULT_API_KEY
from sandbox.common import launcher
from sandbox.pipedrive.config import DEFAULT_TOKEN

RUN_TIMEOUT_S = 600.0


@dataclass
class ServedSandbox:
    """One emulator as a child process on a fixed port and SQLite file; `restart` keeps both."""

    emulator: str
    db: Path
    args: list[str]
    port: int = field(default_factory=launcher.free_port)
    running: launcher.RunningSandbox | None = None
    restarts: int = 0

    def start(self, *extra: str) -> ServedSandbox:
        # the server's messages (tracebacks of connections the killed clients reset) go to a file beside its db
        with open(self.db.with_suffix(".stderr.log"), "a") as log:
            self.running = launcher.start(self.emulator, "--port", str(self.port), "--db", str(self.db),
                                          *self.args, *extra, timeout=180, stderr=log)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restart(self, down_s: float = 1.0) -> None:
        """Crash the server (SIGKILL, mid-request if any) and bring it back on the same data."""
        assert self.running is not None
        self.running.crash()
        time.sleep(down_s)
        self.start(*(["--keep-data"] if self.emulator == "cliniko" else []))
        self.restarts += 1

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            if self.running.process.stdout is not None:
                self.running.process.stdout.close()

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        path = path if path.startswith("/_admin/") else "/_admin/" + path.lstrip("/")
        response = requests.request(method, self.url + path, json=json, timeout=120)
        if response.status_code >= 400:
            raise AssertionError(f"admin {method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An API request as a client would send it (the Pipedrive token, the Cliniko key)."""
        token = getattr(self, "api_token", None)
        auth = None if token else (getattr(self, "api_key", ""), "")
        headers = {"x-api-token": token} if token else {"User-Agent": "Tests (tests@example.com)"}
        return requests.request(method, self.url + path, headers=headers, auth=auth, timeout=60, **kwargs)

    def requests_served(self) -> int:
        """API requests since this process started (admin calls excluded)."""
        return int(self.admin("GET", "/_admin/requests")["count"])


class ServedCliniko(ServedSandbox):
    api_key = DEFAULT_API_KEY

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


class ServedPipedrive(ServedSandbox):
    api_token = DEFAULT_TOKEN

    @property
    def base_url(self) -> str:
        return self.url


def served_sandboxes(tmp_path: Path, name: str = "", seed: int | None = None) -> tuple[ServedCliniko, ServedPipedrive]:
    """The small clinic (seed 42, no rate limit) and an empty Pipedrive account (no limits) whose users are
    the clinic's staff, as in the e2e test. With a `name`: that clinic's files, its own API key and token,
    and `seed` for its data."""
    cliniko = ServedCliniko("cliniko", tmp_path / f"{name}cliniko.sqlite",
                            ["--seed", "small", "--rate-limit-per-minute", "0"])
    pipedrive = ServedPipedrive("pipedrive", tmp_path / f"{name}pipedrive.sqlite", ["--no-limits", "--seed-value",
                                                                                     str(seed or 7)])
    if name:
        cliniko.api_key, pipedrive.api_token = f"{name}cliniko-key-au1", f"{name}pipedrive-token"
        cliniko.args += ["--seed-value", str(seed), "--api-key", cliniko.api_key]
        pipedrive.args += ["--api-token", pipedrive.api_token]
    cliniko.start()
    pipedrive.start()
    for user in Clinic(cliniko).users.values():
        if user.get("email"):
            pipedrive.admin("POST", "/_admin/users", {"name": f"{user['first_name']} {user['last_name']}",
                                                      "email": user["email"].upper()})
    return cliniko, pipedrive


def pipeline_env(tmp_path: Path, cliniko: ServedCliniko, pipedrive: ServedPipedrive) -> dict[str, str]:
    """`meltano_env` plus quick retries and a STATE after every batch, so bookmarks move between kills."""
    env = meltano_env(tmp_path, cliniko, pipedrive)
    env.update({"TARGET_PIPEDRIVE_STATE_INTERVAL_S": "0",
                "TAP_CLINIKO_REQUEST_TIMEOUT": "20",
                "TARGET_PIPEDRIVE_REQUEST_TIMEOUT_S": "20"})
    return env


def project(env: dict[str, str]) -> Path:
    """The Meltano project a run uses: this checkout, or another worker's copy (MELTANO_PROJECT_ROOT)."""
    return Path(env.get("MELTANO_PROJECT_ROOT") or ROOT)


def confirm_map(env: dict[str, str], source: Path | None = None) -> None:
    """`meltano invoke target-pipedrive:confirm-map`: the packaged map, or the operator's edited copy (`--from`)."""
    args = ["--from", str(source)] if source is not None else []
    done = subprocess.run([str(MELTANO), "--environment", "sandbox", "invoke", "target-pipedrive:confirm-map", *args],
                          cwd=project(env), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


@dataclass
class Attempt:
    returncode: int | None  # None: killed by the test
    seconds: float
    stderr_tail: str
    output: str = ""  # everything this run printed


def start_meltano(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    """Meltano in its own process group, so one killpg takes it, the tap and the target at once."""
    with open(log, "ab") as out:
        return subprocess.Popen([str(MELTANO), "--environment", "sandbox", *args], cwd=project(env), env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def group_alive(pgid: int) -> bool:
    """A process of the group still runs (zombies, which only wait for their parent to reap them, do not)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _output(log: Path, start: int) -> str:
    with open(log, "rb") as f:
        f.seek(start)
        return f.read().decode(errors="replace")


def _tail(log: Path, start: int) -> str:
    return _output(log, start)[-3000:]


def attempt(env: dict[str, str], args: tuple[str, ...], log: Path, kill_after_s: float | None = None,
            kill_after_requests: int | None = None, kill_after_first_s: float | None = None,
            watch: ServedSandbox | None = None, on_poll: Callable[[], None] | None = None) -> Attempt:
    """Run meltano once and SIGKILL its whole group: `kill_after_s` seconds after start, once `watch` has served
    `kill_after_requests` more API requests, or `kill_after_first_s` seconds after the first of them. A run
    that ends first is not killed. `on_poll` runs every 50 ms while it runs (the fault schedule)."""
    offset = log.stat().st_size if log.exists() else 0
    counting = watch is not None and (kill_after_requests is not None or kill_after_first_s is not None)
    base = watch.requests_served() if watch is not None and counting else 0
    first: float | None = None
    began = time.monotonic()
    proc = start_meltano(env, *args, log=log)
    while proc.poll() is None:
        now = time.monotonic()
        if now - began > RUN_TIMEOUT_S:
            kill_group(proc)
            raise AssertionError(f"meltano {' '.join(args)} hung: still running after {RUN_TIMEOUT_S:.0f} s")
        due = kill_after_s is not None and now - began >= kill_after_s
        if not due and watch is not None and counting:
            try:
                served = watch.requests_served() - base
            except requests.RequestException:
                served = 0
            if first is None and served > 0:
                first = now
            due = (kill_after_requests is not None and served >= kill_after_requests) or (
                kill_after_first_s is not None and first is not None and now - first >= kill_after_first_s)
        if due:
            kill_group(proc)
            return Attempt(None, time.monotonic() - began, _tail(log, offset), _output(log, offset))
        if on_poll is not None:
            on_poll()
        time.sleep(0.05)
    return Attempt(proc.returncode, time.monotonic() - began, _tail(log, offset), _output(log, offset))


@dataclass(frozen=True)
class Point:
    """Where a run is stopped: by progress, never by time. After the `count`-th request of `operation` the
    migration sends to Pipedrive, counted over all its runs (each object is created once, so a re-run goes on
    where the last one stopped and the count keeps rising), or, for "cliniko", after `count` Cliniko requests
    of this run (the tap reading). A held point freezes the Pipedrive sandbox at the next request instead
    (sandbox/common/hold.py), so the signal lands mid-run even where the run is close to its end."""

    label: str
    operation: str
    count: int
    hold: bool = False

    def reached(self, cliniko: ServedSandbox, pipedrive: ServedSandbox, cliniko_base: int) -> int:
        """How far the migration is on this point's counter (compare with `count`); an operation given as a
        bare method ("DELETE") counts every request of that method."""
        if self.operation == "cliniko":
            return cliniko.requests_served() - cliniko_base
        if " " not in self.operation:
            return sum(n for op, n in usage(pipedrive).items() if op.split(" ", 1)[0] == self.operation)
        return usage(pipedrive).get(self.operation, 0)


def usage(pipedrive: ServedSandbox) -> dict[str, int]:
    """Requests per operation ("POST /v2/activities") since the sandbox started."""
    return {op: int(v["count"]) for op, v in pipedrive.admin("GET", "/_admin/usage")["by_operation"].items()}


STOP_TIMEOUT_S = 120.0  # a run still going this long after SIGINT/SIGTERM did not stop: a failure, not a wait


@dataclass
class Stopped:
    returncode: int
    stop_s: float  # from the signal to the end of Meltano
    log: str  # what this run printed


def stop_at(env: dict[str, str], args: tuple[str, ...], log: Path, point: Point, signum: int, whom: str,
            cliniko: ServedSandbox, pipedrive: ServedSandbox) -> Stopped:
    """Run meltano and, at `point`, send `signum` to its whole process group ("group": Ctrl-C in a terminal, a
    container stop) or to Meltano alone ("meltano": `kill PID`, an orchestrator); wait until it has ended."""
    offset = log.stat().st_size if log.exists() else 0
    cliniko_base = cliniko.requests_served()
    if point.operation != "cliniko" and point.reached(cliniko, pipedrive, cliniko_base) >= point.count:
        raise AssertionError(f"kill point {point} was passed before this run started: order the points by progress")
    if point.hold:
        left = point.count - point.reached(cliniko, pipedrive, cliniko_base)
        pipedrive.admin("POST", "/_admin/hold", {"operation": point.operation, "after": left})
    try:
        began = time.monotonic()
        proc = start_meltano(env, *args, log=log)
        while not _due(point, cliniko, pipedrive, cliniko_base):
            if proc.poll() is not None:
                raise AssertionError(f"meltano {' '.join(args)} ended ({proc.returncode}) before its kill point "
                                     f"{point}:\n{_tail(log, offset)}")
            if time.monotonic() - began > RUN_TIMEOUT_S:
                kill_group(proc)
                raise AssertionError(f"meltano {' '.join(args)} hung before its kill point {point}")
            time.sleep(0.05)
        signalled = time.monotonic()
        if whom == "group":
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise AssertionError(f"meltano did not stop within {STOP_TIMEOUT_S:.0f} s of signal {signum}") from None
        while group_alive(proc.pid):  # the tap and the target end too, not just Meltano
            if time.monotonic() - signalled > STOP_TIMEOUT_S:
                kill_group(proc)
                raise AssertionError(f"a plugin was still running {STOP_TIMEOUT_S:.0f} s after signal {signum}")
            time.sleep(0.05)
        return Stopped(proc.returncode, time.monotonic() - signalled, _output(log, offset))
    finally:
        if point.hold:  # the held requests are handled (as a server would) before anything runs next
            pipedrive.admin("DELETE", "/_admin/hold")


def _due(point: Point, cliniko: ServedSandbox, pipedrive: ServedSandbox, cliniko_base: int) -> bool:
    try:
        if point.hold:
            return bool(pipedrive.admin("GET", "/_admin/hold")["held"])
        return point.reached(cliniko, pipedrive, cliniko_base) >= point.count
    except requests.RequestException:
        return False


def run_until_done(env: dict[str, str], args: tuple[str, ...], log: Path, tries: int = 3,
                   on_poll: Callable[[], None] | None = None) -> list[Attempt]:
    """Re-run as an operator would after an interruption, until it exits 0."""
    attempts = []
    for _ in range(tries):
        attempts.append(attempt(env, args, log, on_poll=on_poll))
        if attempts[-1].returncode == 0:
            return attempts
    raise AssertionError(f"meltano {' '.join(args)} did not finish in {tries} runs; last:\n{attempts[-1].stderr_tail}")


PIPELINE = ("run", "tap-cliniko", "target-pipedrive")
# after a SIGKILL, Meltano's job record still says "running" for 5 minutes and it refuses the same pipeline
# unless told: its message names --force, which the operator then adds
PIPELINE_AFTER_CRASH = ("run", "--force", "tap-cliniko", "target-pipedrive")
ROLLBACK = ("invoke", "target-pipedrive:rollback", "--all", "--yes")
SIGNALS = {  # how people stop a run: name -> (signal, who receives it, the operator's re-run)
    "SIGINT": (signal.SIGINT, "group", PIPELINE),  # Ctrl-C in a terminal: the whole process group
    "SIGTERM": (signal.SIGTERM, "meltano", PIPELINE),  # `kill PID`, an orchestrator: Meltano passes it on
    "SIGKILL": (signal.SIGKILL, "group", PIPELINE_AFTER_CRASH),  # an OOM kill, a power cut
}


def audit(env: dict[str, str], out: Path) -> dict[str, Any]:
    """The audit log the operator gets from `meltano invoke target-pipedrive:report`."""
    done = subprocess.run([str(MELTANO), "--environment", "sandbox", "invoke", "target-pipedrive:report",
                           "--out-dir", str(out)], cwd=project(env), env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "audit.json").read_text())


def verify(env: dict[str, str], out: Path) -> tuple[int, dict[str, Any]]:
    """`meltano invoke target-pipedrive:verify`: its exit code and diff.json."""
    done = subprocess.run([str(MELTANO), "--environment", "sandbox", "invoke", "target-pipedrive:verify",
                           "--out-dir", str(out)], cwd=project(env), env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return done.returncode, json.loads((out / "diff.json").read_text())


def assert_migrated_exactly(cliniko: ServedCliniko, pipedrive: ServedPipedrive, env: dict[str, str],
                            out: Path) -> dict[str, Any]:
    """Exact expected contents, no object twice, and an audit that reconciles record by record."""
    account = Account(pipedrive)
    unmarked = [(kind, o["id"]) for kind, text, objects in (("activity", "note", account.activities),
                                                            ("note", "content", account.notes))
                for o in objects if not REF.search(o.get(text) or "")]
    assert unmarked == [], f"objects without their [ref:cliniko:...] marker: {unmarked}"
    check_contents(Clinic(cliniko), account)
    keys = Counter(p["custom_fields"].get(account.cliniko_id) for p in
                   [o for o in pipedrive.admin("GET", "/_admin/objects/person")["data"] if not o.get("is_deleted")])
    assert [k for k, n in keys.items() if n > 1] == [], "duplicate persons"
    return assert_audit_reconciles(env, out, cliniko)


def assert_audit_reconciles(env: dict[str, str], out: Path, cliniko: ServedCliniko) -> dict[str, Any]:
    """The audit accounts for every record it received, none failed, and no stream received more records
    than the clinic holds."""
    document = audit(env, out)
    reconciliation = document["reconciliation"]
    assert reconciliation["line"].endswith(": reconciled"), reconciliation["line"]
    assert not any(c.get("unaccounted") or c.get("failed") for c in reconciliation["per_stream"].values())
    received = {stream: sum(c.values()) for stream, c in reconciliation["per_stream"].items()}
    counts = {name: c["total"] for name, c in cliniko.admin("GET", "/_admin/counts").items() if c["total"]}
    # the last run reads from the bookmarks the killed runs left, so it receives at most every record;
    # that nothing was lost on the way is what the exact contents above prove
    expected = {**counts, "settings": 1}
    assert set(received) <= set(expected) and all(n <= expected[s] for s, n in received.items()), received
    assert [r["source_key"] for r in document["records"] if r["status"] == "failed"] == []
    return document


@dataclass
class Chaos:
    """Fault switches on both sandboxes, plus events due after a number of API requests: a 429 storm, a
    sandbox crashed and started again (its switches set again, as the new process starts clean). Counts
    what was really injected, from each sandbox's request log, so a test can prove the faults happened."""

    faults: dict[str, dict[str, Any]]  # emulator -> switches
    events: list[tuple[ServedSandbox, int, str]]  # (sandbox, after its Nth request, "storm:N" | "restart")
    injected: Counter[str] = field(default_factory=Counter)
    served: Counter[str] = field(default_factory=Counter)  # requests counted by processes since replaced

    def arm(self, *sandboxes: ServedSandbox) -> None:
        for sandbox in sandboxes:
            sandbox.admin("POST", "/_admin/faults", self.faults[sandbox.emulator])

    def total(self, sandbox: ServedSandbox) -> int:
        return self.served[sandbox.emulator] + sandbox.requests_served()

    def poll(self) -> None:
        for event in list(self.events):
            sandbox, after, action = event
            try:
                due = self.total(sandbox) >= after
            except requests.RequestException:
                continue
            if not due:
                continue
            self.events.remove(event)
            if action == "restart":
                self.tally(sandbox)
                self.served[sandbox.emulator] += sandbox.requests_served()
                sandbox.restart()
                self.arm(sandbox)
                self.injected[f"{sandbox.emulator} restarts"] += 1
            else:
                storm = int(action.split(":", 1)[1])
                sandbox.admin("POST", "/_admin/faults", {"force_429": storm})

    def tally(self, sandbox: ServedSandbox) -> None:
        """Add the faults in this sandbox process's request log (5000 newest requests) to `injected`."""
        log = sandbox.admin("GET", "/_admin/requests")
        assert log["count"] <= 5000, "the request log no longer holds every request: count faults another way"
        for entry in log["requests"]:
            kind = {None: "dropped connections", 503: "5xx", 429: "429s"}.get(entry["status"])
            if kind:
                self.injected[f"{sandbox.emulator} {kind}"] += 1

    def disarm(self, *sandboxes: ServedSandbox) -> None:
        for sandbox in sandboxes:
            self.tally(sandbox)
            sandbox.admin("POST", "/_admin/faults", {"latency_ms": 0, "error_rate": 0, "drop_rate": 0, "rate_429": 0,
                                                     "force_429": 0, "force_errors": 0, "force_drops": 0})
