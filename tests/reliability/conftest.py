"""Reliability tests: the shared helpers module sits beside them (the sandbox fixtures come from the root)."""

from __future__ import annotations

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
