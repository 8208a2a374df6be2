"""Workflow tests reuse the end-to-end helpers (Meltano runs against both sandboxes, what the clinic holds)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))  # test_migration: meltano_env, Clinic, ...
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))  # chromium: the report pages
