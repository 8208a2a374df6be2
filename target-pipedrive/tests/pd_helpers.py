"""Test helpers: Singer messages, running the target as a real process, a generated clinic data set."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIMPLE_SCHEMA = {"type": "object", "properties": {"source_key": {"type": "string"}}}
REPO = Path(__file__).resolve().parents[2]
# the target's and admin's processes print every ResourceWarning (Python hides them by default), and a run
# that printed one fails: an unclosed crosswalk connection is a bug (on Postgres it holds a server backend)
WARNINGS_ENV = {"PYTHONWARNINGS": "always::ResourceWarning"}


def no_resource_warning(stderr: str) -> None:
    assert "ResourceWarning" not in stderr, stderr[-3000:]


def schema(stream: str) -> dict[str, Any]:
    return {"type": "SCHEMA", "stream": stream, "schema": SIMPLE_SCHEMA, "key_properties": ["source_key"]}


def record(stream: str, rec: dict[str, Any]) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": rec}


def state(value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "STATE", "value": value}


def messages(streams: dict[str, list[dict[str, Any]]], state_every: int = 0) -> list[dict[str, Any]]:
    """SCHEMA + RECORDs per stream in the given order; a STATE after every `state_every` records."""
    out: list[dict[str, Any]] = []
    n = 0
    for stream, records in streams.items():
        out.append(schema(stream))
        for rec in records:
            out.append(record(stream, rec))
            n += 1
            if state_every and n % state_every == 0:
                out.append(state({"bookmarks": {"n": n}}))
    out.append(state({"bookmarks": {"n": n, "done": True}}))
    return out


def to_text(msgs: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(m) + "\n" for m in msgs)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    states: list[dict[str, Any]] = field(default_factory=list)


def run_target(config: dict[str, Any], msgs: list[dict[str, Any]] | str, tmp_path: Path,
               env: dict[str, str] | None = None, timeout: float = 120, args: list[str] | None = None) -> Run:
    """Run `python -m target_pipedrive` as a real process (STATE on stdout, progress on stderr)."""
    cfg = tmp_path / f"config-{os.urandom(3).hex()}.json"
    cfg.write_text(json.dumps(config))
    text = msgs if isinstance(msgs, str) else to_text(msgs)
    proc = subprocess.run([sys.executable, "-m", "target_pipedrive", "--config", str(cfg), *(args or [])],
                          input=text, capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
                          env={**os.environ, **WARNINGS_ENV, **(env or {})}, check=False)
    no_resource_warning(proc.stderr)
    states = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return Run(proc.returncode, proc.stdout, proc.stderr, states)


def run_inproc(config: dict[str, Any], msgs: list[dict[str, Any]] | str) -> Run:
    """Run the target in this process (no interpreter start-up): STATE from stdout, summary from stderr."""
    from target_pipedrive.target import TargetPipedrive

    text = msgs if isinstance(msgs, str) else to_text(msgs)
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        target = TargetPipedrive(config=config)
        try:
            target.listen(io.StringIO(text))
        except SystemExit as exc:
            code = int(exc.code or 0)
    states = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return Run(code, out.getvalue(), err.getvalue(), states)


def run_admin(config: dict[str, Any], args: list[str], tmp_path: Path, timeout: float = 120) -> Run:
    cfg = tmp_path / f"config-{os.urandom(3).hex()}.json"
    cfg.write_text(json.dumps(config))
    proc = subprocess.run([sys.executable, "-m", "target_pipedrive.workflow.admin", "--config", str(cfg), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=tmp_path, check=False,
                          env={**os.environ, **WARNINGS_ENV})
    no_resource_warning(proc.stderr)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def base_config(sandbox: Any, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    config = {"api_token": sandbox.api_token, "base_url": sandbox.base_url,
              "crosswalk_url": f"sqlite:///{tmp_path / 'crosswalk.sqlite'}",
              "fallback_user_email": "frontdesk@sandbox-clinic.example", "progress_interval_s": 0,
              "state_interval_s": 0, "rate_limit_burst": 1000, "daily_token_budget": 10_000_000, "max_retries": 6}
    config.update(overrides)
    return config


def objects(sandbox: Any, kind: str, live: bool = True) -> list[dict[str, Any]]:
    rows = sandbox.admin("GET", f"objects/{kind}")["data"]
    if live:
        rows = [r for r in rows if not r.get("is_deleted") and r.get("active_flag", True) is not False
                and r.get("active", True) is not False]
    return rows


def custom_key(sandbox: Any, entity: str, label: str) -> str:
    for f in objects(sandbox, "fields"):
        if f["entity"] == entity and f["name"] == label and f["is_custom"]:
            return f["key"]
    raise AssertionError(f"no {entity} field {label}")


def option_id(sandbox: Any, entity: str, label: str, option: str) -> int:
    for f in objects(sandbox, "fields"):
        if f["entity"] == entity and f["name"] == label:
            return next(o["id"] for o in f["options"] if o["label"] == option)
    raise AssertionError(f"no {entity} field {label}")


def writes(sandbox: Any) -> int:
    usage = sandbox.admin("GET", "usage")
    return sum(v["count"] for k, v in usage["by_operation"].items() if not k.startswith("GET"))


# -- a small generated clinic ---------------------------------------------------------------------
FIELDS = [
    {"source_key": "field:person:dob", "entity": "person", "label": "Date of birth", "field_type": "date"},
    {"source_key": "field:person:referral", "entity": "person", "label": "Referral source", "field_type": "enum",
     "options": ["GP", "Website", "Friend"]},
    {"source_key": "field:person:concerns", "entity": "person", "label": "Concerns", "field_type": "set",
     "options": ["Back", "Neck", "Knee"]},
    {"source_key": "field:person:balance", "entity": "person", "label": "Outstanding balance",
     "field_type": "monetary"},
    {"source_key": "field:person:history", "entity": "person", "label": "Invoice history", "field_type": "text"},
    {"source_key": "field:product:group", "entity": "product", "label": "Item group", "field_type": "varchar"},
]
TYPES = [{"source_key": "type:1", "name": "Initial consultation", "icon_key": "meeting"},
         {"source_key": "type:2", "name": "Follow-up", "icon_key": "calendar", "color": "00FF00"}]


def person(i: int) -> dict[str, Any]:
    return {
        "source_key": f"cliniko:patient:{i}", "name": f"Patient {i} Example",
        "emails": [{"value": f"patient{i}@mail.example", "label": "home"}],
        "phones": [{"value": f"+6140000{i:04d}", "label": "mobile"}],
        "owner_email": "sam.taylor@sandbox-clinic.example" if i % 2 else "nobody@elsewhere.example",
        "add_time": "2021-03-04T05:06:07Z",
        "custom_fields": {"Date of birth": f"19{60 + i % 40}-01-0{1 + i % 9}",
                          "Referral source": ["GP", "Website", "Friend"][i % 3],
                          "Concerns": ["Back", "Knee"] if i % 2 else ["Neck"],
                          "Outstanding balance": {"value": 10.5 * i, "currency": "AUD"},
                          "Invoice history": f"{i} invoices"},
    }


def activity(i: int, j: int) -> dict[str, Any]:
    return {"source_key": f"cliniko:appointment:{i}-{j}", "subject": "Initial consultation" if j == 0 else "Review",
            "type": "Initial consultation" if j == 0 else "Follow-up", "due_date": f"2024-05-{1 + i % 27:02d}",
            "due_time": "09:30", "duration": "00:45", "done": j == 0, "person_source_key": f"cliniko:patient:{i}",
            "owner_email": "jordan.lee@sandbox-clinic.example", "note": "<p>Booked online</p>"}


def note(i: int) -> dict[str, Any]:
    return {"source_key": f"cliniko:treatment_note:{i}", "content": f"<p>Treatment note {i}</p>",
            "person_source_key": f"cliniko:patient:{i}", "add_time": "2024-05-01T10:00:00+10:00", "pinned": i == 1}


def product(i: int) -> dict[str, Any]:
    return {"source_key": f"cliniko:product:{i}", "name": f"Product {i}", "code": f"P-{i}",
            "prices": [{"currency": "AUD", "price": 20.0 + i}], "custom_fields": {"Item group": "Retail"}}


def file_record(i: int, directory: Path, content: bytes | None = None) -> dict[str, Any]:
    data = content if content is not None else f"scan of patient {i}\n".encode() * (i + 1)
    path = directory / f"scan-{i}.txt"
    path.write_bytes(data)
    return {"source_key": f"cliniko:attachment:{i}", "person_source_key": f"cliniko:patient:{i}",
            "local_path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "file_name": f"scan-{i}.txt"}


def clinic(directory: Path, n_persons: int = 4, n_products: int = 2, n_files: int = 2) -> dict[str, list[dict]]:
    """Definitions, persons, products, then children: the order the map will emit."""
    directory.mkdir(parents=True, exist_ok=True)
    return {
        "custom_fields": [dict(f) for f in FIELDS],
        "activity_types": [dict(t) for t in TYPES],
        "persons": [person(i) for i in range(1, n_persons + 1)],
        "products": [product(i) for i in range(1, n_products + 1)],
        "activities": [activity(i, j) for i in range(1, n_persons + 1) for j in range(2)],
        "notes": [note(i) for i in range(1, n_persons + 1)],
        "files": [file_record(i, directory) for i in range(1, n_files + 1)],
    }


def snapshot(sandbox: Any) -> dict[str, Any]:
    """Everything live in the account, without timestamps a restore cannot keep."""
    return sandbox.admin("GET", "snapshot?deleted=0&omit=update_time,modified")["objects"]


def assert_exact_clinic(sandbox: Any, data: dict[str, list[dict[str, Any]]], label: str = "Cliniko ID") -> None:
    """The account holds every record of `data` exactly once: no duplicate, nothing missing."""
    for stream, kind, entity in (("persons", "person", "person"), ("products", "product", "product")):
        key = custom_key(sandbox, entity, label)
        found = Counter((o.get("custom_fields") or {}).get(key) for o in objects(sandbox, kind))
        expected = Counter(r["source_key"] for r in data[stream])
        assert found == expected, f"{stream}: {found} != {expected}"
    for stream, kind, text in (("activities", "activity", "note"), ("notes", "note", "content")):
        bodies = [str(o.get(text) or "") for o in objects(sandbox, kind)]
        assert len(bodies) == len(data[stream]), f"{stream}: {len(bodies)} objects for {len(data[stream])} records"
        for rec in data[stream]:
            assert sum(f"[ref:{rec['source_key']}]" in b for b in bodies) == 1, rec["source_key"]
    files = objects(sandbox, "file")
    assert sorted(f["name"] for f in files) == sorted(r["file_name"] for r in data["files"])
    types = Counter(t["name"] for t in objects(sandbox, "activity_type"))
    assert all(types[t["name"]] == 1 for t in data["activity_types"])
    fields = Counter((f["entity"], f["name"]) for f in objects(sandbox, "fields") if f["is_custom"])
    assert all(fields[(f["entity"], f["label"])] == 1 for f in data["custom_fields"])
