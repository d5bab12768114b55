"""A ZOQL subset: ``select F1, F2 from Object [where A = 'x' and B != 2]``.

Keywords must be lower case (as Zuora requires); field names are case-insensitive; records come
back PascalCase with NULL fields omitted; ``batchSize`` splits results behind a ``queryLocator``
that only its own tenant can page with ``queryMore``.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from zproxy.testing.fake_zuora.state import Rec, TenantState

Getter = Callable[[Rec], Any]
MAX_BATCH = 2000


class ZoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _f(key: str) -> Getter:
    return lambda rec: rec.get(key)


def _contact(kind: str, key: str) -> Getter:
    return lambda rec: rec[kind].get(key)


def _mrr(rec: Rec) -> float:
    return round(sum(float(c["mrr"]) for p in rec["ratePlans"] for c in p["ratePlanCharges"]), 2)


ACCOUNT: dict[str, Getter] = {
    "Id": _f("id"),
    "AccountNumber": _f("accountNumber"),
    "Name": _f("name"),
    "Status": _f("status"),
    "Currency": _f("currency"),
    "Balance": _f("balance"),
    "BillCycleDay": _f("billCycleDay"),
    "AutoPay": _f("autoPay"),
    "PaymentTerm": _f("paymentTerm"),
    "Batch": _f("batch"),
    "CrmId": _f("crmId"),
    "Notes": _f("notes"),
    "SalesRepName": _f("salesRep"),
    "CreditBalance": _f("creditBalance"),
    "TotalInvoiceBalance": _f("totalInvoiceBalance"),
    "DefaultPaymentMethodId": _f("defaultPaymentMethodId"),
    "ParentId": _f("parentId"),
    "BillToId": _contact("billToContact", "id"),
    "SoldToId": _contact("soldToContact", "id"),
    "CreatedDate": _f("createdDate"),
    "UpdatedDate": _f("updatedDate"),
}
SUBSCRIPTION: dict[str, Getter] = {
    "Id": _f("id"),
    "Name": _f("subscriptionNumber"),
    "AccountId": _f("accountId"),
    "Status": _f("status"),
    "Version": _f("version"),
    "TermType": _f("termType"),
    "InitialTerm": _f("initialTerm"),
    "RenewalTerm": _f("renewalTerm"),
    "AutoRenew": _f("autoRenew"),
    "TermStartDate": _f("termStartDate"),
    "TermEndDate": _f("termEndDate"),
    "SubscriptionStartDate": _f("subscriptionStartDate"),
    "SubscriptionEndDate": _f("subscriptionEndDate"),
    "ContractEffectiveDate": _f("contractEffectiveDate"),
    "CancelledDate": _f("cancelledDate"),
    "Notes": _f("notes"),
    "Currency": _f("currency"),
    "ContractedMrr": _mrr,
    "CreatedDate": _f("createTime"),
    "UpdatedDate": _f("updateTime"),
}
INVOICE: dict[str, Getter] = {
    "Id": _f("id"),
    "InvoiceNumber": _f("invoiceNumber"),
    "AccountId": _f("accountId"),
    "InvoiceDate": _f("invoiceDate"),
    "DueDate": _f("dueDate"),
    "Amount": _f("amount"),
    "Balance": _f("balance"),
    "Status": _f("status"),
}
PAYMENT: dict[str, Getter] = {
    "Id": _f("id"),
    "PaymentNumber": _f("number"),
    "AccountId": _f("accountId"),
    "Amount": _f("amount"),
    "AppliedAmount": _f("appliedAmount"),
    "EffectiveDate": _f("effectiveDate"),
    "Status": _f("status"),
    "Type": _f("type"),
    "PaymentMethodId": _f("paymentMethodId"),
}
PRODUCT: dict[str, Getter] = {
    "Id": _f("id"),
    "Name": _f("name"),
    "SKU": _f("sku"),
    "ProductNumber": _f("productNumber"),
    "Description": _f("description"),
    "Category": _f("category"),
    "EffectiveStartDate": _f("effectiveStartDate"),
    "EffectiveEndDate": _f("effectiveEndDate"),
}

#: Object name -> (fields, all records, fast paths: field -> records with that value).
OBJECTS: dict[str, dict[str, Getter]] = {
    "Account": ACCOUNT,
    "Subscription": SUBSCRIPTION,
    "Invoice": INVOICE,
    "Payment": PAYMENT,
    "Product": PRODUCT,
}
_LOWER = {name.lower(): name for name in OBJECTS}


def object_name(name: str) -> str | None:
    """The canonical object name for ``name`` in any case, or None."""
    return _LOWER.get(name.lower())


def _records(state: TenantState, obj: str) -> Iterable[Rec]:
    tables: dict[str, Iterable[Rec]] = {
        "Account": state.accounts.values(),
        "Subscription": state.subscriptions.values(),
        "Invoice": state.invoices.values(),
        "Payment": state.payments.values(),
        "Product": state.products,
    }
    return tables[obj]


def _indexed(state: TenantState, obj: str, fname: str, value: Any) -> Iterable[Rec] | None:
    """O(1) paths for the lookups clients make most: by Id, number, or AccountId."""
    if not isinstance(value, str):
        return None
    if fname == "Id" or (obj, fname) in {("Account", "AccountNumber"), ("Subscription", "Name")}:
        finder = {
            "Account": state.account,
            "Subscription": state.subscription,
            "Invoice": state.invoice,
            "Payment": state.payment,
            "Product": state.product,
        }
        found = finder[obj](value)
        return [found] if found is not None else []
    if fname == "AccountId" and obj in {"Subscription", "Invoice", "Payment"}:
        number = state.ids.get(value)
        kind = {"Subscription": "subscriptions", "Invoice": "invoices", "Payment": "payments"}[obj]
        table = {
            "Subscription": state.subscriptions,
            "Invoice": state.invoices,
            "Payment": state.payments,
        }[obj]
        return [table[n] for n in state.related(number, kind)] if number else []
    return None


_QUERY = re.compile(
    r"^\s*select\s+(?P<fields>.+?)\s+from\s+(?P<obj>\w+)(?:\s+where\s+(?P<where>.+?))?\s*$", re.S
)
_COND = re.compile(r"^\s*(?P<field>\w+)\s*(?P<op>!=|=)\s*(?P<value>'(?:[^'\\]|\\.)*'|[\w.+-]+)\s*$")
_KEYWORDS = re.compile(r"\b(SELECT|FROM|WHERE|AND|OR|Select|From|Where|And|Or)\b")


@dataclass(frozen=True, slots=True)
class Query:
    obj: str
    fields: tuple[str, ...]
    conditions: tuple[tuple[str, str, Any], ...]


def _literal(raw: str) -> Any:
    if raw.startswith("'"):
        return raw[1:-1].replace("\\'", "'")
    if raw in {"true", "false"}:
        return raw == "true"
    if raw == "null":
        return None
    try:
        return float(raw)
    except ValueError:
        raise ZoqlError("MALFORMED_QUERY", f"invalid value: {raw}") from None


def _field(fields: dict[str, Getter], name: str, obj: str) -> str:
    canonical = {k.lower(): k for k in fields}.get(name.lower())
    if canonical is None:
        raise ZoqlError("INVALID_FIELD", f"invalid field for {obj}: {name}")
    return canonical


def parse(query: str) -> Query:
    outside_quotes = re.sub(r"'(?:[^'\\]|\\.)*'", "''", query)
    if _KEYWORDS.search(outside_quotes):
        raise ZoqlError("MALFORMED_QUERY", "ZOQL keywords must be lower case")
    match = _QUERY.match(query)
    if match is None:
        raise ZoqlError("MALFORMED_QUERY", "expected: select <fields> from <object> [where ...]")
    obj = _LOWER.get(match["obj"].lower())
    if obj is None:
        raise ZoqlError("INVALID_TYPE", f"invalid object type: {match['obj']}")
    fields = OBJECTS[obj]
    names = tuple(_field(fields, f.strip(), obj) for f in match["fields"].split(","))
    conditions = []
    if match["where"]:
        if re.search(r"\sor\s", re.sub(r"'(?:[^'\\]|\\.)*'", "''", match["where"])):
            raise ZoqlError("MALFORMED_QUERY", "this fake supports only 'and' between conditions")
        for part in re.split(r"\s+and\s+", match["where"]):
            cond = _COND.match(part)
            if cond is None:
                raise ZoqlError("MALFORMED_QUERY", f"cannot parse condition: {part.strip()}")
            fname = _field(fields, cond["field"], obj)
            conditions.append((fname, cond["op"], _literal(cond["value"])))
    return Query(obj, names, tuple(conditions))


def _norm(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return float(value)
    return value


def _accepts(
    rec: Rec, fields: dict[str, Getter], conditions: Iterable[tuple[str, str, Any]]
) -> bool:
    for fname, op, value in conditions:
        equal = _norm(fields[fname](rec)) == _norm(value)
        if equal != (op == "="):
            return False
    return True


def execute(state: TenantState, query: Query) -> list[dict[str, Any]]:
    """Matching records, PascalCase, NULL fields omitted."""
    fields = OBJECTS[query.obj]
    source: Iterable[Rec] | None = None
    for fname, op, value in query.conditions:
        if op == "=":
            source = _indexed(state, query.obj, fname, value)
            if source is not None:
                break
    candidates = _records(state, query.obj) if source is None else source
    out = []
    for rec in candidates:
        if _accepts(rec, fields, query.conditions):
            row = {name: fields[name](rec) for name in query.fields}
            out.append({k: v for k, v in row.items() if v is not None})
    return out


@dataclass(slots=True)
class Locators:
    """Remaining rows behind each ``queryLocator``, bounded (oldest dropped first)."""

    pending: OrderedDict[str, tuple[int, list[dict[str, Any]], int, int]] = field(
        default_factory=OrderedDict
    )
    limit: int = 1000

    def page(
        self, tenant: int, rows: list[dict[str, Any]], batch: int, total: int = -1
    ) -> dict[str, Any]:
        """One batch; ``size`` is the size of the whole result, as Zuora reports it."""
        total = len(rows) if total < 0 else total
        head, rest = rows[:batch], rows[batch:]
        body: dict[str, Any] = {"records": head, "size": total, "done": not rest}
        if rest:
            locator = secrets.token_hex(16)
            self.pending[locator] = (tenant, rest, batch, total)
            while len(self.pending) > self.limit:
                self.pending.popitem(last=False)
            body["queryLocator"] = locator
        return body

    def more(self, tenant: int, locator: str) -> dict[str, Any] | None:
        found = self.pending.get(locator)
        if found is None or found[0] != tenant:
            return None
        del self.pending[locator]
        _, rows, batch, total = found
        return self.page(tenant, rows, batch, total)


def describe_xml(obj: str) -> str | None:
    name = _LOWER.get(obj.lower())
    if name is None:
        return None
    fields = "".join(
        f"<field><name>{f}</name><label>{f}</label><selectable>true</selectable>"
        f"<createable>{str(f != 'Id').lower()}</createable><filterable>true</filterable></field>"
        for f in OBJECTS[name]
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<object><name>{name}</name><label>{name}</label><fields>{fields}</fields></object>"
    )
