"""Evaluate compiled value specs against one record (the only place functions are called).

Each value spec is turned once, when the map loads, into a Python closure over its
parts (`compile_value`): a record then costs direct calls only, with no dispatch on the
spec's type and no argument lists built for constants. Vars stay lazy and are computed
at most once per output (`Env.var`), so a var whose function fails only fails the
records that use it.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from cliniko_map.functions import FUNCTIONS
from cliniko_map.spec import (
    Call,
    Const,
    ContextRef,
    From,
    Lookup,
    PolicyRef,
    Rows,
    SourceKey,
    Spec,
    TableRef,
    VarRef,
)
from cliniko_map.state import State, table_space

Value = Callable[["Env"], Any]


class MapRuntimeError(RuntimeError):
    """A map function failed on a record: names the function and the map line, not the values."""


def dig(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class Env:
    """One output's evaluation: the record, the map's memory and clock, and its vars
    (name -> compiled spec), each computed on first use."""

    __slots__ = ("memo", "now", "planning", "record", "state", "var_fns")

    def __init__(self, record: dict[str, Any], state: State, now: datetime, var_fns: dict[str, Value],
                 planning: bool = False) -> None:
        self.record, self.state, self.now, self.var_fns = record, state, now, var_fns
        self.planning = planning
        self.memo: dict[str, Any] = {}

    def var(self, name: str) -> Any:
        values = self.memo
        if name in values:
            return values[name]
        value = values[name] = self.var_fns[name](self)
        return value


# -- compiling ------------------------------------------------------------------------------------
def compile_value(spec: Spec, *, file: str, prefix: str, policies: dict[str, Any]) -> Value:
    """A value spec as a closure `env -> value` (same result, same errors as the spec says)."""
    def sub(s: Spec) -> Value:
        return compile_value(s, file=file, prefix=prefix, policies=policies)

    if isinstance(spec, From):
        return _from(spec.path)
    if isinstance(spec, Const):
        value = spec.value
        return lambda env: value
    if isinstance(spec, PolicyRef):
        name = spec.name
        return lambda env: policies[name]
    if isinstance(spec, ContextRef):
        # planning: true in a plan, empty (None) otherwise, so `first_of` and `skip_unless` read it as present or not
        return (lambda env: env.now) if spec.name == "now" else (lambda env: True if env.planning else None)
    if isinstance(spec, VarRef):
        return _var(spec.name, spec.path)
    if isinstance(spec, TableRef):
        return _table(spec.name)
    if isinstance(spec, Rows):
        return _rows(spec.table, spec.where, sub(spec.by))
    if isinstance(spec, Lookup):
        if isinstance(spec.by, From) and len(spec.by.path) == 1:
            return _lookup_by_field(spec.table, spec.by.path[0], spec.field)
        return _lookup(spec.table, sub(spec.by), spec.field)
    if isinstance(spec, SourceKey):
        return _source_key(f"{prefix}:{spec.kind}:", sub(spec.by))
    if isinstance(spec, Call):
        return _call(spec, file, policies, sub)
    raise TypeError(f"not a value spec: {spec!r}")


def compile_call(spec: Call, *, file: str, prefix: str, policies: dict[str, Any]) -> Callable[..., Any]:
    """A call that also takes keyword arguments supplied at run time: `(env, **extra)`."""
    def sub(s: Spec) -> Value:
        return compile_value(s, file=file, prefix=prefix, policies=policies)

    fn, failed = FUNCTIONS[spec.fn], _failure(file, spec)
    args = tuple(sub(a) for a in spec.args)
    kwargs = tuple((name, sub(v)) for name, v in spec.kwargs)

    def run(env: Env, **extra: Any) -> Any:
        values = [a(env) for a in args]
        named = {name: f(env) for name, f in kwargs}
        try:
            return fn(*values, **named, **extra)
        except Exception as exc:  # a bad value in one record: say where, never echo the value
            raise MapRuntimeError(failed + type(exc).__name__) from exc
    return run


def _failure(file: str, spec: Call) -> str:
    return f"{file}:{spec.line}: {spec.fn}() failed with "


def _from(path: tuple[str, ...]) -> Value:
    if len(path) == 1:
        (key,) = path

        def field(env: Env) -> Any:
            record = env.record
            return record.get(key) if isinstance(record, dict) else None
        return field
    return lambda env: dig(env.record, path)


def _var(name: str, path: tuple[str, ...]) -> Value:
    if not path:
        def whole(env: Env) -> Any:
            values = env.memo
            return values[name] if name in values else env.var(name)
        return whole
    if len(path) == 1:
        (key,) = path

        def member(env: Env) -> Any:
            values = env.memo
            value = values[name] if name in values else env.var(name)
            return value.get(key) if isinstance(value, dict) else None
        return member
    return lambda env: dig(env.var(name), path)


def _table(name: str) -> Value:
    def table(env: Env) -> Any:
        return [{**row, "id": k} for k, row in env.state.table_rows(name).items()]
    return table


def _rows(table: str, where: str, by: Value) -> Value:
    """The remembered rows pointing at a record: indexed when a `needs` watches that field (State.rows_where),
    else a scan, meant for reference tables (a few rows per clinic)."""
    def rows(env: Env) -> Any:
        value = by(env)
        if value in (None, ""):
            return []
        return [{**row, "id": k} for k, row in env.state.rows_where(table, where, str(value))]
    return rows


def _lookup(table: str, by: Value, field: str | None) -> Value:
    space = table_space(table)

    def lookup(env: Env) -> Any:  # State.row, inlined
        row_id = by(env)
        row = None if row_id is None else env.state.memory.get(space, str(row_id))
        if row is None or field is None:
            return row
        return row.get(field)
    return lookup


def _lookup_by_field(table: str, key: str, field: str | None) -> Value:
    """A lookup by one of the record's own fields (the usual case), without a closure for `by`."""
    space = table_space(table)

    def lookup(env: Env) -> Any:
        record = env.record
        row_id = record.get(key) if isinstance(record, dict) else None
        row = None if row_id is None else env.state.memory.get(space, str(row_id))
        if row is None or field is None:
            return row
        return row.get(field)
    return lookup


def _source_key(head: str, by: Value) -> Value:
    def source_key(env: Env) -> Any:
        value = by(env)
        return None if value in (None, "") else f"{head}{value}"
    return source_key


def _arg(spec: Spec, policies: dict[str, Any], sub: Callable[[Spec], Value]) -> tuple[str, Any]:
    """How a call reads one argument: (kind, what it needs). Constants and policies are
    settled at load; a record field or a var is read in place; anything else is a closure."""
    if isinstance(spec, Const):
        return "static", spec.value
    if isinstance(spec, PolicyRef):
        return "static", policies[spec.name]
    if isinstance(spec, From) and len(spec.path) == 1:
        return "field", spec.path[0]
    if isinstance(spec, VarRef) and len(spec.path) <= 1:
        return ("var", spec.name) if not spec.path else ("member", (spec.name, spec.path[0]))
    return "value", sub(spec)


_EXPR = {
    "static": "{p}",
    "field": "(rec.get({p}) if rec_is_dict else None)",
    "var": "(memo[{p}] if {p} in memo else env.var({p}))",
    "value": "{p}(env)",
}


@cache
def _call_factory(kinds: tuple[str, ...], names: tuple[str | None, ...]) -> Callable[..., Value]:
    """The code of a call of this shape (argument kinds; keyword names, None for positional),
    compiled once per shape: the arguments in order, then the function inside the `try`."""
    params = [f"p{i}" for i in range(len(kinds))]
    body = []
    if "field" in kinds:
        body += ["rec = env.record", "rec_is_dict = isinstance(rec, dict)"]
    if "var" in kinds or "member" in kinds:
        body.append("memo = env.memo")
    passed = []
    for i, (kind, name) in enumerate(zip(kinds, names, strict=True)):
        if kind == "member":
            body += [f"x{i} = memo[p{i}[0]] if p{i}[0] in memo else env.var(p{i}[0])",
                     f"v{i} = x{i}.get(p{i}[1]) if isinstance(x{i}, dict) else None"]
        elif kind != "static":
            body.append(f"v{i} = {_EXPR[kind].format(p=f'p{i}')}")
        value = f"p{i}" if kind == "static" else f"v{i}"
        passed.append(value if name is None else f"{name}={value}")
    lines = [f"def make(fn, failed, error, {', '.join(params)}):" if params else "def make(fn, failed, error):",
             "    def run(env):",
             *(f"        {line}" for line in body),
             "        try:",
             f"            return fn({', '.join(passed)})",
             "        except Exception as exc:  # a bad value in one record: say where, never echo the value",
             "            raise error(failed + type(exc).__name__) from exc",
             "    return run"]
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), f"<map call {kinds} {names}>", "exec"), namespace)  # noqa: S102 - our own template
    return namespace["make"]


def _call(spec: Call, file: str, policies: dict[str, Any], sub: Callable[[Spec], Value]) -> Value:
    """Arguments are evaluated before the `try`, in order: a failing inner call keeps its own line."""
    fn, failed = FUNCTIONS[spec.fn], _failure(file, spec)
    names: list[str | None] = [None] * len(spec.args)
    specs = list(spec.args)
    for name, value in spec.kwargs:
        if not name.isidentifier() or keyword.iskeyword(name):  # cannot be written as name=...
            return _generic(spec, fn, failed, sub)
        names.append(name)
        specs.append(value)
    args = [_arg(s, policies, sub) for s in specs]
    make = _call_factory(tuple(kind for kind, _ in args), tuple(names))
    return make(fn, failed, MapRuntimeError, *(what for _, what in args))


def _generic(spec: Call, fn: Callable[..., Any], failed: str, sub: Callable[[Spec], Value]) -> Value:
    args = tuple(sub(a) for a in spec.args)
    kwargs = tuple((name, sub(v)) for name, v in spec.kwargs)

    def run(env: Env) -> Any:
        values = [a(env) for a in args]
        named = {name: f(env) for name, f in kwargs}
        try:
            return fn(*values, **named)
        except Exception as exc:  # a bad value in one record: say where, never echo the value
            raise MapRuntimeError(failed + type(exc).__name__) from exc
    return run
