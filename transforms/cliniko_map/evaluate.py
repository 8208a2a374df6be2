"""Evaluate compiled value specs against one record (the only place functions are called).

Each value spec is turned once, when the map loads, into a Python closure over its
parts (`compile_value`): a record then costs direct calls only, with no dispatch on the
spec's type and no argument lists built for constants. Vars stay lazy and are computed
at most once per output (`Env.var`), so a var whose function fails only fails the
records that use it.
"""

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

    __slots__ = ("_vars", "now", "record", "state", "var_fns")

    def __init__(self, record: dict[str, Any], state: State, now: datetime, var_fns: dict[str, Value]) -> None:
        self.record, self.state, self.now, self.var_fns = record, state, now, var_fns
        self._vars: dict[str, Any] = {}

    def var(self, name: str) -> Any:
        values = self._vars
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
        return lambda env: env.now
    if isinstance(spec, VarRef):
        return _var(spec.name, spec.path)
    if isinstance(spec, TableRef):
        return _table(spec.name)
    if isinstance(spec, Lookup):
        return _lookup(spec.table, sub(spec.by), spec.field)
    if isinstance(spec, SourceKey):
        return _source_key(f"{prefix}:{spec.kind}:", sub(spec.by))
    if isinstance(spec, Call):
        return _call(spec, file, sub)
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
            values = env._vars
            return values[name] if name in values else env.var(name)
        return whole
    if len(path) == 1:
        (key,) = path

        def member(env: Env) -> Any:
            values = env._vars
            value = values[name] if name in values else env.var(name)
            return value.get(key) if isinstance(value, dict) else None
        return member
    return lambda env: dig(env.var(name), path)


def _table(name: str) -> Value:
    def table(env: Env) -> Any:
        rows = env.state.tables.get(name, {})
        return [{**rows[k], "id": k} for k in sorted(rows)]
    return table


def _lookup(table: str, by: Value, field: str | None) -> Value:
    def lookup(env: Env) -> Any:
        row = env.state.row(table, by(env))
        if row is None or field is None:
            return row
        return row.get(field)
    return lookup


def _source_key(head: str, by: Value) -> Value:
    def source_key(env: Env) -> Any:
        value = by(env)
        return None if value in (None, "") else f"{head}{value}"
    return source_key


def _call(spec: Call, file: str, sub: Callable[[Spec], Value]) -> Value:
    """Arguments are evaluated before the `try`: a failing inner call keeps its own line."""
    fn, failed = FUNCTIONS[spec.fn], _failure(file, spec)
    args = tuple(sub(a) for a in spec.args)
    if spec.kwargs:
        if all(isinstance(v, Const) for _, v in spec.kwargs):
            fixed = {name: v.value for name, v in spec.kwargs if isinstance(v, Const)}

            def with_fixed(env: Env) -> Any:
                values = [a(env) for a in args]
                try:
                    return fn(*values, **fixed)
                except Exception as exc:  # a bad value in one record: say where, never echo the value
                    raise MapRuntimeError(failed + type(exc).__name__) from exc
            return with_fixed
        kwargs = tuple((name, sub(v)) for name, v in spec.kwargs)

        def with_kwargs(env: Env) -> Any:
            values = [a(env) for a in args]
            named = {name: f(env) for name, f in kwargs}
            try:
                return fn(*values, **named)
            except Exception as exc:  # a bad value in one record: say where, never echo the value
                raise MapRuntimeError(failed + type(exc).__name__) from exc
        return with_kwargs
    if len(args) == 1:
        (a0,) = args

        def one(env: Env) -> Any:
            v0 = a0(env)
            try:
                return fn(v0)
            except Exception as exc:  # a bad value in one record: say where, never echo the value
                raise MapRuntimeError(failed + type(exc).__name__) from exc
        return one
    if len(args) == 2:
        a0, a1 = args

        def two(env: Env) -> Any:
            v0, v1 = a0(env), a1(env)
            try:
                return fn(v0, v1)
            except Exception as exc:  # a bad value in one record: say where, never echo the value
                raise MapRuntimeError(failed + type(exc).__name__) from exc
        return two

    def many(env: Env) -> Any:
        values = [a(env) for a in args]
        try:
            return fn(*values)
        except Exception as exc:  # a bad value in one record: say where, never echo the value
            raise MapRuntimeError(failed + type(exc).__name__) from exc
    return many
