"""`python -m sandbox cliniko change ...`: change the data of a running Cliniko sandbox, to rehearse
a delta (edit a field, cancel an appointment, archive, delete or add a record, show records).

Each command is one call to the sandbox's `/_admin/` routes over HTTP; the sandbox checks the
resource, the record and the fields, and the command prints its answer as one sentence.
Standard library only, like the sandbox itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

DEFAULT_URL = "http://127.0.0.1:8801"
TIMEOUT_S = 60
LABELS = ("label", "name", "display_name", "business_name", "company_name", "filename", "content_subject",
          "starts_at", "issue_date")

EXAMPLES = """\
examples (ids from `show`):
  python -m sandbox cliniko change show patients --limit 5
  python -m sandbox cliniko change edit patients PATIENT_ID first_name=Robin occupation=Nurse
  python -m sandbox cliniko change edit individual_appointments APPOINTMENT_ID did_not_arrive:=true notes:=null
  python -m sandbox cliniko change cancel individual_appointments APPOINTMENT_ID
  python -m sandbox cliniko change archive patients PATIENT_ID
  python -m sandbox cliniko change delete treatment_notes NOTE_ID
  python -m sandbox cliniko change add patients first_name=Ada last_name=Lovelace email=ada@example.com
  python -m sandbox cliniko change add medical_alerts name="Latex allergy" patient_id=PATIENT_ID

FIELD=VALUE sets text; FIELD:=JSON sets a JSON value (true, 12, null, ["a"]). A relation is set by its
id, e.g. patient_id=123. Every change moves the record's updated_at to now, as in Cliniko, so the
next `meltano run tap-cliniko target-pipedrive` reads it as a delta.
"""


class ChangeError(Exception):
    """What went wrong, as one sentence for the person at the terminal."""


class UsageError(ChangeError):
    """The command line itself is wrong (exit 2, like argparse)."""


class Refused(ChangeError):
    """The server answered with an HTTP error (its message, when it gave one)."""


def add_parser(commands: Any) -> None:
    """`change` and its actions, under the `cliniko` command of `python -m sandbox`."""
    change = commands.add_parser(
        "change", help="change a running sandbox's data (to rehearse a delta)",
        description="Change the data of a running Cliniko sandbox over HTTP, to rehearse a delta.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    change.add_argument("--url", default=DEFAULT_URL,
                        help=f"the running Cliniko sandbox (default {DEFAULT_URL}, as in the README)")
    change.add_argument("--json", action="store_true", help="print the changed record as JSON instead of a sentence")
    actions = change.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, text: str, fields: str | None = None, has_id: bool = True) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        parser.add_argument("resource", help="a Cliniko resource, e.g. patients, individual_appointments")
        if has_id:
            parser.add_argument("id", help="the record's id")
        if fields:
            parser.add_argument("fields", nargs="+" if name == "edit" else "*", metavar="FIELD=VALUE", help=fields)
        return parser

    action("edit", "set fields of a record; its updated_at moves to now",
           "FIELD=TEXT, or FIELD:=JSON for true/false/numbers/null/lists")
    action("cancel", "cancel an appointment (individual_appointments or attendees): sets cancelled_at")
    action("archive", "archive a record: sets archived_at")
    action("delete", "delete a record: sets deleted_at, or removes a row Cliniko deletes for good "
                     "(appointment_type_billable_items)")
    action("add", "create a record (id, created_at and updated_at from the sandbox)", has_id=False,
           fields="FIELD=TEXT, or FIELD:=JSON; relations by id, e.g. patient_id=123")
    show = actions.add_parser("show", help="list a resource's records (hidden ones too), or print one as JSON",
                              description="List a resource's records (id, updated_at, a label; archived, cancelled "
                                          "and deleted ones too), or print one record as JSON.")
    show.add_argument("resource", help="a Cliniko resource, e.g. patients")
    show.add_argument("id", nargs="?", help="print this record as JSON")
    show.add_argument("--limit", type=int, default=20, help="records listed (default 20; 0 = all)")
    change.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        sandbox = Sandbox(args.url)
        text = ACTIONS[args.action](sandbox, args)
    except ChangeError as exc:
        message = str(exc).rstrip(".")
        print(f"error: {message}.", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `... show patients | head -1`: the reader had enough
        sys.stdout = open(os.devnull, "w")  # Python flushes stdout at exit: to nowhere, not the closed pipe
    return 0


# -- talking to the sandbox -------------------------------------------------------------------------
class Sandbox:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--url must be an http:// address such as {DEFAULT_URL}, not {url!r}")
        self.url = url.rstrip("/")
        self._checked = False

    def call(self, method: str, path: str, body: Any = None) -> Any:
        if not self._checked:  # a Cliniko sandbox knows its clinic; anything else is the wrong URL
            try:
                clinic = self._request("GET", "/_admin/clinic")
            except Refused:
                clinic = None
            if not isinstance(clinic, dict) or "seed" not in clinic:
                raise ChangeError(f"{self.url} is not a Cliniko sandbox (it has no clinic at /_admin/clinic)")
            self._checked = True
        return self._request(method, path, body)

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,  # noqa: S310 - http(s) checked
                                         headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise Refused(_refusal(self.url, exc)) from None
        except (urllib.error.URLError, OSError):
            raise ChangeError(f"no Cliniko sandbox answers at {self.url}: start one with "
                              "`python -m sandbox cliniko --port 8801`, or give its address with --url") from None
        except ValueError:
            raise ChangeError(f"{self.url} is not a Cliniko sandbox (it did not answer {path} with JSON)") from None


def _refusal(url: str, exc: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(exc.read()).get("error")
    except (ValueError, AttributeError):
        message = None
    if isinstance(message, str) and message:
        return message
    return f"{url} is not a Cliniko sandbox (it answered HTTP {exc.code})"


# -- the actions ------------------------------------------------------------------------------------
def parse_fields(items: list[str]) -> dict[str, Any]:
    """`name=text` and `name:=json` arguments as a dict."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name or name == ":":
            raise UsageError(f"expected FIELD=VALUE or FIELD:=JSON, got {item!r}")
        if name.endswith(":"):
            name = name[:-1]
            try:
                values[name] = json.loads(raw)
            except ValueError:
                raise UsageError(f"the value of {name}:= is not JSON (write {name}=TEXT for text)") from None
        else:
            values[name] = raw
    return values


def _edit(sandbox: Sandbox, args: argparse.Namespace) -> str:
    changes = parse_fields(args.fields)
    record = sandbox.call("POST", "/_admin/mutate", {"resource": args.resource, "id": args.id, "set": changes})
    return _say(args, record, f"{args.resource} {record.get('id')}: {', '.join(changes)} changed "
                              f"(updated_at {record.get('updated_at')})")


def _soft(action: str, field: str) -> Any:
    def act(sandbox: Sandbox, args: argparse.Namespace) -> str:
        record = sandbox.call("POST", f"/_admin/{action}", {"resource": args.resource, "id": args.id})
        if action == "delete" and not record.get("deleted_at"):
            return _say(args, record, f"{args.resource} {record.get('id')} removed (Cliniko deletes these rows for "
                                      "good: an incremental read does not see them go)")
        return _say(args, record, f"{args.resource} {record.get('id')} {field.removesuffix('_at')} at "
                                  f"{record.get(field)}")
    return act


def _add(sandbox: Sandbox, args: argparse.Namespace) -> str:
    record = sandbox.call("POST", f"/_admin/records/{quote(args.resource, safe='')}", parse_fields(args.fields))
    return _say(args, record, f"created {args.resource} {record.get('id')}")


def _show(sandbox: Sandbox, args: argparse.Namespace) -> str:
    if args.limit < 0:
        raise UsageError("--limit must be 0 (all) or more")
    rows = sandbox.call("GET", f"/_admin/records/{quote(args.resource, safe='')}").get(args.resource) or []
    if args.id is not None:
        found = next((r for r in rows if str(r.get("id")) == args.id), None)
        if found is None:
            raise ChangeError(f"no {args.resource} with id {args.id}")
        return json.dumps(found, indent=2, ensure_ascii=False)
    shown = rows if args.limit == 0 else rows[:args.limit]
    lines = [f"{r.get('id')}  {r.get('updated_at')}  {_label(r)}" for r in shown]
    more = "; --limit 0 lists all" if len(shown) < len(rows) else ""
    lines.append(f"({len(shown)} of {len(rows)} {args.resource}{more})")
    return "\n".join(lines)


def _label(record: dict[str, Any]) -> str:
    name = " ".join(str(record[k]).strip() for k in ("first_name", "last_name") if record.get(k))
    text = name or next((str(record[k]) for k in LABELS if record.get(k)), "")
    hidden = [f.removesuffix("_at") for f in ("archived_at", "cancelled_at", "deleted_at") if record.get(f)]
    return text + (f" [{', '.join(hidden)}]" if hidden else "")


def _say(args: argparse.Namespace, record: Any, sentence: str) -> str:
    return json.dumps(record, indent=2, ensure_ascii=False) if args.json else sentence


ACTIONS = {"edit": _edit, "cancel": _soft("cancel", "cancelled_at"), "archive": _soft("archive", "archived_at"),
           "delete": _soft("delete", "deleted_at"), "add": _add, "show": _show}
