"""Scale-out tests: whole pipelines on several workers and clinics; the reliability helpers drive them."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # workers
sys.path.insert(0, str(HERE.parent / "reliability"))  # pipeline_helpers (which finds tests/e2e itself)
