"""The `chromium` fixture: open a local HTML file in headless Chromium, failing (never skipping) without it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from chromium import Rendered, open_page, require_chromium


@pytest.fixture
def chromium() -> Callable[[Path], Rendered]:
    def open_in_chromium(path: Path) -> Rendered:
        require_chromium()  # checked here, in the test itself, so a missing browser is a FAILED test
        return open_page(path)

    return open_in_chromium


# the target's test helpers (Singer messages, a generated clinic, running the target and its admin CLI)
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "target-pipedrive" / "tests"))
