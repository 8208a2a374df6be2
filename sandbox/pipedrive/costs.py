"""Token cost of every operation the emulator serves, copied by hand from the specs' `x-token-cost`.

Kept as data (not read from the spec at run time) so the emulator needs no spec file;
tests cross-check this table against the spec. Paths are relative to the version prefix
(`/api/v2`, or `/api/v1` and `/v1`). Search operations also fall under the search burst window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

V2_COSTS: dict[tuple[str, str], int] = {
    ("GET", "/persons"): 10,
    ("POST", "/persons"): 5,
    ("GET", "/persons/search"): 20,
    ("GET", "/persons/{id}"): 1,
    ("PATCH", "/persons/{id}"): 5,
    ("DELETE", "/persons/{id}"): 3,
    ("GET", "/activities"): 10,
    ("POST", "/activities"): 5,
    ("GET", "/activities/{id}"): 1,
    ("PATCH", "/activities/{id}"): 5,
    ("DELETE", "/activities/{id}"): 3,
    ("GET", "/products"): 10,
    ("POST", "/products"): 5,
    ("GET", "/products/search"): 20,
    ("GET", "/products/{id}"): 1,
    ("PATCH", "/products/{id}"): 5,
    ("DELETE", "/products/{id}"): 3,
    ("GET", "/itemSearch/field"): 20,
    ("GET", "/activityFields"): 10,
    ("GET", "/activityFields/{field_code}"): 1,
    ("GET", "/dealFields"): 10,
    ("GET", "/dealFields/{field_code}"): 1,
    ("GET", "/organizationFields"): 10,
    ("GET", "/organizationFields/{field_code}"): 1,
    ("GET", "/deals"): 10,
    ("GET", "/deals/{id}"): 1,
    ("GET", "/deals/{id}/products"): 10,
    ("GET", "/organizations"): 10,
    ("GET", "/organizations/{id}"): 1,
    ("GET", "/pipelines"): 5,
    ("GET", "/pipelines/{id}"): 1,
    ("GET", "/stages"): 5,
    ("GET", "/stages/{id}"): 1,
}
for _entity in ("personFields", "productFields"):
    V2_COSTS.update({
        ("GET", f"/{_entity}"): 10,
        ("POST", f"/{_entity}"): 5,
        ("GET", f"/{_entity}/{{field_code}}"): 1,
        ("PATCH", f"/{_entity}/{{field_code}}"): 5,
        ("DELETE", f"/{_entity}/{{field_code}}"): 3,
        ("POST", f"/{_entity}/{{field_code}}/options"): 5,
        ("PATCH", f"/{_entity}/{{field_code}}/options"): 5,
        ("DELETE", f"/{_entity}/{{field_code}}/options"): 3,
    })

V1_COSTS: dict[tuple[str, str], int] = {
    ("GET", "/activityFields"): 20,
    ("GET", "/noteFields"): 20,
    ("GET", "/dealFields"): 20,
    ("GET", "/dealFields/{id}"): 2,
    ("GET", "/organizationFields"): 20,
    ("GET", "/organizationFields/{id}"): 2,
    ("GET", "/currencies"): 20,
    ("GET", "/filters"): 20,
    ("GET", "/recents"): 20,
    ("GET", "/deals/{id}/flow"): 40,
    ("GET", "/notes"): 20,
    ("POST", "/notes"): 10,
    ("GET", "/notes/{id}"): 2,
    ("PUT", "/notes/{id}"): 10,
    ("DELETE", "/notes/{id}"): 6,
    ("GET", "/files"): 20,
    ("POST", "/files"): 10,
    ("GET", "/files/{id}"): 2,
    ("PUT", "/files/{id}"): 10,
    ("DELETE", "/files/{id}"): 6,
    ("GET", "/files/{id}/download"): 20,
    ("GET", "/persons/{id}/files"): 20,
    ("GET", "/users"): 20,
    ("POST", "/users"): 10,
    ("GET", "/users/find"): 40,
    ("GET", "/users/me"): 2,
    ("GET", "/users/{id}"): 2,
    ("PUT", "/users/{id}"): 10,
    ("GET", "/activityTypes"): 20,
    ("POST", "/activityTypes"): 10,
    ("PUT", "/activityTypes/{id}"): 10,
    ("DELETE", "/activityTypes/{id}"): 6,
}
for _entity in ("personFields", "productFields"):
    V1_COSTS.update({
        ("GET", f"/{_entity}"): 20,
        ("POST", f"/{_entity}"): 10,
        ("DELETE", f"/{_entity}"): 10,
        ("GET", f"/{_entity}/{{id}}"): 2,
        ("PUT", f"/{_entity}/{{id}}"): 10,
        ("DELETE", f"/{_entity}/{{id}}"): 6,
    })

SEARCH_OPERATIONS = {("v2", "GET", "/persons/search"), ("v2", "GET", "/products/search"),
                     ("v2", "GET", "/itemSearch/field")}
PREFIXES = {"v2": ("/api/v2",), "v1": ("/api/v1", "/v1")}


@dataclass(frozen=True)
class Operation:
    version: str
    method: str
    template: str
    cost: int

    @property
    def is_search(self) -> bool:
        return (self.version, self.method, self.template) in SEARCH_OPERATIONS

    @property
    def label(self) -> str:
        return f"{self.method} /{self.version}{self.template}"


def _compile() -> list[tuple[re.Pattern[str], Operation]]:
    table: list[tuple[re.Pattern[str], Operation]] = []
    for version, costs in (("v2", V2_COSTS), ("v1", V1_COSTS)):
        # literal segments first, so /persons/search never reads as /persons/{id}
        for (method, template), cost in sorted(costs.items(), key=lambda kv: kv[0][1].count("{")):
            body = re.sub(r"\{\w+\}", "[^/]+", template)
            prefixes = "|".join(re.escape(p) for p in PREFIXES[version])
            table.append((re.compile(f"^(?:{prefixes}){body}/?$"), Operation(version, method, template, cost)))
    return table


_TABLE = _compile()


def operation_for(method: str, path: str) -> Operation | None:
    """The priced operation a request hits, or None for paths the emulator does not serve."""
    for regex, op in _TABLE:
        if op.method == method and regex.match(path):
            return op
    return None
