"""`target-pipedrive-plan`: target-pipedrive in plan mode that also writes the plan report.

A plan run writes nothing to Pipedrive and stores only a run row and `planned` audit rows
(plan.py). The plan report (planreport.py) and `setup` also need what the map learnt from
Cliniko on the way: the practitioners and their users, the clinic's own custom-field
definition, the exact definition records (custom fields with the clinic's options, activity
types) and the contact details of the persons. This target keeps them, once, at the end of
input, under `plan_details:<run id>` in the crosswalk: never patient values, only source keys
and counts. At the end it writes plan.json and plan.html (planreport.py) into `plan_out_dir`.
"""

from __future__ import annotations

import hashlib
import sys
from collections import defaultdict
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

from target_pipedrive.crosswalk import Crosswalk
from target_pipedrive.errors import ConfigError, RecordError, StopRun, TargetError
from target_pipedrive.pipedrive.client import PipedriveClient
from target_pipedrive.settings import CONFIG_SCHEMA, Settings
from target_pipedrive.target import TargetPipedrive
from target_pipedrive.workflow import planreport
from target_pipedrive.workflow.planreport import details_key
from target_pipedrive.write.writer import Writer

DEFAULT_OUT_DIR = "output/plan"
DEFINITION_STREAMS = ("custom_fields", "activity_types")
MAX_KEYS = 1000  # per warning list: enough to act on, bounded for a huge clinic


class PlanObserver:
    """Sees every contract record the plan hands to the Writer (the map's output)."""

    def __init__(self) -> None:
        self.definitions: dict[str, dict[str, Any]] = {}  # source key -> last record (stream in it)
        self.persons = 0
        self.no_contact: list[str] = []
        self.no_contact_total = 0
        self._emails: dict[str, list[str]] = defaultdict(list)  # sha256 of the e-mail -> person source keys
        self._person_keys: set[str] = set()  # rollups re-send persons: each is looked at once

    def see(self, stream: str, record: dict[str, Any]) -> None:
        key = record.get("source_key")
        if not isinstance(key, str):
            return
        if stream in DEFINITION_STREAMS:
            self.definitions[key] = {"stream": stream, "record": record}
        elif stream == "persons" and key.startswith("cliniko:patient:") and key not in self._person_keys:
            self._person_keys.add(key)
            self.persons += 1
            emails = {str(e.get("value") or "").strip().casefold() for e in record.get("emails") or []
                      if isinstance(e, dict)} - {""}
            phones = [p for p in record.get("phones") or [] if isinstance(p, dict) and p.get("value")]
            address = (record.get("custom_fields") or {}).get("Postal address") or record.get("postal_address")
            if not emails and not phones and not address:
                self.no_contact_total += 1
                if len(self.no_contact) < MAX_KEYS:
                    self.no_contact.append(key)
            for email in emails:  # hashed: the details never hold patient data
                self._emails[hashlib.sha256(email.encode()).hexdigest()].append(key)

    def duplicate_emails(self) -> list[list[str]]:
        groups = [sorted(set(keys)) for keys in self._emails.values() if len(set(keys)) > 1]
        return sorted(groups)[:MAX_KEYS]


def clinic_field_targets(m: Any) -> list[dict[str, Any]]:
    """Where the map sends the clinic's own patient custom fields: [{section, field, label}] plus
    the catch-all ({label, exclude_sections}) that takes every field not named."""
    out: list[dict[str, Any]] = []
    for spec in m.spec.streams.values():
        for output in spec.outputs:
            for fid, value in output.custom_fields:
                kwargs = dict(getattr(value, "kwargs", ()) or ())
                consts = {k: getattr(v, "value", None) for k, v in kwargs.items()}
                label = m.spec.custom_fields[fid].label
                fn = getattr(value, "fn", None)
                if fn == "cf_other_text":
                    out.append({"label": label, "catch_all": True,
                                "exclude_sections": list(consts.get("exclude_sections") or []),
                                "exclude_fields": list(consts.get("exclude_fields") or [])})
                elif isinstance(fn, str) and fn.startswith("cf_") and consts.get("field"):
                    out.append({"label": label, "section": consts.get("section"), "field": consts["field"]})
    return out


class PlanTarget(TargetPipedrive):
    """Always plans (mode is forced to plan), stores the plan's details and writes the plan report."""

    config_jsonschema = {**CONFIG_SCHEMA, "properties": {**CONFIG_SCHEMA["properties"], "plan_out_dir": {
        "type": ["string", "null"], "default": DEFAULT_OUT_DIR,
        "description": "Folder for plan.json and plan.html (relative to the working directory)."}}}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.observer = PlanObserver()

    @cached_property
    def settings(self) -> Settings:
        """Plan mode; before the first confirmation the `map` file does not exist yet: plan the packaged map."""
        try:
            settings = Settings.from_config({**dict(self.config), "mode": "plan"})
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if settings.map_path and not Path(settings.map_path).exists():
            print(f"[target-pipedrive] plan: {settings.map_path} (setting `map`) does not exist yet, so this plans "
                  "the packaged map; `confirm-map` writes it there once you have reviewed the plan.",
                  file=sys.stderr, flush=True)
            settings = replace(settings, map_path=None)
        return settings

    @property
    def writer(self) -> Writer:
        created = self._writer is None
        writer = super().writer
        if created:
            writer.observers.append(self.observer.see)
        return writer

    def process_endofpipe(self) -> None:
        if self._mapping is not None or self._writer is not None:
            self.writer.crosswalk.put_value(details_key(self.writer.run_id), self.details())
        super().process_endofpipe()
        run_id = self._writer.run_id if self._writer is not None else None
        if run_id is not None:
            self.write_report(run_id)
        if self.exit_code == 1:  # failed or held records are findings of the plan, listed in its report
            print("[target-pipedrive] plan: some records would fail or wait for a parent; the plan report lists "
                  "them (`meltano invoke target-pipedrive:plan`; without Meltano: `target-pipedrive-admin --config "
                  "TARGET.json plan`).", file=sys.stderr, flush=True)
            self.exit_code = 0

    def write_report(self, run_id: str) -> None:
        """plan.json + plan.html of this run; a failure here is reported, the plan itself stays stored."""
        out_dir = Path(str(self.config.get("plan_out_dir") or DEFAULT_OUT_DIR))
        crosswalk = Crosswalk(self.settings.crosswalk_url)
        client = PipedriveClient.from_settings(self.settings, crosswalk.tokens_spent, None)
        try:
            document = planreport.build(crosswalk, client, self.settings, run_id)
            planreport.write(document, out_dir)
        except (TargetError, StopRun, RecordError) as exc:
            print(f"target-pipedrive: the plan is stored, but its report could not be written: {exc}; run "
                  "`meltano invoke target-pipedrive:plan` (without Meltano: `target-pipedrive-admin --config "
                  "TARGET.json plan`) to write it.", file=sys.stderr, flush=True)
            self.exit_code = getattr(exc, "exit_code", 2)
            return
        finally:
            crosswalk.close()
        print(f"[target-pipedrive] {planreport.summary_line(document, out_dir)}", file=sys.stderr, flush=True)

    def details(self) -> dict[str, Any]:
        observer = self.observer
        out: dict[str, Any] = {
            "definitions": list(observer.definitions.values()),
            "persons": observer.persons,
            "no_contact": observer.no_contact,
            "no_contact_total": observer.no_contact_total,
            "duplicate_emails": observer.duplicate_emails(),
            "map_digest": None, "map_file": self.settings.map_path, "practitioners": [],
            "clinic_custom_fields": None, "privacy": [], "policies": {}, "clinic_field_targets": [],
        }
        if self._mapping is not None:
            m = self._mapping.map
            # the enum fields whose options come from the clinic's settings, as the map would send them now
            for stream, record in m.definitions():
                out["definitions"] = [d for d in out["definitions"] if d["record"].get("source_key")
                                      != record["source_key"]] + [{"stream": stream, "record": record}]
            out["map_digest"] = m.digest
            out["privacy"] = m.describe()
            out["policies"] = {k: v for k, v in m.policies.items() if isinstance(v, str | bool | int | None)}
            out["clinic_field_targets"] = clinic_field_targets(m)
            out["practitioners"] = m.practitioners()
            settings = m.state.row("settings", "settings") or {}
            out["clinic_custom_fields"] = settings.get("patient_custom_fields_definition")
        return out
