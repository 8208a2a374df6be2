"""Where the crosswalk lives in a PostgreSQL database it shares with Meltano and other clinics: a schema.

Meltano's system database (`MELTANO_DATABASE_URI`) and every clinic's crosswalk can be one PostgreSQL
database, so one URL moves both, without their tables meeting (both have a `runs` table): Meltano's
stay in `public`, a crosswalk in the schema `crosswalk_schema` names, created on first use.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def schema_problem(schema: str) -> str | None:
    if not SCHEMA_NAME.fullmatch(schema):
        return (f"crosswalk_schema {schema!r} must be a lower-case name of letters, digits and underscores (at most "
                "63, not starting with a digit), e.g. crosswalk_clinic_a.")
    return None


def is_postgres(url: str) -> bool:
    try:
        return make_url(url).get_backend_name() == "postgresql"
    except ArgumentError:
        return False


def place(url: str, schema: str) -> str:
    """The crosswalk_url of the crosswalk in schema `schema` of the PostgreSQL database `url`."""
    parsed = make_url(url)
    options = parsed.query.get("options") or ""
    if isinstance(options, tuple):
        options = " ".join(options)
    options = f"{options} -c search_path={schema}".strip()
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


def ensure_schema(dbapi_connection: Any, _record: Any = None) -> None:
    """On connect (PostgreSQL): create the schema the session's search_path names first, if it is missing."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT current_schema()")
        if cursor.fetchone()[0] is None:
            cursor.execute("SELECT current_setting('search_path')")
            first = cursor.fetchone()[0].split(",")[0].strip().strip('"')
            if SCHEMA_NAME.fullmatch(first):
                cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{first}"')
        dbapi_connection.commit()
    finally:
        cursor.close()
