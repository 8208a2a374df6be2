"""Project-level tests reuse the end-to-end contract (tests/e2e) and the pipeline helpers (tests/reliability)."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "e2e"))  # test_migration: Clinic, Account, check_contents
sys.path.insert(0, str(TESTS / "reliability"))  # pipeline_helpers: served sandboxes, process groups
