"""Evaluate compiled value specs against one record (the only place functions are called)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from cliniko_map.functions import FUNCTIONS
from cliniko_map.spec import (
    Call,
    Const,
    ContextRef,
    From,
    Lookup,
    PolicyRef,
    SourceKey,
    Spec,
    TableRef,
    VarRef,
)
from cliniko_map.state import State


class MapRuntimeError(RuntimeError):
    """A map function failed on a record: names the function and the map line, not the values."""


def dig(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class Env:
    """One record's evaluation: its fields, the policies, remembered tables and vars."""

    def __init__(self, *, record: dict[str, Any], state: State, policies: dict[str, Any], now: datetime, prefix: str,
                 var_specs: dict[str, Spec], file: str) -> None:
        self.record, self.state, self.policies, self.now, self.prefix = record, state, policies, now, prefix
        self.var_specs, self.file = var_specs, file
        self._vars: dict[str, Any] = {}

    def with_vars(self, extra: tuple[tuple[str, Spec], ...]) -> Env:
        if not extra:
            return self
        env = Env(record=self.record, state=self.state, policies=self.policies, now=self.now, prefix=self.prefix,
                  var_specs={**self.var_specs, **dict(extra)}, file=self.file)
        env._vars = {k: v for k, v in self._vars.items() if k not in dict(extra)}
        return env

    def var(self, name: str) -> Any:
        if name not in self._vars:
            self._vars[name] = evaluate(self.var_specs[name], self)
        return self._vars[name]

    def source_key(self, kind: str, value: Any) -> str | None:
        return None if value in (None, "") else f"{self.prefix}:{kind}:{value}"


def _from(spec: Any, env: Env) -> Any:
    value = env.record
    for part in spec.path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# The common specs by exact type: a class-pattern `match` tests each case in turn, and the
# map evaluates some fifty specs per record. Anything else (a subclass) goes through the match.
_FAST: dict[type, Callable[[Any, Env], Any]] = {
    From: _from,
    Const: lambda spec, env: spec.value,
    PolicyRef: lambda spec, env: env.policies[spec.name],
    VarRef: lambda spec, env: dig(env.var(spec.name), spec.path),
}


def evaluate(spec: Spec, env: Env) -> Any:
    fast = _FAST.get(type(spec))
    if fast is not None:
        return fast(spec, env)
    match spec:
        case From(path=path):
            return dig(env.record, path)
        case Const(value=value):
            return value
        case PolicyRef(name=name):
            return env.policies[name]
        case ContextRef():
            return env.now
        case VarRef(name=name, path=path):
            return dig(env.var(name), path)
        case TableRef(name=name):
            rows = env.state.tables.get(name, {})
            return [{**rows[k], "id": k} for k in sorted(rows)]
        case Lookup(table=table, by=by, field=field):
            row = env.state.row(table, evaluate(by, env))
            if row is None or field is None:
                return row
            return row.get(field)
        case SourceKey(kind=kind, by=by):
            return env.source_key(kind, evaluate(by, env))
        case Call():
            return call(spec, env)
    raise TypeError(f"not a value spec: {spec!r}")


def call(spec: Call, env: Env, **extra: Any) -> Any:
    args = [evaluate(a, env) for a in spec.args]
    kwargs = {name: evaluate(value, env) for name, value in spec.kwargs}
    try:
        return FUNCTIONS[spec.fn](*args, **kwargs, **extra)
    except Exception as exc:  # a bad value in one record: say where, never echo the value
        raise MapRuntimeError(f"{env.file}:{spec.line}: {spec.fn}() failed with {type(exc).__name__}") from exc
