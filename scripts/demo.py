"""`make demo`: both sandboxes, the whole migration with Meltano, and what happened.

Starts the Cliniko sandbox (standard clinic; `DEMO_SIZE=small|standard|large`) and the
Pipedrive sandbox (the limits of a Pipedrive plan: `DEMO_PIPEDRIVE_PLAN`, default ultimate,
`DEMO_SEATS`, default 3 - the standard clinic needs ~200k API tokens), gives the clinic's staff Pipedrive users (owners
resolve by e-mail), confirms the packaged map (`meltano invoke target-pipedrive:confirm-map`;
with real data, review a `mode: plan` run first), runs
`meltano run tap-cliniko target-pipedrive`, prints the objects created per type, failures,
time and API usage, writes the audit report, and stops the sandboxes. It runs Meltano's `demo`
environment, so everything lands in that environment's folder, output/demo/ (fresh each time),
and the commands it suggests for afterwards work as printed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from sandbox.common.launcher import start

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENT = "demo"
OUTPUT = ROOT / "output" / ENVIRONMENT
MELTANO = str(ROOT / ".venv" / "bin" / "meltano")
SHOWN_MELTANO = f".venv/bin/meltano --environment {ENVIRONMENT}"  # as the user types it, from the project folder
KINDS = ("person", "activity", "note", "product", "file", "activity_type", "field")


def admin(url: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{url}{path}", data=data, method="POST" if data else "GET",  # noqa: S310
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as response:  # noqa: S310 (loopback sandbox)
        return json.loads(response.read())


def meltano(env: dict[str, str], *args: str, quiet: bool = False) -> int:
    out = subprocess.DEVNULL if quiet else None
    return subprocess.run([MELTANO, "--environment", ENVIRONMENT, *args], cwd=ROOT, env=env, stdout=out,
                          check=False).returncode


def main() -> int:
    os.umask(0o077)  # every file the demo, its sandboxes and Meltano write is owner-only (synthetic patients)
    size = os.environ.get("DEMO_SIZE", "standard")
    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir(mode=0o700, parents=True)  # the sandboxes' data and the crosswalk are (synthetic) patient data
    print(f"Starting the Cliniko sandbox ({size} clinic) and the Pipedrive sandbox ...", file=sys.stderr)
    cliniko = start("cliniko", "--seed", size, "--db", str(OUTPUT / "cliniko-sandbox.sqlite"))
    plan, seats = os.environ.get("DEMO_PIPEDRIVE_PLAN", "ultimate"), os.environ.get("DEMO_SEATS", "3")
    pipedrive = start("pipedrive", "--db", str(OUTPUT / "pipedrive-sandbox.sqlite"), "--plan", plan, "--seats", seats)
    try:
        baseline = {k: admin(pipedrive.url, f"/_admin/objects/{k}")["count"] for k in KINDS}
        for user in admin(cliniko.url, "/_admin/records/users")["users"]:
            if user.get("email"):
                admin(pipedrive.url, "/_admin/users", {"name": f"{user['first_name']} {user['last_name']}",
                                                       "email": user["email"]})
        counts = admin(cliniko.url, "/_admin/counts")
        # the demo environment's files are its defaults (crosswalk, confirmed map, attachments, reports in
        # output/demo/); only the sandboxes' ports and the plan come from here. Meltano's bookmarks go with the
        # crosswalk, so a fresh demo does not start from the last one's.
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("TAP_CLINIKO_", "TARGET_PIPEDRIVE_"))},
               "MELTANO_DATABASE_URI": f"sqlite:///{OUTPUT / 'meltano.db'}",
               "TAP_CLINIKO_BASE_URL": f"{cliniko.url}/v1",
               "TAP_CLINIKO_MAX_REQUESTS_PER_MINUTE": os.environ.get("DEMO_MAX_RPM", "0"),
               "TARGET_PIPEDRIVE_BASE_URL": pipedrive.url,
               "TARGET_PIPEDRIVE_CLINIKO_BASE_URL": f"{cliniko.url}/v1",
               "TARGET_PIPEDRIVE_PLAN_TIER": plan,
               "TARGET_PIPEDRIVE_SEATS": seats}
        print("Confirming the packaged map: meltano invoke target-pipedrive:confirm-map", file=sys.stderr)
        if meltano(env, "invoke", "target-pipedrive:confirm-map") != 0:
            return 2
        print("Running: meltano run tap-cliniko target-pipedrive (progress below)", file=sys.stderr)
        started = time.monotonic()
        code = meltano(env, "run", "tap-cliniko", "target-pipedrive")
        elapsed = time.monotonic() - started
        report_dir = OUTPUT / "report"
        meltano(env, "invoke", "target-pipedrive:report", quiet=True)
        audit = json.loads((report_dir / "audit.json").read_text()) if (report_dir / "audit.json").exists() else {}
        usage = admin(pipedrive.url, "/_admin/usage")

        print(f"\nCliniko ({size} clinic): " + ", ".join(f"{k} {v['total']}" for k, v in sorted(counts.items())))
        print("Created in Pipedrive: " + ", ".join(
            f"{k} {admin(pipedrive.url, f'/_admin/objects/{k}')['count'] - baseline[k]}" for k in KINDS))
        statuses = audit.get("counts", {})
        print("Audit rows: " + (", ".join(f"{k} {v}" for k, v in sorted(statuses.items())) or "no report"))
        reconciliation = audit.get("reconciliation") or {}
        print(reconciliation.get("line") or "No reconciliation: the run did not finish.")
        received = sum(sum(c.values()) for c in reconciliation.get("per_stream", {}).values())
        held = sum(v["total"] for v in counts.values()) + 1  # + the account's settings object
        print(f"The Cliniko sandbox holds {held} records: "
              + ("every one was received and accounted for." if received == held else f"{held - received} MISSING."))
        if received != held:
            code = code or 1
        for r in audit.get("records", []):
            if r["status"] == "failed":
                print(f"  failed: {r['source_key']} {r['error_code']}")
            elif r["error_code"] == "file_too_large":
                print(f"  needs manual handling: {r['source_key']} ({r['message']})")
        print(f"Time: {elapsed:.0f} s. Pipedrive API: {usage['requests']} requests, {usage['tokens_today']} tokens, "
              f"{usage['responses_429']} x 429, at most {usage['max_requests_in_2s']} requests in 2 s "
              f"(limit {usage['burst_limit']}).")
        print(f"Reports: {report_dir.relative_to(ROOT)}/audit.csv, audit.json and audit.html. "
              f"Exit code of the run: {code}.")
        print(f"\nThe sandboxes stop now; what the migration recorded stays in {OUTPUT.relative_to(ROOT)}/. "
              "From this folder, later:")
        print(f"  {SHOWN_MELTANO} invoke target-pipedrive:report    # the audit again")
        print(f"  {SHOWN_MELTANO} invoke target-pipedrive:runs      # the runs the crosswalk recorded")
        print("The whole migration step by step (plan, setup, verify, delta, rollback) on sandboxes you start: "
              "README, 'The migration: Cliniko -> Pipedrive, step by step'.")
        return code
    finally:
        pipedrive.stop()
        cliniko.stop()


if __name__ == "__main__":
    sys.exit(main())
