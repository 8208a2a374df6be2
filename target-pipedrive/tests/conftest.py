"""Fixtures for target-pipedrive tests; the Pipedrive sandbox fixtures come from the root conftest."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # pd_helpers


@pytest.fixture(autouse=True)
def _every_request_matches_the_spec(request: pytest.FixtureRequest) -> Iterator[None]:
    """Any test that starts a Pipedrive sandbox also checks each request against the official specs."""
    if not any(name.startswith("pipedrive_sandbox") for name in request.fixturenames):
        yield
        return
    validator = request.getfixturevalue("pipedrive_spec_validator")  # before the sandbox: it attaches
    yield
    validator.assert_clean()
