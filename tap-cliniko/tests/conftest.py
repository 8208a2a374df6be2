"""Fixtures of the tap's tests (the per-test `cliniko_sandbox` comes from sandbox.cliniko.testing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.cliniko.testing import ClinikoSandbox, start


@pytest.fixture(scope="module")
def cliniko_sandbox_module() -> Iterator[ClinikoSandbox]:
    """One small clinic shared by the read-only tests of a module."""
    handle = start()
    yield handle
    handle.stop()
