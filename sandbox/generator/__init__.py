"""Synthetic clinic generator: a deterministic Cliniko account of a chosen size and seed.

`load(store, size, seed)` wipes a DocStore and streams a clinic into it; the same
(size, seed) always gives byte-identical data. See `sizes.SIZES` for the profiles.
"""

from __future__ import annotations

from sandbox.generator.load import load
from sandbox.generator.sizes import SIZES

__all__ = ["SIZES", "load"]
