"""`make demo`: start the sandboxes, run the pipeline with Meltano, print what happened.

Until target-pipedrive lands (issues 3-4) the demo loads the standard synthetic clinic
from the Cliniko sandbox into DuckDB with `meltano run tap-cliniko target-duckdb` and
reconciles every table with the sandbox's own counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sandbox.common.launcher import start

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "output" / "demo"


def admin(url: str, path: str) -> dict:
    with urllib.request.urlopen(f"{url}{path}", timeout=60) as response:  # noqa: S310 (loopback sandbox)
        return json.loads(response.read())


def main() -> int:
    size = os.environ.get("DEMO_SIZE", "standard")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    print(f"Starting the Cliniko sandbox with the {size} clinic ...", file=sys.stderr)
    cliniko = start("cliniko", "--seed", size, "--db", str(OUTPUT / "cliniko-sandbox.sqlite"))
    try:
        counts = admin(cliniko.url, "/_admin/counts")
        duckdb_file = OUTPUT / "clinic.duckdb"
        duckdb_file.unlink(missing_ok=True)
        env = {**os.environ,
               "MELTANO_DATABASE_URI": f"sqlite:///{OUTPUT / 'meltano.db'}",
               "TAP_CLINIKO_BASE_URL": f"{cliniko.url}/v1",
               "TAP_CLINIKO_MAX_REQUESTS_PER_MINUTE": os.environ.get("DEMO_MAX_RPM", "0"),
               "TAP_CLINIKO_ATTACHMENTS_DIR": str(OUTPUT / "attachments"),
               "TARGET_DUCKDB_FILEPATH": str(duckdb_file)}
        started = time.monotonic()
        print("Running: meltano run tap-cliniko target-duckdb (progress below)", file=sys.stderr)
        proc = subprocess.run([str(ROOT / ".venv" / "bin" / "meltano"), "--environment", "sandbox", "run",
                               "--no-state-update", "tap-cliniko", "target-duckdb"], cwd=ROOT, env=env, check=False)
        elapsed = time.monotonic() - started
        if proc.returncode != 0:
            print(f"demo: the pipeline failed (exit {proc.returncode}); see the log above.", file=sys.stderr)
            return proc.returncode
        requests_made = admin(cliniko.url, "/_admin/requests")["count"]
        import duckdb

        print(f"\n{'stream':<26}{'in Cliniko':>12}{'in DuckDB':>12}")
        ok = True
        with duckdb.connect(str(duckdb_file), read_only=True) as con:
            for stream, info in sorted(counts.items()):
                expected = info["total"]
                got = con.execute(f'SELECT COUNT(*) FROM cliniko."{stream}"').fetchone()[0]
                ok &= got == expected
                print(f"{stream:<26}{expected:>12}{got:>12}{'' if got == expected else '  MISMATCH'}")
        print(f"\n{requests_made} Cliniko requests in {elapsed:.0f}s; DuckDB file: {duckdb_file}")
        print("All counts reconcile." if ok else "Some counts do NOT reconcile.")
        return 0 if ok else 1
    finally:
        cliniko.stop()


if __name__ == "__main__":
    sys.exit(main())
