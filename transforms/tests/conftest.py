"""Fixtures of the map's tests: the small clinic of the Cliniko sandbox, as tap-cliniko emits it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from map_helpers import Clinic, load_clinic


@pytest.fixture(scope="session")
def clinic() -> Iterator[Clinic]:
    yield from load_clinic()
