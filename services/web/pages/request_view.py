"""What a request's page says, made from the API's answers: functions without I/O (request_page.py calls them).

The ribbon, the SLA chips, the offer's state, the timeline in people's words, and refusals (409s) in words. A
customer's page never shows the provider side of billing: the API already leaves it out of a customer's answers
(docs/api.md, "What a customer sees"), and these functions leave it out again (`customer=True`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from services.web.templating import money, when
from shared.contracts import customer_view, wording
from shared.contracts.enums import DONE, WORKING

BEFORE_ACCEPT = ("draft", "published", "waiting_acceptance")
ASSIGNABLE = ("published", "waiting_acceptance", "accepted", "scheduled")  # the workflow's rule for (re-)assigning
ROLE_WORDS = wording.ROLE_WORDS
DECISION_WORDS = {"approve": "Approved", "decline": "Declined", "clarify": "Asked for clarification"}
OFFER_WORDS = {"provider": "a provider", "team": "a provider team", "marketplace": "the marketplace"}
ATTACHMENT_KIND_WORDS = {"photo": "Photo", "document": "Document", "provider_invoice": "Provider's invoice copy"}
INVOICE_STATUS_WORDS = {
    "draft": "Being written by the provider",
    "submitted": "Submitted",
    "approved": "Approved for payment",
    "paid": "Paid",
}


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def span_words(seconds: float) -> str:
    """A length of time as people say it: '2 days 3 hours', '45 minutes', 'less than a minute'."""
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)

    def unit(n: int, name: str) -> str:
        return f"{n} {name}{'' if n == 1 else 's'}"

    if days:
        return unit(days, "day") + (f" {unit(hours, 'hour')}" if hours else "")
    if hours:
        return unit(hours, "hour") + (f" {unit(minutes, 'minute')}" if minutes else "")
    return unit(minutes, "minute") if minutes else "less than a minute"


# --- the ribbon -------------------------------------------------------------------------------------
def ribbon(req: dict, timeline: list[dict] | None = None) -> list[dict]:
    """The steps of the status ribbon, each {label, state: done|skipped|current|todo}. Ready for Return only for
    walk-ins. A step passed without stopping there (no parts awaited, say) is 'skipped' when the timeline says
    so. A cancelled request shows the steps it had reached and a last step 'Cancelled'."""
    steps = [
        (label, statuses)
        for label, statuses in wording.RIBBON
        if label != "Ready for Return" or req.get("kind") == "walk_in"
    ]
    status = req["status"]
    cancelled = status == "cancelled"
    if cancelled:
        status = previous_of_cancel(timeline or []) or "draft"
    visited = {e.get("status") for e in timeline or [] if e["kind"] == "status_change"} | {status, "draft"}
    here = next((i for i, (_label, statuses) in enumerate(steps) if status in statuses), 0)
    out = []
    for i, (label, statuses) in enumerate(steps):
        if i < here or (cancelled and i == here):
            state = "done" if not timeline or visited & set(statuses) else "skipped"
        else:
            state = "current" if i == here else "todo"
        out.append({"label": label, "state": state})
    if cancelled:
        out.append({"label": "Cancelled", "state": "current"})
    return out


def previous_of_cancel(timeline: list[dict]) -> str | None:
    for entry in reversed(timeline):
        if entry["kind"] == "status_change" and entry.get("status") == "cancelled":
            return entry.get("previous_status")
    return None


# --- SLA chips and the offer ------------------------------------------------------------------------
def sla_chips(req: dict, now: datetime | None = None) -> list[dict]:
    """The operators' SLA chips, each {text, tone: ok|warn|bad}: acceptance and due countdowns in words, and
    the breach flag."""
    now = now or datetime.now(UTC)
    chips: list[dict] = []
    status = req["status"]
    accept_by = parse_time(req.get("accept_by"))
    if status == "waiting_acceptance" and accept_by:
        left = (accept_by - now).total_seconds()
        chips.append(
            {"text": f"Acceptance due in {span_words(left)}", "tone": "warn" if left < 3600 else "ok"}
            if left > 0
            else {"text": f"Acceptance overdue by {span_words(left)}", "tone": "bad"}
        )
    due_at = parse_time(req.get("due_at"))
    if due_at and status not in DONE and status != "cancelled":
        left = (due_at - now).total_seconds()
        if status == "awaiting_parts":
            chips.append({"text": "Due time paused while waiting for parts", "tone": "warn"})
        elif left > 0:
            chips.append({"text": f"Due in {span_words(left)}", "tone": "warn" if left < 4 * 3600 else "ok"})
        else:
            chips.append({"text": f"Overdue by {span_words(left)}", "tone": "bad"})
    if req.get("sla_breached"):
        chips.append({"text": "SLA breached", "tone": "bad"})
    elif status != "cancelled":
        chips.append({"text": "Within SLA", "tone": "ok"})
    return chips


def offer_state(req: dict, timeline: list[dict], provider_names: dict[int, str]) -> str:
    """Where the request's offer stands, for operators."""
    status = req["status"]
    if status == "draft":
        return "Not offered yet: the request is not published."
    if status == "cancelled":
        return "No offer: the request is cancelled."
    if req.get("provider_id") is not None and status not in BEFORE_ACCEPT:
        return f"Accepted by {provider_names.get(req['provider_id'], 'provider #' + str(req['provider_id']))}."
    offers = [
        e
        for e in timeline
        if e["kind"] == "status_change"
        and e.get("status") == "waiting_acceptance"
        and (e.get("detail") or {}).get("offer_kind")
    ]
    last = offers[-1] if offers else None
    if status == "waiting_acceptance" and last:
        to = OFFER_WORDS.get(last["detail"]["offer_kind"], "a provider")
        declines = sum(1 for e in timeline if e["kind"] == "decline" and e["id"] > last["id"])
        said = f"Offered to {to}, waiting for acceptance."
        if declines:
            said += f" Declined so far by {declines} provider{'s' if declines != 1 else ''}."
        return said
    if status == "published":
        back = [e for e in timeline if e["kind"] == "status_change" and e.get("status") == "published"]
        detail = (back[-1].get("detail") or {}) if back else {}
        if detail.get("reason") == "acceptance window expired":
            return "No open offer: nobody accepted the last one in time."
        if detail.get("declined_work_order_number"):
            return "No open offer: the provider declined the last one."
        return "No open offer yet: ready to assign."
    return "—"


# --- refusals in words --------------------------------------------------------------------------------
_REFUSAL = re.compile(
    r"^cannot (?P<action>.+?) (?P<number>SR-\d+): its status is (?P<status>[a-z_]+)"
    r"(?: \((?P<why>.*)\))?$"
)
_BILLING = re.compile(
    r"^cannot (?P<action>.+?) (?P<number>SR-\d+): its billing status is (?:already )?"
    r"(?P<billing>[a-z_]+) \(status [a-z_]+\)$"
)


def refusal_words(message: str, customer: bool) -> str:
    """The API's 409 ("cannot publish SR-000001: its status is published") with the status in words."""
    if m := _REFUSAL.match(message.strip()):
        said = wording.status_words(m["status"], customer=customer)
        why = f" ({m['why']})" if m["why"] else ""
        return f"This cannot be done now: {m['number']} is “{said}”{why}."
    if m := _BILLING.match(message.strip()):
        return (
            f"This cannot be done now: the billing of {m['number']} is already "
            f"“{wording.BILLING_WORDS.get(m['billing'], m['billing'])}”."
        )
    text = message.strip().removeprefix("Value error, ").replace("provider_id", "the provider")
    text = text.replace("team_id", "the team")
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


# --- the timeline in words -----------------------------------------------------------------------------
def who(entry: dict) -> str:
    role = entry.get("actor_role")
    if not role:
        return "fieldops (automatic)"
    return f"{entry.get('actor_name') or 'Someone'} ({ROLE_WORDS.get(role, role)})"


def status_headline(entry: dict, customer: bool) -> str:
    status = entry.get("status")
    previous = entry.get("previous_status")
    detail = entry.get("detail") or {}
    if status == "draft" and previous is None:
        return "Request submitted"
    if status == "published":
        if detail.get("reason") == "acceptance window expired":
            return "Looking for another technician" if customer else "Offer withdrawn: nobody accepted in time"
        if detail.get("declined_work_order_number"):
            return "Looking for another technician" if customer else "The provider declined the offer"
        return "Checked and ready to send to a technician" if customer else "Published: ready for routing"
    if status == "waiting_acceptance":
        if customer:
            return "Offered to a technician"
        return f"Offered to {OFFER_WORDS.get(detail.get('offer_kind', ''), 'a provider')}"
    if status == "accepted":
        return "Accepted by a technician"
    if status == "scheduled":
        return "Rescheduled" if previous == "scheduled" else "Scheduled"
    if status == "in_progress":
        return "Work resumed" if previous == "awaiting_parts" else "Work started"
    if status == "awaiting_parts":
        return "Waiting for parts"
    if status == "ready_for_return":
        return "Ready for pick-up"
    if status == "completed":
        return "Work completed"
    if status == "invoice_submitted":
        return "Provider invoice submitted"
    if status == "payment_approved":
        return "Provider payment approved"
    if status == "paid":
        return "Provider paid"
    if status == "cancelled":
        return "Request deleted" if detail.get("deleted") else "Request cancelled"
    return wording.status_words(status or "", customer=customer)


def entry_lines(entry: dict, customer: bool) -> list[tuple[str, str]]:
    """The labelled facts of an entry worth a line: (label, text)."""
    detail = entry.get("detail") or {}
    lines: list[tuple[str, str]] = []
    hidden = (
        customer_view.HIDDEN_DETAIL_KEYS
        if customer and entry["kind"] not in customer_view.OWN_BILLING_KINDS
        else frozenset()
    )
    if detail.get("scheduled_for"):
        lines.append(("For", when(detail["scheduled_for"])))
    if not customer and detail.get("work_order_number") and entry["kind"] in ("status_change", "decline"):
        lines.append(("Work order", str(detail["work_order_number"])))
    if not customer and detail.get("voided_work_order_number"):
        lines.append(("Replaces work order", str(detail["voided_work_order_number"])))
    if "invoice_number" in detail and "invoice_number" not in hidden and entry["kind"] == "status_change":
        lines.append(("Provider invoice number", str(detail["invoice_number"])))
    if "payment_reference" in detail and "payment_reference" not in hidden:
        lines.append(("Payment reference", str(detail["payment_reference"])))
    if "amount" in detail and "amount" not in hidden and entry["kind"] == "status_change":
        lines.append(("Amount paid to the provider", money(detail["amount"])))
    if detail.get("reason"):
        lines.append(("Reason", str(detail["reason"])))
    if detail.get("notes"):
        lines.append(("Notes", str(detail["notes"])))
    return lines


def timeline_entries(items: list[dict], customer: bool) -> list[dict]:
    """The timeline as the page shows it, oldest first: {id, at, who, headline, lines, body, file, tone}."""
    out: list[dict] = []
    for raw in items:
        if customer:
            seen = customer_view.event(raw)  # the API has done this already; the page does not rely on it
            if seen is None:
                continue
            entry = {**raw, **seen}
        else:
            entry = raw
        kind = entry["kind"]
        detail = entry.get("detail") or {}
        item = {
            "id": entry["id"],
            "at": entry.get("at"),
            "who": who(entry),
            "kind": kind,
            "lines": [],
            "body": None,
            "file": None,
            "tone": "",
        }
        if kind == "status_change":
            item["headline"] = status_headline(entry, customer)
            item["lines"] = entry_lines(entry, customer)
            item["tone"] = "bad" if entry.get("status") == "cancelled" else ""
        elif kind == "note":
            item["headline"] = "Note"
            item["body"] = detail.get("body", "")
        elif kind == "attachment":
            item["headline"] = f"{ATTACHMENT_KIND_WORDS.get(detail.get('kind', ''), 'File')} added"
            item["file"] = {"id": detail.get("attachment_id"), "filename": detail.get("filename", "file")}
        elif kind == "recommendation":
            item["headline"] = f"Recommendation: {detail.get('summary', '')}"
            if detail.get("estimated_cost"):
                item["lines"].append(("Estimated cost", money(detail["estimated_cost"])))
            if detail.get("notes"):
                item["lines"].append(("Notes", str(detail["notes"])))
        elif kind == "response":
            decision = DECISION_WORDS.get(detail.get("decision", ""), detail.get("decision", ""))
            item["headline"] = f"Recommendation answered: {decision}"
            item["body"] = detail.get("comment") or None
        elif kind == "reminder":
            item["headline"] = f"Reminder sent: the recommendation “{detail.get('summary', '')}” awaits an answer"
        elif kind == "sla_breached":
            item["headline"] = "Past its due time" if customer else "SLA breached: past its due time"
            item["tone"] = "bad"
        elif kind == "decline":
            item["headline"] = "A technician declined the offer" if customer else "A provider declined the offer"
            item["lines"] = entry_lines(entry, customer)
        elif kind == "offer_voided":
            if customer:
                continue
            item["headline"] = "Offer withdrawn before it reached anyone"
            item["lines"] = entry_lines(entry, customer)
        elif kind == "invoice":
            if detail.get("billing_status") == "not_required":
                item["headline"] = "No invoice needed for this request"
            else:
                item["headline"] = f"Invoice {detail.get('invoice_number', '')} issued".replace("  ", " ")
                if detail.get("total"):
                    item["lines"].append(("Total", money(detail["total"])))
            if detail.get("notes"):
                item["lines"].append(("Notes", str(detail["notes"])))
        elif kind == "payment":
            item["headline"] = "Invoice paid"
            if detail.get("amount"):
                item["lines"].append(("Amount", money(detail["amount"])))
        else:
            item["headline"] = kind.replace("_", " ").capitalize()
        out.append(item)
    return out


def is_open(recommendation: dict, req: dict) -> bool:
    """A recommendation still waiting for the customer's answer (clarification asked counts as open)."""
    return recommendation.get("decision") in (None, "clarify") and req["status"] != "cancelled"


def staff_actions(role: str, req: dict) -> dict[str, bool]:
    """Which operators' actions the page offers now, by the workflow's rules (the API decides in the end)."""
    status, dispatch, billing = req["status"], role in ("dispatcher", "admin"), role == "accounts_receivable"
    billable = billing and status in DONE and req.get("billing_status") == "pending"
    return {
        "publish": dispatch and status == "draft",
        "assign": dispatch and status in ASSIGNABLE,
        "assign-team": dispatch and status in ASSIGNABLE,
        "send-to-marketplace": dispatch and status in ASSIGNABLE,
        "approve-payment": dispatch and status == "invoice_submitted",
        "invoiced": billable,
        "invoice-not-required": billable,
    }


def may_cancel(role: str, status: str) -> bool:
    if role == "customer":
        return status in BEFORE_ACCEPT
    if role in ("dispatcher", "admin"):
        return status in BEFORE_ACCEPT or status in WORKING
    return False
