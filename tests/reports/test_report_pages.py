"""The pages the commands write (audit.html from `report`, diff.html from `verify`), opened in headless
Chromium: the totals are shown, a patient named `<script>alert(1)</script>` appears as text, nothing runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chromium import Rendered
from pd_helpers import base_config, clinic, messages, objects, run_admin, run_inproc

HOSTILE = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"


def test_audit_and_diff_pages_show_totals_and_hostile_names_as_text(
        tmp_path: Path, pipedrive_sandbox: Any, chromium: Callable[[Path], Rendered]) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path)
    data = clinic(tmp_path / "files", n_persons=3, n_products=1, n_files=1)
    data["persons"][0]["name"] = HOSTILE
    data["persons"][1]["name"] = IMG
    assert run_inproc(cfg, messages(data)).returncode == 0
    # a change behind the migration's back, so the diff shows the hostile name next to Pipedrive's value
    person = next(p for p in objects(sb, "person") if p["name"] == HOSTILE)
    sb.request("PATCH", f"/api/v2/persons/{person['id']}", json={"name": "Renamed By Reception"})

    report = run_admin(cfg, ["report", "--out-dir", str(tmp_path / "report")], tmp_path)
    assert report.returncode == 0, report.stderr
    audit = json.loads((tmp_path / "report" / "audit.json").read_text())
    shown = chromium(tmp_path / "report" / "audit.html")
    assert not shown.script_ran and shown.active_content == [] and shown.console == ()
    migrated = audit["counts"]["migrated"]
    assert f"{len(audit['records'])} records in the audit: {migrated} in Pipedrive." in shown.text
    assert "Nothing needs your attention." in shown.text
    assert audit["pipedrive_objects"]["persons"] == {"created": len(data["persons"])}
    assert "What the migration wrote in Pipedrive" in shown.text and "persons" in shown.text
    assert HOSTILE in shown.text and IMG in shown.text  # the labels: the persons' names, as text
    assert f"{sb.url}/person/{person['id']}" in shown.links  # each record links to its page in Pipedrive

    verify = run_admin(cfg, ["verify", "--out-dir", str(tmp_path / "verify")], tmp_path)
    assert verify.returncode == 1, verify.stdout + verify.stderr
    diff = json.loads((tmp_path / "verify" / "diff.json").read_text())
    mismatches = [r for r in diff["rows"] if r["verdict"] == "mismatch"]
    assert [(r["field"], r["cliniko_value"], r["pipedrive_value"]) for r in mismatches] == [
        ("name", HOSTILE, "Renamed By Reception")]
    page = chromium(tmp_path / "verify" / "diff.html")
    assert not page.script_ran and page.active_content == [] and page.console == ()
    assert HOSTILE in page.text  # the Cliniko value, shown as text
    assert "Renamed By Reception" in page.text
    assert HOSTILE not in page.dom  # escaped in the markup, not merely hidden
