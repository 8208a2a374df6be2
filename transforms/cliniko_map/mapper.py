"""Apply the map: Cliniko records in, target-pipedrive contract records out.

    m = Map.load()                           # the packaged cliniko.yaml (or a path)
    target_send(m.definitions())             # custom fields first
    for stream, record in tap_records:
        for out_stream, out_record in m.apply(stream, record):
            target_send(out_stream, out_record)
    target_send(m.flush())                   # per-patient rollups (invoices, communications CSV)
    save(m.export_state())                   # with the run's STATE, for the next (delta) run

Every input record ends as output records, or in `result.skipped` / `result.deferred` /
`result.rolled_up` with a reason, so the audit can account for all of them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cliniko_map import policies as policies_module
from cliniko_map.artifacts import write_bytes
from cliniko_map.compiled import CompiledNeed, CompiledOutput, compile_rules
from cliniko_map.compiler import compile_map
from cliniko_map.evaluate import Env, Value
from cliniko_map.functions.patient_fields import cf_options
from cliniko_map.functions.people import owner_email, practitioner_label
from cliniko_map.memory import Memory
from cliniko_map.names import CLINIKO_STREAMS
from cliniko_map.spec import MapSpec, Output, Rollup, StreamSpec
from cliniko_map.state import State
from cliniko_map.walk import describe
from cliniko_map.yamlload import MapError, load_file, load_text

Record = tuple[str, dict[str, Any]]
MAX_DEPTH = 4  # re-mapping dependants of dependants stops here (the Cliniko graph is shallow)


class MapResult(list):
    """The contract records produced (a list of (stream, record)), plus what did not
    produce one: skipped (key, reason), deferred (key, what it waits for) and
    rolled_up (key, the record whose figures it feeds)."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: list[tuple[str, str]] = []
        self.deferred: list[tuple[str, str]] = []
        self.rolled_up: list[tuple[str, str]] = []

    def extend_result(self, other: MapResult) -> None:
        self.extend(other)
        self.skipped.extend(other.skipped)
        self.deferred.extend(other.deferred)
        self.rolled_up.extend(other.rolled_up)


def with_policies(spec: MapSpec, overrides: dict[str, Any] | None) -> MapSpec:
    """The spec with some policies overridden (checked like the file's; part of the digest)."""
    if not overrides:
        return spec
    values, problems = policies_module.resolve({**spec.policies, **overrides})
    if problems:
        raise MapError(f"{problems[0][1]} (given as an override)", spec.file)
    digest = hashlib.sha256((spec.digest + json.dumps(overrides, sort_keys=True, default=str)).encode()).hexdigest()
    return replace(spec, policies=values, digest=digest)


def default_map_path() -> Path:
    return Path(str(resources.files("cliniko_map").joinpath("cliniko.yaml")))


class Map:
    """A loaded, checked map plus its memory (lookups, waiting records, rollups)."""

    def __init__(self, spec: MapSpec, *, state: State | None = None, output_dir: str | Path | None = None,
                 now: datetime | None = None, planning: bool = False) -> None:
        self.spec = spec
        self.planning = planning  # {context: planning}: a dry run, whose attachments are not downloaded
        self._rules = compile_rules(spec)
        self.state = state or State()
        self.output_dir = Path(output_dir or "output/map").resolve()
        self.now = (now or datetime.now(UTC)).astimezone(UTC)
        self.artifact_paths: dict[str, Path] = {}
        self._option_cache: dict[str, list[str]] = {}

    @property
    def state(self) -> State:
        return self._state

    @state.setter
    def state(self, state: State) -> None:
        """Any state given to the map (the target puts one on its crosswalk) keeps the index of the fields its
        records watch, so `rows:` of them read ids instead of scanning the table."""
        state.indexed = dict(self._rules.watched)
        self._state = state

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None, *, state: dict[str, Any] | None = None,
             output_dir: str | Path | None = None, now: datetime | None = None,
             policies: dict[str, Any] | None = None, planning: bool = False, memory: Memory | None = None) -> Map:
        """Load and check a map file (default: the packaged cliniko.yaml).

        Raises MapError ("file:line: reason") for any problem. `state` is what
        `export_state()` returned at the end of the previous run; `output_dir` is where
        generated files (communication CSVs, workflow-reference.json) are written;
        `policies` overrides the file's policies (e.g. a target setting exclude_clinical);
        `planning` is what `{context: planning}` reads (a plan: files are described, not downloaded);
        `memory` is where the map's memory lives (default: this process; `state` is put into it).
        """
        file = Path(path) if path else default_map_path()
        spec = with_policies(compile_map(load_file(file), str(file)), policies)
        return cls(spec, state=State.from_dict(state, memory), output_dir=output_dir, now=now, planning=planning)

    @classmethod
    def from_text(cls, text: str, *, file: str = "<map>", policies: dict[str, Any] | None = None,
                  state: dict[str, Any] | None = None, **kwargs: Any) -> Map:
        spec = with_policies(compile_map(load_text(text, file), file), policies)
        return cls(spec, state=State.from_dict(state), **kwargs)

    # -- what the map says --------------------------------------------------------------------
    @property
    def confirmed(self) -> bool:
        return self.spec.confirmed

    @property
    def confirmed_plan(self) -> str | None:
        return self.spec.confirmed_plan

    @property
    def digest(self) -> str:
        """sha256 of the map without its confirmation block (changes whenever a rule does)."""
        return self.spec.digest

    @property
    def external_id_label(self) -> str:
        return self.spec.external_id_label

    @property
    def policies(self) -> dict[str, Any]:
        return dict(self.spec.policies)

    def describe(self) -> list[dict[str, Any]]:
        """Per Cliniko stream: what it becomes, the Cliniko fields read, the Pipedrive fields
        written and whether it is clinical (for the plan's privacy listing)."""
        return describe(self.spec)

    def practitioners(self) -> list[dict[str, Any]]:
        """Every practitioner seen, with the e-mail their activities and notes are owned by
        (None: unattributed), for the plan's practitioner -> Pipedrive user listing."""
        out = []
        for pid, row in self.state.table_rows("practitioners").items():
            user = self.state.row("users", row.get("user_id")) or {}
            out.append({"cliniko_id": pid, "name": practitioner_label(row, pid),
                        "active": row.get("active") is not False,
                        "email": owner_email(user.get("email"), self.spec.policies["unattributed_practitioner"])})
        return out

    def definitions(self) -> list[Record]:
        """custom_fields records to send before any person or product. An enum/set field
        whose options come from Cliniko's settings is left out until the settings stream
        has supplied them (Pipedrive needs options to create it); until then its values
        are left out of records too."""
        out = []
        for cf in self.spec.custom_fields.values():
            record: dict[str, Any] = {"source_key": f"{self.spec.prefix}:custom_field:{cf.entity}:{cf.id}",
                                      "entity": cf.entity, "label": cf.label, "field_type": cf.field_type}
            options = self._options(cf.id)
            if options:
                record["options"] = options
            elif cf.field_type in ("enum", "set"):
                continue
            out.append(("custom_fields", record))
        return out

    def _options(self, field_id: str) -> list[str]:
        if field_id not in self._option_cache:
            cf = self.spec.custom_fields[field_id]
            options = list(cf.options)
            if cf.options_from:
                definition = (self.state.row("settings", "settings") or {}).get("patient_custom_fields_definition")
                section, name = cf.options_from
                options += [o for o in cf_options(definition, name, section) if o not in options]
            self._option_cache[field_id] = options
        return self._option_cache[field_id]

    def _defined(self, field_id: str) -> bool:
        cf = self.spec.custom_fields[field_id]
        return cf.field_type not in ("enum", "set") or bool(self._options(field_id))

    # -- applying -------------------------------------------------------------------------------
    def apply(self, stream: str, record: dict[str, Any]) -> MapResult:
        """Map one tap record (as tap-cliniko emits it) to contract records."""
        result = MapResult()
        self._map(stream, record, result, remember=True, depth=0)
        return result

    def flush(self) -> MapResult:
        """Emit what waits for the end of a batch: person records with recomputed rollup
        figures, per-patient communication CSVs, and the reference files (written to
        output_dir). Call at the end of input (and best before relaying each STATE)."""
        result = MapResult()
        for batch in self.flush_batches():
            result.extend_result(batch)
        return result

    def flush_batches(self, size: int = 500) -> Iterator[MapResult]:
        """`flush`, `size` groups at a time: a caller that writes each batch before asking for the next never
        holds every patient's figures at once. The reference files are written after the last batch."""
        for rollup in self.spec.rollups.values():
            groups = self.state.dirty_groups(rollup.name)
            for start in range(0, len(groups), size):
                result = MapResult()
                for group in groups[start:start + size]:
                    self._flush_group(rollup, group, result)
                yield result
        for name in self.state.artifacts_dirty():
            artifact = self.spec.artifacts.get(name)
            if artifact is not None:
                value = self._rules.artifacts[name](self._env({}))
                data = value if isinstance(value, bytes) else (
                    json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
                path = self.output_dir / artifact.file
                write_bytes(path, data)
                self.artifact_paths[name] = path
            self.state.mark_artifact(name, dirty=False)

    def pending(self) -> list[tuple[str, str]]:
        """(source key, reason) for everything still waiting: records whose referenced row
        never arrived, and rollups whose person record is unknown."""
        out = [(self._key(stream, rid), f"waiting for {need}") for stream, rid, need in self.state.missing()]
        for rollup in self.spec.rollups.values():
            for group in self.state.dirty_groups(rollup.name):
                out.append((self._group_key(rollup, group), f"{rollup.name} figures wait for the person record"))
        return out

    def export_state(self) -> dict[str, Any]:
        """JSON-able memory to persist with the run's STATE and pass back to `Map.load` (an in-process memory
        only: a caller that gave its own `memory` keeps it there)."""
        return self.state.to_dict()

    def rollup_fields(self, rollup: str, parts: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        """Stateless rollup: person custom fields (by label) from ALL of a group's rows, e.g.
        every invoice (kept fields) of one patient. `apply`/`flush` use the same code."""
        spec = self.spec.rollups[rollup]
        computed = self._rules.rollups[rollup](self._env({}), **{p: parts.get(p, []) for p in spec.parts})
        return {self.spec.custom_fields[fid].label: computed.get(key) for fid, key in spec.custom_fields}

    # -- internals -----------------------------------------------------------------------------
    def _env(self, record: dict[str, Any], var_fns: dict[str, Value] | None = None) -> Env:
        return Env(record, self.state, self.now, self._rules.vars if var_fns is None else var_fns, self.planning)

    def _key(self, stream: str, rid: Any) -> str:
        return f"{self.spec.prefix}:{CLINIKO_STREAMS.get(stream, stream)}:{rid}"

    def _group_key(self, rollup: Rollup, group: str) -> str:
        return f"{self.spec.prefix}:{rollup.group_kind}:{group}"

    def _map(self, stream: str, record: dict[str, Any], result: MapResult, *, remember: bool, depth: int) -> None:
        spec = self.spec.streams.get(stream)
        rid = record.get("id")
        in_key = self._key(stream, rid)
        if spec is None:
            result.skipped.append((in_key, f"stream '{stream}' is not in the map"))
            return
        if rid in (None, ""):
            result.skipped.append((in_key, "record has no id"))
            return
        clinical_off = (spec.clinical and self.spec.policies["exclude_clinical"])
        if spec.rollup:
            self._rollup_part(spec, record, in_key, result, clinical_off)
        skip_reason: str | None = None
        for index, (output, rules) in enumerate(zip(spec.outputs, self._rules.outputs[stream], strict=True)):
            reason = self._output(spec, output, rules, record, result, clinical_off)
            if index == 0:
                skip_reason = reason
                if remember and spec.remembers:
                    self._remember(spec, record, skip_reason, result, depth)
                    remember = False
        if remember and spec.remembers:
            self._remember(spec, record, skip_reason, result, depth)
        if spec.skip:
            result.skipped.append((in_key, spec.skip))

    def _remember(self, spec: StreamSpec, record: dict[str, Any], skip_reason: str | None, result: MapResult,
                  depth: int) -> None:
        wanted = self._rules.remember_if.get(spec.name)
        if wanted is not None and not wanted(self._env(record)):
            return
        row = {name: record.get(name) for name in spec.remember}
        if skip_reason:
            row["_skip_reason"] = skip_reason
        rid = str(record["id"])
        before = self.state.row(spec.name, rid) or {}
        if not self.state.put_row(spec.name, rid, row):
            return
        for name, artifact in self.spec.artifacts.items():
            if spec.name in artifact.tables:
                self.state.mark_artifact(name)
        if spec.name == "settings":  # the clinic's own options for fields that take them from settings
            self._option_cache.clear()
            sourced = {f"{self.spec.prefix}:custom_field:{cf.entity}:{cf.id}"
                       for cf in self.spec.custom_fields.values() if cf.options_from}
            result.extend(r for r in self.definitions() if r[1]["source_key"] in sourced)
        if depth < MAX_DEPTH:
            for stream, dependant in self._dependants(spec.name, rid, row, before):
                self._map(stream, dependant, result, remember=False, depth=depth + 1)

    def _dependants(self, table: str, rid: str, row: dict[str, Any], before: dict[str, Any]
                    ) -> list[tuple[str, dict[str, Any]]]:
        """Records that used this row: by its id, or (watched) by a field pointing at them, now or before."""
        found = self.state.dependants(table, rid)
        for name in self._rules.watched.get(table, ()):
            for value in dict.fromkeys((row.get(name), before.get(name))):
                found += self.state.watchers(table, name, value)
        unique = {(stream, str(record["id"])): (stream, record) for stream, record in found}
        return list(unique.values())

    def _waiting_on(self, needs: tuple[CompiledNeed, ...], env: Env, stream: str, record: dict[str, Any],
                    keep_watching: bool) -> str | None:
        """Register the record as dependant on each needed row; the first missing one, if any."""
        missing = None
        for need in needs:
            value = need.by(env)
            if need.where is not None:  # rows pointing at this record: any number, so never missing
                if keep_watching and value not in (None, ""):
                    self.state.watch(need.table, need.where, str(value), stream, record)
                continue
            row_ids = [v for v in (value if isinstance(value, list) else [value]) if v not in (None, "")]
            if not row_ids:
                return f"no {need.table} reference"
            for row_id in row_ids:
                present = self.state.row(need.table, row_id) is not None
                if keep_watching or not present:
                    self.state.wait_for(need.table, str(row_id), stream, record)
                if not present and missing is None:
                    missing = f"{need.table}:{row_id}"
        return missing

    def _output(self, spec: StreamSpec, output: Output, rules: CompiledOutput, record: dict[str, Any],
                result: MapResult, clinical_off: bool) -> str | None:
        """Build one output record; returns the skip reason (None when emitted or deferred)."""
        env = self._env(record, rules.vars)
        by = rules.key_by(env)
        key = self._key(spec.name, record["id"]) if by in (None, "") else f"{rules.key_head}{by}"
        if clinical_off or (output.clinical and self.spec.policies["exclude_clinical"]):
            result.skipped.append((key, "privacy: exclude_clinical"))
            return "privacy: exclude_clinical"
        if rules.needs:
            waiting = self._waiting_on(rules.needs, env, spec.name, record, keep_watching=True)
            if waiting and waiting.startswith("no "):
                result.skipped.append((key, waiting))
                return waiting
            if waiting:
                result.deferred.append((key, f"waiting for {waiting}"))
                return None
        for rule, line in rules.skip_if:
            reason = rule(env)
            if reason:
                text = reason if isinstance(reason, str) else f"skip rule on line {line}"
                result.skipped.append((key, text))
                return text
        out: dict[str, Any] = {"source_key": key}
        for name, field in rules.fields:
            value = field(env)
            if value is not None:
                out[name] = value
        if output.custom_fields:
            out["custom_fields"] = {label: field(env) for label, fid, field in rules.custom_fields
                                    if self._defined(fid)}
        if output.to == "persons":
            self.state.put_person(key, json.loads(json.dumps(out)))
            out = self._with_rollups(key, out)
        result.append((output.to, out))
        return None

    def _with_rollups(self, person_key: str, person: dict[str, Any]) -> dict[str, Any]:
        merged = dict(person)
        for rollup in self.spec.rollups.values():
            prefix = f"{self.spec.prefix}:{rollup.group_kind}:"
            if rollup.into != "persons" or not person_key.startswith(prefix):
                continue
            group = person_key[len(prefix):]
            rows = self.state.group_rows(rollup.name, group)
            if rows is None:
                continue
            merged["custom_fields"] = {**merged.get("custom_fields", {}), **self.rollup_fields(rollup.name, rows)}
            self.state.clean(rollup.name, group)
        return merged

    def _rollup_part(self, spec: StreamSpec, record: dict[str, Any], in_key: str, result: MapResult,
                     clinical_off: bool) -> None:
        rollup = self.spec.rollups[spec.rollup or ""]
        part = self._rules.parts[(rollup.name, spec.name)]
        env = self._env(record)
        rid = str(record["id"])
        if part.only_if is not None and not part.only_if(env):
            # not this rollup's record (an appointment after the history cutoff): its outputs say what became
            # of it; a row it left here before (rescheduled across the cutoff) goes
            group = part.by(env)
            if group not in (None, ""):
                self.state.drop_part(rollup.name, str(group), spec.name, rid)
            return
        if part.needs:
            waiting = self._waiting_on(part.needs, env, spec.name, record, keep_watching=False)
            if waiting:
                (result.skipped if waiting.startswith("no ") else result.deferred).append(
                    (in_key, waiting if waiting.startswith("no ") else f"waiting for {waiting}"))
                return
        group = part.by(env)
        if group in (None, ""):
            result.skipped.append((in_key, f"no {rollup.group_kind} to add it to"))
            return
        group = str(group)
        reason = "privacy: exclude_clinical" if clinical_off else None
        for rule, line in part.skip_if:
            if reason:
                break
            found = rule(env)
            reason = (found if isinstance(found, str) else f"skip rule on line {line}") if found else None
        if reason:
            self.state.drop_part(rollup.name, group, spec.name, rid)
            result.skipped.append((in_key, reason))
            return
        row = {name: keep(env) for name, keep in part.keep}
        row.setdefault("id", rid)
        self.state.put_part(rollup.name, group, spec.name, rid, row)
        result.rolled_up.append((in_key, self._group_key(rollup, group)))

    def _group_skip_reason(self, rollup: Rollup, group: str) -> str | None:
        table = next((s for s, kind in CLINIKO_STREAMS.items() if kind == rollup.group_kind), None)
        row = self.state.row(table, group) if table else None
        return (row or {}).get("_skip_reason")

    def _flush_group(self, rollup: Rollup, group: str, result: MapResult) -> None:
        person_key = self._group_key(rollup, group)
        skipped = self._group_skip_reason(rollup, group)
        if skipped:
            result.skipped.append((f"{self.spec.prefix}:{rollup.key_kind}:{group}",
                                   f"{rollup.group_kind} not migrated ({skipped})"))
            self.state.clean(rollup.name, group)
            return
        rows = self.state.group_rows(rollup.name, group) or {}
        if rollup.into == "persons":
            base = self.state.person(person_key)
            if base is None:
                result.deferred.append((person_key, f"{rollup.name} figures wait for the person record"))
                return
            result.append(("persons", self._with_rollups(person_key, base)))
            return
        if not any(rows.values()):
            self.state.clean(rollup.name, group)
            return
        data = self._rules.rollups[rollup.name](self._env({}), **{p: rows.get(p, []) for p in rollup.parts})
        path = self.output_dir / rollup.name / f"{group}{Path(rollup.file_name or '').suffix}"
        digest = write_bytes(path, data)
        result.append(("files", {"source_key": f"{self.spec.prefix}:{rollup.key_kind}:{group}",
                                 "person_source_key": person_key, "local_path": str(path), "sha256": digest,
                                 "file_name": rollup.file_name}))
        self.state.clean(rollup.name, group)
