"""A standard Pipedrive client reads what the migration wrote: the published Singer tap `tap-pipedrive`
(singer-io, from PyPI, pinned) runs unmodified against the Pipedrive sandbox after
`meltano run tap-cliniko target-pipedrive` moved the small clinic in, and must read back every
migrated person, activity, note, file and product under the Pipedrive id the crosswalk holds.

The tap has no base-URL setting (it always calls https://api.pipedrive.com), so it reaches the
sandbox through `tls_relay` by the proxy and CA variables of `requests`, its HTTP library.
One migration and one tap run (discovery, then a sync of every stream): about 20 s with the tap's venv
cached (the migration ~15 s, the tap ~3 s), about 20 s more on a machine that must first build the venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from tap_venv import ensure_tap
from tls_relay import TlsRelay

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))  # test_migration: the e2e contract
from test_migration import REF, ROOT, Account, Clinic, meltano, meltano_env, migrate

TAP, TAP_VERSION = "tap-pipedrive", "2.1.0"
TAP_HOST = "api.pipedrive.com"  # tap_pipedrive.config.BASE_URL
TAP_TIMEOUT_S = 300
# the Pipedrive objects the migration writes: the crosswalk's stream names, and the tap's
STREAMS = ("persons", "activities", "notes", "files", "products")


def run_tap(tap: Path, work: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(tap), "--config", str(work / "tap-config.json"), *args], env=env, capture_output=True,
                          text=True, timeout=TAP_TIMEOUT_S, check=False)
    assert done.returncode == 0, f"{TAP} {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def select_all(catalog: dict[str, Any]) -> dict[str, Any]:
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = True
    return catalog


def read_with_tap(tap: Path, work: Path, upstream: tuple[str, int], api_token: str) -> dict[str, list[dict[str, Any]]]:
    """Discovery, then a sync of every stream; the RECORD messages by stream."""
    (work / "tap-config.json").write_text(json.dumps({"api_token": api_token, "start_date": "2000-01-01T00:00:00Z"}))
    with TlsRelay(TAP_HOST, upstream, work) as relay:
        env = {**os.environ, **relay.env()}
        catalog = json.loads(run_tap(tap, work, env, "--discover").stdout)
        (work / "catalog.json").write_text(json.dumps(select_all(catalog)))
        output = run_tap(tap, work, env, "--catalog", str(work / "catalog.json")).stdout
        assert relay.refused == [], f"the tap tried to reach other hosts: {relay.refused}"
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in output.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records[message["stream"]].append(message["record"])
    return records


def crosswalk_ids(env: dict[str, str], out: Path) -> dict[str, dict[str, int]]:
    """stream -> {source key: Pipedrive id} of every migrated object, from the target's audit report."""
    report = meltano(env, "invoke", "target-pipedrive:report", "--out-dir", str(out))
    assert report.returncode == 0, report.stderr[-2000:]
    found: dict[str, dict[str, int]] = {stream: {} for stream in STREAMS}
    for row in json.loads((out / "audit.json").read_text())["records"]:
        if row["status"] == "migrated" and row["stream"] in found:
            found[row["stream"]][row["source_key"]] = int(row["pipedrive_id"])
    return found


def test_published_tap_reads_every_migrated_object(tmp_path: Path, cliniko_sandbox: Any,
                                                   pipedrive_sandbox: Any) -> None:
    if not (ROOT / ".meltano" / "loaders" / "target-pipedrive").exists():
        pytest.fail("meltano plugins are not installed: run `make install` (it runs `meltano install`)")
    began = time.monotonic()
    tap = ensure_tap(TAP, TAP_VERSION, TAP)
    installed = time.monotonic()
    cliniko, pipedrive = cliniko_sandbox, pipedrive_sandbox
    for user in Clinic(cliniko).users.values():  # the clinic's staff have Pipedrive users, as in the e2e test
        if user.get("email"):
            pipedrive.admin("POST", "/_admin/users", {"name": f"{user['first_name']} {user['last_name']}",
                                                      "email": user["email"]})
    env = meltano_env(tmp_path, cliniko, pipedrive)
    confirmed = meltano(env, "invoke", "target-pipedrive:confirm-map")
    assert confirmed.returncode == 0, confirmed.stderr[-2000:]
    migrated = migrate(env, cliniko, pipedrive)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    expected = crosswalk_ids(env, tmp_path / "report")
    assert all(expected.values()), {stream: len(ids) for stream, ids in expected.items()}
    account = Account(pipedrive)
    moved = time.monotonic()

    host, port = pipedrive.url.removeprefix("http://").rsplit(":", 1)
    records = read_with_tap(tap, tmp_path, (host, int(port)), pipedrive.api_token)
    done = time.monotonic()
    print(f"\n{TAP}=={TAP_VERSION}: venv {installed - began:.1f} s, migration {moved - installed:.1f} s, "
          f"tap run {done - moved:.1f} s")

    read = {stream: {r["id"]: r for r in records[stream]} for stream in STREAMS}
    for stream, by_key in expected.items():
        missing = {key: pid for key, pid in by_key.items() if pid not in read[stream]}
        assert missing == {}, f"{len(missing)} migrated {stream} the tap did not read: {list(missing.items())[:5]}"
        # and nothing else: the account held none of these before the migration
        assert set(read[stream]) == set(by_key.values()), stream

    # a few values, as the tap's own schema gives them (custom fields flattened under their key)
    for key, pid in expected["persons"].items():
        row = read["persons"][pid]
        assert row[account.cliniko_id] == key and row["name"] == account.persons[key]["name"], pid
    for stream, text in (("activities", "note"), ("notes", "content")):
        key_of = {pid: key for key, pid in expected[stream].items()}
        for pid, row in read[stream].items():
            marker = REF.search(row.get(text) or "")
            assert marker and marker.group(1) == key_of[pid], (stream, pid)
    people = set(expected["persons"].values())
    assert all(row["person_id"] in people for stream in ("notes", "files") for row in read[stream].values())
    stored_files = {f["id"]: f for f in account.files}
    assert all((row["name"], row["file_size"]) == (stored_files[pid]["name"], stored_files[pid]["file_size"])
               for pid, row in read["files"].items())
    stored_products = {p["id"]: p for p in account.products}
    assert all((row["name"], row["code"]) == (stored_products[pid]["name"], stored_products[pid]["code"])
               for pid, row in read["products"].items())
    # the kinds the sandbox does not hold are read too: empty, without an error
    assert not records["deals"] and not records["organizations"]
    assert {r["key"] for r in records["deal_fields"]} >= {"title", "value", "status"}
