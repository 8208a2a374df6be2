"""The two sandboxes as child processes, and the admin calls the bench steers them with."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.common.launcher import RunningSandbox, start

CLINIKO_KEY = "sandbox-cliniko-key-au1"
PIPEDRIVE_TOKEN = "sandbox-pipedrive-token"  # noqa: S105 - the sandbox's documented token
USER_AGENT = "cliniko-pipedrive bench (bench@example.com)"
BASELINE_USER_AGENT = "cliniko-pipedrive bench baseline (bench@example.com)"
# The sandboxes' own stderr (start-up lines, tracebacks of clients the bench stops mid-request).
LOG = Path(__file__).resolve().parents[1] / "output" / "bench" / "sandboxes.log"


def _start(emulator: str, *args: str, timeout: float = 120.0) -> RunningSandbox:
    """`launcher.start` with the child's stderr in LOG (the child keeps its own copy of the file)."""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("ab") as log:
        return start(emulator, *args, timeout=timeout, stderr=log)


def admin(url: str, path: str, body: Any = None, method: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{url}{path}", data=data, method=method or ("POST" if data else "GET"),  # noqa: S310
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as response:  # noqa: S310 (loopback sandbox)
        return json.loads(response.read())


@dataclass
class Sandbox:
    running: RunningSandbox

    @property
    def url(self) -> str:
        return self.running.url

    def admin(self, path: str, body: Any = None, method: str | None = None) -> Any:
        return admin(self.url, path, body, method)

    def latency(self, ms: float) -> None:
        self.admin("/_admin/faults", {"latency_ms": ms})

    def request_count(self) -> int:
        return int(self.admin("/_admin/requests")["count"])

    def statuses(self, user_agent: str | None = None) -> dict[int | None, int]:
        """Status codes of the API requests the sandbox logged (the latest 5000), of one client or all."""
        out: dict[int | None, int] = {}
        for entry in self.admin("/_admin/requests")["requests"]:
            if entry["path"].startswith("/_storage/"):
                continue  # attachment bytes from object storage: not an API request, not rate-limited
            if user_agent is None or entry["user_agent"] == user_agent:
                out[entry["status"]] = out.get(entry["status"], 0) + 1
        return out


@contextmanager
def cliniko(size: str, db: Path, rate_limit_per_minute: int = 0,
            api_keys: tuple[str, ...] = (CLINIKO_KEY,)) -> Iterator[Sandbox]:
    """A generated clinic; with `db` kept between bench runs (generation of the large clinic takes minutes).

    Each API key has its own rate-limit window, so two clients can be measured one after the other.
    """
    args = ["--seed", size, "--db", str(db), "--rate-limit-per-minute", str(rate_limit_per_minute)]
    for key in api_keys:
        args += ["--api-key", key]
    if db.exists() and db.with_suffix(".ready").exists():
        args.append("--keep-data")
    running = _start("cliniko", *args, timeout=1800)
    db.with_suffix(".ready").touch()
    try:
        yield Sandbox(running)
    finally:
        running.stop()


@contextmanager
def pipedrive(db: Path | None, *args: str) -> Iterator[Sandbox]:
    running = _start("pipedrive", *(["--db", str(db)] if db else []), *args)
    try:
        yield Sandbox(running)
    finally:
        running.stop()


def staff_as_users(clinic: Sandbox, account: Sandbox) -> None:
    """The clinic's staff get Pipedrive users with their e-mails, so owners resolve as in a real account."""
    for user in clinic.admin("/_admin/records/users")["users"]:
        if user.get("email"):
            account.admin("/_admin/users", {"name": f"{user['first_name']} {user['last_name']}",
                                            "email": user["email"]})
