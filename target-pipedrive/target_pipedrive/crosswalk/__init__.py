"""The crosswalk: what the migration wrote where, and everything needed to resume, verify and undo it.

tables.py holds the schema (and what each table keeps per record, and why); store.py the `Crosswalk`
the target and its commands use; sources.py its source-side half (the source records and the epoch).
"""

from target_pipedrive.crosswalk.store import Crosswalk
from target_pipedrive.crosswalk.tables import (
    COMPANY_DOMAIN_KEY,
    COMPANY_KEY,
    EPOCH_KEY,
    WRITE_KINDS,
    new_run_id,
    now_iso,
)

__all__ = ["COMPANY_DOMAIN_KEY", "COMPANY_KEY", "EPOCH_KEY", "WRITE_KINDS", "Crosswalk", "new_run_id", "now_iso"]
