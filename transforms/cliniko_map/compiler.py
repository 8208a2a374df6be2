"""Check the map's YAML and compile it into spec objects.

Everything a record will need is checked here, once, with the line it came from: known
streams and contract fields, function names and their arguments, lookups of tables and
fields some stream remembers, defined vars and custom fields, policy values. A map that
loads is a map that can run.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from typing import Any

from cliniko_map import policies
from cliniko_map.functions import FUNCTIONS
from cliniko_map.names import CLINIKO_STREAMS, CONTRACT, CUSTOM_FIELD_ENTITY, FIELD_TYPES
from cliniko_map.spec import (
    Artifact,
    Call,
    Const,
    ContextRef,
    CustomField,
    From,
    Lookup,
    MapSpec,
    Need,
    Output,
    Part,
    PolicyRef,
    Rollup,
    Rows,
    SourceKey,
    Spec,
    StreamSpec,
    TableRef,
    VarRef,
)
from cliniko_map.yamlload import LDict, LList, MapError, line_of

SPEC_KEYS = ("from", "const", "policy", "lookup", "var", "source_key", "fn", "table", "rows", "context")
CONTEXT_NAMES = ("now", "planning")  # the clock; whether this is a plan (a dry run: files are not downloaded)

VarSpecs = tuple[tuple[str, Spec], ...]


# -- the compiler ---------------------------------------------------------------------------------
class _Compiler:
    def __init__(self, file: str) -> None:
        self.file = file
        self.remembered: dict[str, tuple[str, ...]] = {}
        self.policy_names = set(policies.POLICIES)
        self.global_vars: set[str] = set()
        self.custom_fields: dict[str, CustomField] = {}

    def fail(self, reason: str, line: int) -> MapError:
        return MapError(reason, self.file, line or None)

    def mapping(self, value: Any, what: str, line: int, allowed: tuple[str, ...] | None = None,
                required: tuple[str, ...] = ()) -> LDict:
        if not isinstance(value, dict):
            raise self.fail(f"{what} must be a mapping", line_of(value, line))
        node = value if isinstance(value, LDict) else LDict(value)
        for key in node:
            if allowed is not None and key not in allowed:
                raise self.fail(f"{what}: unknown key '{key}' (allowed: {', '.join(allowed)})",
                                node.line_of(key) or line)
        for key in required:
            if key not in node:
                raise self.fail(f"{what}: '{key}' is required", line_of(node, line))
        return node

    def sequence(self, value: Any, what: str, line: int) -> LList:
        if value is None:
            return LList()
        if not isinstance(value, list):
            raise self.fail(f"{what} must be a list", line_of(value, line))
        return value if isinstance(value, LList) else LList(value)

    def text(self, value: Any, what: str, line: int) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{what} must be non-empty text", line)
        return value

    # value specs ---------------------------------------------------------------------------
    def spec(self, raw: Any, line: int, where: str, vars_: set[str], literal_strings: bool = False) -> Spec:
        """Compile a value spec: 'a.b' (a record field), or {from|const|policy|lookup|var|
        source_key|fn|table|rows|context: ...}; with literal_strings, plain values are constants."""
        if isinstance(raw, str) and not literal_strings:
            return From(line, tuple(raw.split(".")))
        if not isinstance(raw, dict) or not (set(raw) & set(SPEC_KEYS)):
            if isinstance(raw, dict | list) and not literal_strings:
                raise self.fail(f"{where}: expected a field name or one of {{{', '.join(SPEC_KEYS)}}}", line)
            return Const(line, _plain(raw))
        line = line_of(raw, line)
        kinds = [k for k in SPEC_KEYS if k in raw]
        if len(kinds) != 1:
            raise self.fail(f"{where}: a value takes exactly one of {', '.join(SPEC_KEYS)} (got {', '.join(kinds)})",
                            line)
        kind = kinds[0]
        extra = {"lookup": ("by", "field"), "source_key": ("by",), "fn": ("args", "with"),
                 "rows": ("where", "by")}.get(kind, ())
        node = self.mapping(raw, where, line, allowed=(kind, *extra))
        value = node[kind]
        if kind == "from":
            return From(line, tuple(self.text(value, f"{where}: from", line).split(".")))
        if kind == "const":
            return Const(line, _plain(value))
        if kind == "policy":
            if value not in self.policy_names:
                raise self.fail(f"{where}: unknown policy '{value}'", line)
            return PolicyRef(line, value)
        if kind == "context":
            if value not in CONTEXT_NAMES:
                raise self.fail(f"{where}: unknown context value '{value}' (known: {', '.join(CONTEXT_NAMES)})", line)
            return ContextRef(line, value)
        if kind == "table":
            self.check_table(value, where, line)
            return TableRef(line, value)
        if kind == "var":
            name, *path = self.text(value, f"{where}: var", line).split(".")
            if name not in vars_:
                known = ", ".join(sorted(vars_)) or "none"
                raise self.fail(f"{where}: var '{name}' is not defined here (defined: {known})", line)
            return VarRef(line, name, tuple(path))
        if kind == "lookup":
            self.check_table(value, where, line)
            if "by" not in node:
                raise self.fail(f"{where}: lookup needs 'by'", line)
            wanted = node.get("field")
            if wanted is not None and wanted not in ("id", "_skip_reason", *self.remembered[value]):
                raise self.fail(f"{where}: stream '{value}' does not remember field '{wanted}' "
                                f"(add it to streams.{value}.remember)", node.line_of("field"))
            return Lookup(line, value, self.spec(node["by"], node.line_of("by"), where, vars_), wanted)
        if kind == "rows":
            where_field = self.where_field(node, value, where, line)
            if "by" not in node:
                raise self.fail(f"{where}: rows needs 'by' (the value its '{where_field}' must equal)", line)
            return Rows(line, value, where_field, self.spec(node["by"], node.line_of("by"), where, vars_))
        if kind == "source_key":
            if "by" not in node:
                raise self.fail(f"{where}: source_key needs 'by'", line)
            return SourceKey(line, self.text(value, f"{where}: source_key", line),
                             self.spec(node["by"], node.line_of("by"), where, vars_))
        return self.call(node, line, where, vars_)

    def call(self, node: LDict, line: int, where: str, vars_: set[str], extra: tuple[str, ...] = ()) -> Call:
        """A function call; `extra` names keyword arguments supplied at run time (rollup parts)."""
        name = node["fn"]
        fn = FUNCTIONS.get(name) if isinstance(name, str) else None
        if fn is None:
            raise self.fail(f"{where}: unknown function '{name}'", line)
        raw_args = self.sequence(node.get("args"), f"{where}: args", line)
        args = tuple(self.spec(a, raw_args.line_of(i) or line, where, vars_) if isinstance(a, str | dict)
                     else Const(line, a) for i, a in enumerate(raw_args))
        raw_with = self.mapping(node.get("with") or LDict(), f"{where}: with", line)
        kwargs = tuple((str(k), self.spec(v, raw_with.line_of(k) or line, where, vars_, literal_strings=True))
                       for k, v in raw_with.items())
        try:
            inspect.signature(fn).bind(*args, **dict(kwargs), **dict.fromkeys(extra))
        except TypeError as exc:
            raise self.fail(f"{where}: {name}() {exc}", line) from None
        return Call(line, name, args, kwargs)

    def where_field(self, node: LDict, table: Any, where: str, line: int) -> str:
        """The `where:` field of a one-to-many reference: a field `table` remembers."""
        self.check_table(table, where, line)
        name = node.get("where")
        if not isinstance(name, str) or not name:
            raise self.fail(f"{where}: '{table}' rows need 'where' (the field that points at this record)", line)
        if name not in self.remembered[table]:
            raise self.fail(f"{where}: stream '{table}' does not remember field '{name}' "
                            f"(add it to streams.{table}.remember)", node.line_of("where") or line)
        return name

    def check_table(self, name: Any, where: str, line: int) -> None:
        if name not in self.remembered:
            raise self.fail(f"{where}: no stream remembers '{name}' (remembered: "
                            f"{', '.join(sorted(self.remembered)) or 'none'})", line)

    def vars_block(self, raw: Any, line: int, where: str, outer: set[str]) -> tuple[VarSpecs, set[str]]:
        node = self.mapping(raw or LDict(), where, line)
        names = set(outer)
        out = []
        for name, value in node.items():
            out.append((str(name), self.spec(value, node.line_of(name), f"{where}.{name}", names)))
            names.add(str(name))  # later vars may use earlier ones
        return tuple(out), names

    def needs(self, raw: Any, line: int, where: str, vars_: set[str], rows: bool = True) -> tuple[Need, ...]:
        """`{table, by}`: a row (or each id of a list) the output waits for; `{table, where, by}`
        (when `rows`): the rows pointing at this record, watched so it is mapped again when they change."""
        items = self.sequence(raw, f"{where}.needs", line)
        out = []
        for i, item in enumerate(items):
            node = self.mapping(item, f"{where}.needs", items.line_of(i),
                                allowed=("table", "by", "where") if rows else ("table", "by"), required=("table", "by"))
            self.check_table(node["table"], f"{where}.needs", node.line)
            field = self.where_field(node, node["table"], f"{where}.needs", node.line) if "where" in node else None
            out.append(Need(node["table"], self.spec(node["by"], node.line_of("by"), f"{where}.needs", vars_),
                            node.line, field))
        return tuple(out)

    def skip_if(self, raw: Any, line: int, where: str, vars_: set[str]) -> tuple[Spec, ...]:
        items = self.sequence(raw, f"{where}.skip_if", line)
        return tuple(self.spec(item, items.line_of(i), f"{where}.skip_if", vars_) for i, item in enumerate(items))


def _plain(value: Any) -> Any:
    """LDict/LList -> plain dict/list (constants must compare and hash like data)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _digest(raw: dict[str, Any]) -> str:
    """sha256 of the map's content without its confirmation block: what a confirmation covers."""
    body = {k: _plain(v) for k, v in raw.items() if k != "confirmation"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


TOP_KEYS = ("version", "confirmation", "external_id_label", "source_key_prefix", "policies", "custom_fields", "vars",
            "streams", "rollups", "artifacts")


def compile_map(raw: Any, file: str) -> MapSpec:
    """Check and compile a parsed map; raises MapError(file, line, reason) on the first problem."""
    c = _Compiler(file)
    top = c.mapping(raw, "the map", 1, allowed=TOP_KEYS, required=("version", "streams"))
    if top["version"] != 1:
        raise c.fail("version must be 1", top.line_of("version"))
    conf = c.mapping(top.get("confirmation") or LDict(), "confirmation", top.line_of("confirmation"),
                     allowed=("confirmed", "confirmed_plan"))
    if not isinstance(conf.get("confirmed", False), bool):
        raise c.fail("confirmation.confirmed must be true or false", conf.line_of("confirmed"))
    plan = conf.get("confirmed_plan")
    if plan is not None and not isinstance(plan, str):
        raise c.fail("confirmation.confirmed_plan must be text (the plan's hash) or null",
                     conf.line_of("confirmed_plan"))
    raw_policies = c.mapping(top.get("policies") or LDict(), "policies", top.line_of("policies"))
    values, problems = policies.resolve(raw_policies)
    if problems:
        name, reason = problems[0]
        raise c.fail(reason, raw_policies.line_of(name))

    streams_raw = c.mapping(top["streams"], "streams", top.line_of("streams"))
    for name in streams_raw:
        if name not in CLINIKO_STREAMS:
            raise c.fail(f"unknown Cliniko stream '{name}' (known: {', '.join(CLINIKO_STREAMS)})",
                         streams_raw.line_of(name))
        body = c.mapping(streams_raw[name], f"streams.{name}", streams_raw.line_of(name))
        if "remember" in body:
            fields = c.sequence(body["remember"], f"streams.{name}.remember", body.line_of("remember"))
            if not all(isinstance(f, str) and f for f in fields):
                raise c.fail(f"streams.{name}.remember must list field names", body.line_of("remember"))
            c.remembered[name] = tuple(fields)

    c.custom_fields = _custom_fields(c, top.get("custom_fields"), top.line_of("custom_fields"))
    global_vars, c.global_vars = c.vars_block(top.get("vars"), top.line_of("vars"), "vars", set())
    rollups_raw = c.mapping(top.get("rollups") or LDict(), "rollups", top.line_of("rollups"))
    streams = {name: _stream(c, name, streams_raw[name], streams_raw.line_of(name), rollups_raw)
               for name in streams_raw}
    rollups = {name: _rollup(c, name, rollups_raw[name], rollups_raw.line_of(name), streams)
               for name in rollups_raw}
    artifacts_raw = c.mapping(top.get("artifacts") or LDict(), "artifacts", top.line_of("artifacts"))
    artifacts = {}
    for name, body in artifacts_raw.items():
        node = c.mapping(body, f"artifacts.{name}", artifacts_raw.line_of(name), allowed=("file", "compute"),
                         required=("file", "compute"))
        file_name = c.text(node["file"], f"artifacts.{name}.file", node.line_of("file"))
        if "/" in file_name or "\\" in file_name or file_name.startswith("."):
            raise c.fail(f"artifacts.{name}.file must be a plain file name", node.line_of("file"))
        compute = c.spec(node["compute"], node.line_of("compute"), f"artifacts.{name}.compute", c.global_vars)
        if not isinstance(compute, Call):
            raise c.fail(f"artifacts.{name}.compute must be a function call (fn:)", node.line_of("compute"))
        tables = frozenset(a.name for a in compute.args if isinstance(a, TableRef))
        artifacts[name] = Artifact(name, file_name, compute, tables)

    prefix = c.text(top.get("source_key_prefix", "cliniko"), "source_key_prefix", top.line_of("source_key_prefix"))
    return MapSpec(
        file=file, confirmed=bool(conf.get("confirmed", False)), confirmed_plan=plan,
        external_id_label=c.text(top.get("external_id_label", "Cliniko ID"), "external_id_label",
                                 top.line_of("external_id_label")),
        prefix=prefix, policies=values, custom_fields=c.custom_fields, vars=global_vars, streams=streams,
        rollups=rollups, artifacts=artifacts, digest=_digest(top), remembered=dict(c.remembered))


def _custom_fields(c: _Compiler, raw: Any, line: int) -> dict[str, CustomField]:
    node = c.mapping(raw or LDict(), "custom_fields", line)
    out: dict[str, CustomField] = {}
    labels: dict[tuple[str, str], str] = {}
    for fid, body in node.items():
        where, at = f"custom_fields.{fid}", node.line_of(fid)
        item = c.mapping(body, where, at, allowed=("entity", "label", "field_type", "options", "options_from"),
                         required=("entity", "label", "field_type"))
        if item["entity"] not in ("person", "product"):
            raise c.fail(f"{where}.entity must be person or product", item.line_of("entity"))
        label = c.text(item["label"], f"{where}.label", item.line_of("label"))
        if item["field_type"] not in FIELD_TYPES:
            raise c.fail(f"{where}.field_type must be one of {', '.join(FIELD_TYPES)}", item.line_of("field_type"))
        seen = labels.get((item["entity"], label.casefold()))
        if seen:
            raise c.fail(f"{where}: label '{label}' is already used by custom_fields.{seen}", item.line_of("label"))
        labels[(item["entity"], label.casefold())] = str(fid)
        options = c.sequence(item.get("options"), f"{where}.options", item.line_of("options"))
        if not all(isinstance(o, str) and o for o in options) or len(set(options)) != len(options):
            raise c.fail(f"{where}.options must be distinct non-empty labels", item.line_of("options"))
        source = None
        if "options_from" in item:
            src = c.mapping(item["options_from"], f"{where}.options_from", item.line_of("options_from"),
                            allowed=("section", "field"), required=("field",))
            source = (src.get("section"), c.text(src["field"], f"{where}.options_from.field", src.line))
        if (options or source) and item["field_type"] not in ("enum", "set"):
            raise c.fail(f"{where}: only enum and set fields have options", item.line_of("field_type"))
        out[str(fid)] = CustomField(str(fid), item["entity"], label, item["field_type"], tuple(options), source)
    return out


OUTPUT_KEYS = ("to", "key", "needs", "vars", "skip_if", "fields", "custom_fields", "clinical", "clinical_fields")


def _stream(c: _Compiler, name: str, raw: Any, line: int, rollups_raw: LDict) -> StreamSpec:
    where = f"streams.{name}"
    node = c.mapping(raw, where, line, allowed=("remember", "remember_if", "skip", "rollup", "outputs", "clinical"))
    skip = node.get("skip")
    if skip is not None:
        c.text(skip, f"{where}.skip", node.line_of("skip"))
    rollup = node.get("rollup")
    if rollup is not None and rollup not in rollups_raw:
        raise c.fail(f"{where}.rollup: no rollup named '{rollup}'", node.line_of("rollup"))
    items = c.sequence(node.get("outputs"), f"{where}.outputs", node.line_of("outputs"))
    outputs = tuple(_output(c, f"{where}.outputs[{i}]", item, items.line_of(i)) for i, item in enumerate(items))
    if not outputs and rollup is None and skip is None:
        raise c.fail(f"{where}: give outputs, a rollup, or skip: <reason> (every record must end somewhere)", line)
    if skip is not None and outputs:
        raise c.fail(f"{where}: skip and outputs exclude each other", node.line_of("skip"))
    clinical = node.get("clinical", False)
    if not isinstance(clinical, bool):
        raise c.fail(f"{where}.clinical must be true or false", node.line_of("clinical"))
    remember_if = node.get("remember_if")
    if remember_if is not None and name not in c.remembered:
        raise c.fail(f"{where}.remember_if: the stream remembers nothing", node.line_of("remember_if"))
    return StreamSpec(name, name in c.remembered, c.remembered.get(name, ()), skip, rollup, outputs, clinical, line,
                      None if remember_if is None else
                      c.spec(remember_if, node.line_of("remember_if"), f"{where}.remember_if", c.global_vars))


def _key(c: _Compiler, raw: Any, line: int, where: str, vars_: set[str]) -> tuple[str, Spec]:
    if isinstance(raw, str):
        return c.text(raw, where, line), From(line, ("id",))
    node = c.mapping(raw, where, line, allowed=("kind", "by"), required=("kind",))
    by = c.spec(node["by"], node.line_of("by"), where, vars_) if "by" in node else From(line, ("id",))
    return c.text(node["kind"], f"{where}.kind", node.line_of("kind")), by


def _output(c: _Compiler, where: str, raw: Any, line: int) -> Output:
    node = c.mapping(raw, where, line, allowed=OUTPUT_KEYS, required=("to", "key", "fields"))
    to = node["to"]
    if to not in CONTRACT:
        raise c.fail(f"{where}.to: '{to}' is not a target-pipedrive stream ({', '.join(CONTRACT)})", node.line_of("to"))
    vars_, names = c.vars_block(node.get("vars"), node.line_of("vars"), f"{where}.vars", c.global_vars)
    key_kind, key_by = _key(c, node["key"], node.line_of("key"), f"{where}.key", names)
    fields_raw = c.mapping(node["fields"], f"{where}.fields", node.line_of("fields"))
    fields = []
    for fname, value in fields_raw.items():
        if fname not in CONTRACT[to] or fname in ("source_key", "custom_fields"):
            allowed = sorted(CONTRACT[to] - {"source_key", "custom_fields"})
            raise c.fail(f"{where}.fields: '{fname}' is not a field of {to} (fields: {', '.join(allowed)})",
                         fields_raw.line_of(fname))
        fields.append((str(fname), c.spec(value, fields_raw.line_of(fname), f"{where}.fields.{fname}", names)))
    custom = []
    if "custom_fields" in node:
        entity = CUSTOM_FIELD_ENTITY.get(to)
        if entity is None:
            raise c.fail(f"{where}: {to} records have no custom fields in Pipedrive", node.line_of("custom_fields"))
        cf_raw = c.mapping(node["custom_fields"], f"{where}.custom_fields", node.line_of("custom_fields"))
        for fid, value in cf_raw.items():
            _check_field_id(c, str(fid), entity, f"{where}.custom_fields", cf_raw.line_of(fid))
            custom.append((str(fid), c.spec(value, cf_raw.line_of(fid), f"{where}.custom_fields.{fid}", names)))
    clinical_fields = c.sequence(node.get("clinical_fields"), f"{where}.clinical_fields",
                                 node.line_of("clinical_fields"))
    for fname in clinical_fields:
        if fname not in dict(fields) and fname not in dict(custom):
            raise c.fail(f"{where}.clinical_fields: '{fname}' is not mapped by this output",
                         node.line_of("clinical_fields"))
    clinical = node.get("clinical", False)
    if not isinstance(clinical, bool):
        raise c.fail(f"{where}.clinical must be true or false", node.line_of("clinical"))
    needs = c.needs(node.get("needs"), node.line_of("needs"), where, names)
    skip_if = c.skip_if(node.get("skip_if"), node.line_of("skip_if"), where, names)
    return Output(to=to, key_kind=key_kind, key_by=key_by, needs=needs, vars=vars_, skip_if=skip_if,
                  fields=tuple(fields), custom_fields=tuple(custom), clinical=clinical,
                  clinical_fields=frozenset(clinical_fields), line=line)


def _check_field_id(c: _Compiler, fid: str, entity: str, where: str, line: int) -> None:
    found = c.custom_fields.get(fid)
    if found is None:
        raise c.fail(f"{where}: '{fid}' is not defined under custom_fields", line)
    if found.entity != entity:
        raise c.fail(f"{where}: custom field '{fid}' belongs to {found.entity}s, not {entity}s", line)


ROLLUP_KEYS = ("into", "group", "key", "parts", "compute", "custom_fields", "file_name")


def _rollup(c: _Compiler, name: str, raw: Any, line: int, streams: dict[str, StreamSpec]) -> Rollup:
    where = f"rollups.{name}"
    node = c.mapping(raw, where, line, allowed=ROLLUP_KEYS, required=("into", "group", "parts", "compute"))
    into = node["into"]
    if into not in ("persons", "files"):
        raise c.fail(f"{where}.into must be persons or files", node.line_of("into"))
    parts_raw = c.mapping(node["parts"], f"{where}.parts", node.line_of("parts"))
    parts = {}
    for stream, body in parts_raw.items():
        at = parts_raw.line_of(stream)
        if stream not in streams or streams[stream].rollup != name:
            raise c.fail(f"{where}.parts: stream '{stream}' must say rollup: {name}", at)
        part = c.mapping(body, f"{where}.parts.{stream}", at, allowed=("by", "only_if", "needs", "skip_if", "keep"),
                         required=("by", "keep"))
        keep_raw = c.mapping(part["keep"], f"{where}.parts.{stream}.keep", part.line_of("keep"))
        keep = tuple((str(k), c.spec(v, keep_raw.line_of(k), f"{where}.parts.{stream}.keep.{k}", c.global_vars))
                     for k, v in keep_raw.items())
        parts[str(stream)] = Part(str(stream), c.spec(part["by"], part.line_of("by"), f"{where}.parts.{stream}.by",
                                                      c.global_vars),
                                  c.needs(part.get("needs"), part.line_of("needs"), f"{where}.parts.{stream}",
                                          c.global_vars, rows=False),
                                  c.skip_if(part.get("skip_if"), part.line_of("skip_if"), f"{where}.parts.{stream}",
                                            c.global_vars), keep,
                                  None if part.get("only_if") is None else
                                  c.spec(part["only_if"], part.line_of("only_if"), f"{where}.parts.{stream}.only_if",
                                         c.global_vars))
    for stream, spec in streams.items():
        if spec.rollup == name and stream not in parts:
            raise c.fail(f"{where}.parts: stream '{stream}' says rollup: {name} but has no part here", line)
    compute_raw = c.mapping(node["compute"], f"{where}.compute", node.line_of("compute"),
                            allowed=("fn", "args", "with"), required=("fn",))
    compute = c.call(compute_raw, compute_raw.line, f"{where}.compute (parts arrive as {', '.join(parts)})",
                     c.global_vars, extra=tuple(parts))
    custom = []
    if into == "persons":
        cf_raw = c.mapping(node.get("custom_fields"), f"{where}.custom_fields", node.line_of("custom_fields"))
        for fid, result_key in cf_raw.items():
            _check_field_id(c, str(fid), "person", f"{where}.custom_fields", cf_raw.line_of(fid))
            custom.append((str(fid), c.text(result_key, f"{where}.custom_fields.{fid}", cf_raw.line_of(fid))))
    elif "custom_fields" in node:
        raise c.fail(f"{where}: custom_fields only apply to rollups into persons", node.line_of("custom_fields"))
    file_name = node.get("file_name")
    if into == "files":
        file_name = c.text(file_name, f"{where}.file_name", node.line_of("file_name") or line)
    group = c.text(node["group"], f"{where}.group", node.line_of("group"))
    key_kind = c.text(node.get("key", name), f"{where}.key", node.line_of("key"))
    return Rollup(name, into, group, key_kind, parts, compute, tuple(custom), file_name, line)
