"""Per-patient invoice figures: every status, deleted/archived, history, delta = full."""

from __future__ import annotations

from cliniko_map.functions.billing import invoice_summary, money


def inv(iid: str, status: int, total: str, issue: str, number: int, **extra: object) -> dict[str, object]:
    return {"id": iid, "status": status, "total_amount": total, "issue_date": issue, "number": number,
            "closed_at": None, "updated_at": f"{issue}T05:00:00Z", "deleted_at": None, "archived_at": None, **extra}


INVOICES = [
    inv("1", 10, "120.00", "2021-07-30", 1001),                                           # open: outstanding
    inv("2", 20, "85.50", "2020-12-10", 1002, closed_at="2020-12-20T23:30:00Z", time_zone="Australia/Sydney"),
    inv("3", 30, "85.00", "2024-02-11", 1003, closed_at="2024-02-12T01:00:00Z"),          # closed: not a payment
    inv("4", 40, "95.00", "2023-01-16", 1004, updated_at="2023-01-20T03:00:00Z"),        # open credit: paid
    inv("5", 10, "105.00", "2022-10-04", 1007),                                           # open
    inv("6", 20, "35.00", "2023-04-26", 1107, updated_at="2023-04-29T10:00:00Z"),        # paid, no closed_at
    inv("7", 10, "999.00", "2024-05-01", 1200, deleted_at="2024-05-02T00:00:00Z"),       # deleted: ignored
    inv("8", 20, "77.00", "2024-06-01", 1201, archived_at="2024-06-02T00:00:00Z"),       # archived: ignored
]


def test_figures_over_every_status() -> None:
    got = invoice_summary(INVOICES, currency="AUD", history_limit=10)
    assert got["count"] == 6
    assert got["total"] == {"value": 525.5, "currency": "AUD"}          # 120 + 85.50 + 85 + 95 + 105 + 35
    assert got["outstanding"] == {"value": 225.0, "currency": "AUD"}    # 120 + 105 (the two Open ones)
    assert got["last_invoice_date"] == "2024-02-11"
    # paid days: #1002 closed 2020-12-20 23:30Z = 21 Dec in Sydney; #1004 updated 2023-01-20; #1107 updated 2023-04-29
    assert got["last_paid_date"] == "2023-04-29"
    assert got["history"].splitlines() == [
        "2024-02-11 #1003 Closed 85.00 AUD",
        "2023-04-26 #1107 Paid 35.00 AUD",
        "2023-01-16 #1004 Open credit 95.00 AUD",
        "2022-10-04 #1007 Open 105.00 AUD",
        "2021-07-30 #1001 Open 120.00 AUD",
        "2020-12-10 #1002 Paid 85.50 AUD",
    ]


def test_paid_day_is_the_clinic_local_date() -> None:
    only = [INVOICES[1]]
    assert invoice_summary(only)["last_paid_date"] == "2020-12-21"
    assert invoice_summary([{**INVOICES[1], "time_zone": None}])["last_paid_date"] == "2020-12-20"


def test_items_name_the_history_and_limit_applies() -> None:
    items = [{"id": "a", "invoice_id": "3", "name": "Standard Consultation"},
             {"id": "b", "invoice_id": "3", "name": "Dry needling add-on"},
             {"id": "c", "invoice_id": "3", "name": "Removed line", "deleted_at": "2024-02-12T00:00:00Z"}]
    got = invoice_summary(INVOICES, items, currency="NZD", history_limit=2)
    assert got["history"].splitlines() == [
        "2024-02-11 #1003 Closed 85.00 NZD - Standard Consultation, Dry needling add-on",
        "2023-04-26 #1107 Paid 35.00 NZD",
        "(+4 earlier invoices)",
    ]


def test_no_invoices_left_and_no_currency() -> None:
    got = invoice_summary([INVOICES[6], INVOICES[7]])
    assert got == {"count": 0, "total": 0.0, "outstanding": 0.0, "last_invoice_date": None, "last_paid_date": None,
                   "history": None}


def test_money_rounding_and_garbage() -> None:
    got = invoice_summary([inv("1", 10, "18.1818", "2024-01-01", 1), inv("2", 10, "0.005", "2024-01-02", 2),
                           inv("3", 10, "n/a", "2024-01-03", 3), inv("4", None, "10", "2024-01-04", 4)])
    assert got["outstanding"] == 18.19      # 18.1868 -> 18.19; the unparseable amount counts as 0
    assert got["total"] == 28.19            # + the invoice without status
    assert "No status" in got["history"]
    assert money("NaN") is None and money("Infinity") is None
    assert money(None) is None and money("") is None


def test_order_of_rows_does_not_matter_and_a_delta_equals_a_full_run() -> None:
    full = invoice_summary(INVOICES, currency="AUD")
    assert invoice_summary(list(reversed(INVOICES)), currency="AUD") == full
    # delta: invoice 1 gets paid; recomputing over the updated set equals a fresh computation
    paid = {**INVOICES[0], "status": 20, "closed_at": "2024-08-01T00:00:00Z"}
    after = invoice_summary([paid, *INVOICES[1:]], currency="AUD")
    assert after["outstanding"] == {"value": 105.0, "currency": "AUD"}
    assert after["last_paid_date"] == "2024-08-01"
    assert after["total"] == full["total"]
