"""The compiled yes-check in front of jsonschema: it may send a valid record to the full validator,
never pass an invalid one.

Every record of a generated clinic is mutated a few hundred ways (wrong types, missing and
unexpected properties, bad patterns, floats for integers, booleans for enum numbers,
duplicate options, 40-hex custom-field keys, ...); whenever the yes-check says valid,
jsonschema must agree.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
from pd_helpers import clinic

from target_pipedrive import contract
from target_pipedrive.quickcheck import compile_schema

ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, 1.0, 2.5, -1, 3, 5, 7, "", "x", "x" * 300, "2020-01-01", "2020-13-45T10:00", "12:30",
    "1:30", "AUD", "aud", "0" * 40, [], {}, ["a", "a"], ["a", "b"], [""], [1, True], [1, 1.0], {"value": ""},
    [{"value": "a"}], [{"value": "a", "extra": 1}], [{"value": "a", "primary": 1}], {"a": 1}, {"": 1},
    {"0123456789abcdef0123456789abcdef01234567": 1}, [{"currency": "AUD", "price": 1}],
    [{"currency": "AUD", "price": True}], [{"currency": "AU", "price": 1}], "person", "enum",
]
KEYS = ["extra", "name", "value", "label", "type", "due_time", "visible_to", "tax", "options", "emails",
        "custom_fields", "prices", "entity", "field_type", "marketing_status", "0" * 40]


def mutate(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = copy.deepcopy(record)
    for _ in range(rng.randint(1, 3)):
        node: Any = out
        while rng.random() < 0.4:  # sometimes change something nested
            values = node.values() if isinstance(node, dict) else node
            children = [v for v in values if isinstance(v, dict | list) and v]
            if not children:
                break
            node = rng.choice(children)
        if isinstance(node, dict):
            roll = rng.random()
            if roll < 0.2 and node:
                del node[rng.choice(list(node))]
            elif roll < 0.4 or not node:
                node[rng.choice(KEYS)] = rng.choice(ODD_VALUES)
            else:
                node[rng.choice(list(node))] = rng.choice(ODD_VALUES)
        elif node:
            node[rng.randrange(len(node))] = rng.choice(ODD_VALUES)
    return out


def test_every_contract_schema_compiles() -> None:
    for stream in contract.STREAMS:
        assert contract._quick(stream) is not None, stream


def test_the_yes_check_never_passes_a_record_jsonschema_refuses(tmp_path: Path) -> None:
    rng = random.Random(20261124)
    data = clinic(tmp_path, n_persons=3, n_products=2, n_files=1)
    data["products"].append({"source_key": "p:x", "name": "X", "tax": 10, "visible_to": 3,
                             "billing_frequency": "monthly", "prices": [{"currency": "AUD", "price": 5, "cost": 1}]})
    valid = refused = passed = 0
    for stream, records in data.items():
        quick, full = contract._quick(stream), contract._validator(stream)
        assert quick is not None
        for record in records:
            assert quick(record) and full.is_valid(record), (stream, record["source_key"])
            for _ in range(250):
                mutant = mutate(record, rng)
                ok = full.is_valid(mutant)
                valid += ok
                refused += not ok
                if quick(mutant):
                    passed += 1
                    assert ok, (stream, mutant)
    assert refused > 1000 and valid > 500  # the mutants exercise both sides
    assert passed >= 0.95 * valid  # and the yes-check takes nearly all the valid ones off jsonschema's hands


@pytest.mark.parametrize(("value", "expected"), [
    (1.0, False),  # an integer to jsonschema, left to it
    (True, False),  # not an enum number, refused by jsonschema too
    (3, True),
    (None, True),
])
def test_numbers_it_is_unsure_about_go_to_jsonschema(value: Any, expected: bool) -> None:
    check = contract._quick("persons")
    assert check is not None
    assert check({"source_key": "k", "name": "n", "visible_to": value}) is expected
    # and the contract's answer stays jsonschema's: 1.0 is allowed, true is not
    problems = contract.validate("persons", {"source_key": "k", "name": "n", "visible_to": value})
    assert bool(problems) is (value is True)


@pytest.mark.parametrize("schema", [
    {"type": "object", "if": {"required": ["a"]}, "then": {"required": ["b"]}},
    {"type": "string", "format": "date", "const": "x"},
    {"not": {"type": "string"}},  # only exact predicates are negated
    {"$ref": "other.json#/x"},
    {"type": "array", "prefixItems": [{"type": "string"}]},
])
def test_a_schema_with_anything_it_does_not_handle_is_left_to_jsonschema(schema: dict[str, Any]) -> None:
    assert compile_schema(schema, {}) is None


def test_lone_surrogates_are_still_reported_with_their_path() -> None:
    record = {"source_key": "k", "name": "ok", "emails": [{"value": "a\ud800b"}]}
    assert contract.validate("persons", record) == ["emails[0].value: contains invalid Unicode (a lone surrogate)"]
