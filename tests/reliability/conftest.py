"""Reliability tests: the shared helpers module sits beside them (the sandbox fixtures come from the root)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # reliability_helpers
sys.path.insert(0, str(HERE.parents[1] / "tap-cliniko" / "tests"))  # tap_helpers: the tap run as Meltano runs it
sys.path.insert(0, str(HERE.parents[1] / "target-pipedrive" / "tests"))  # pd_helpers: the target run likewise


@pytest.fixture
def empty_clinic(cliniko_sandbox_factory: Any) -> Iterator[Any]:
    """A Cliniko account with only its settings and owner: each test adds the rows it is about."""
    yield cliniko_sandbox_factory(size="none")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: long crash/fault runs; only `make soak` (SOAK=1) runs them")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak tests take many minutes: `make test` skips them and says how to run them."""
    if os.environ.get("SOAK") == "1":
        return
    skip = pytest.mark.skip(reason="soak test: run `make soak` (SOAK=1) for the long crash and fault runs")
    for item in items:
        if item.get_closest_marker("soak"):
            item.add_marker(skip)
