"""Deterministic Zuora data: N rows per object, generated on demand, with updates between runs.

Row i of an object is a pure function of (object, i): tests know the exact truth, and a million
rows cost no memory until they are served. UpdatedDate grows with i (`start + i * step`), so the
rows of a window are an index range; rows updated or added later live in a small overlay.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo

Row = Dict[str, Any]

# (field, Zuora type) per object: the standard fields the connector's shipped schemas mirror.
STANDARD_FIELDS: Dict[str, List[Tuple[str, str]]] = {
    "Account": [
        ("Id", "text"), ("AccountNumber", "text"), ("Name", "text"), ("Status", "picklist"),
        ("Currency", "picklist"), ("Balance", "decimal"), ("CreditBalance", "decimal"),
        ("BillCycleDay", "integer"), ("AutoPay", "boolean"), ("PaymentTerm", "text"),
        ("LastInvoiceDate", "date"), ("Notes", "text"), ("CrmId", "text"), ("Batch", "picklist"),
        ("CreatedById", "text"), ("UpdatedById", "text"), ("CreatedDate", "datetime"), ("UpdatedDate", "datetime"),
    ],
    "Subscription": [
        ("Id", "text"), ("Name", "text"), ("AccountId", "text"), ("Status", "picklist"), ("TermType", "picklist"),
        ("InitialTerm", "integer"), ("CurrentTerm", "integer"), ("RenewalTerm", "integer"), ("AutoRenew", "boolean"),
        ("SubscriptionStartDate", "date"), ("SubscriptionEndDate", "date"), ("TermStartDate", "date"),
        ("TermEndDate", "date"), ("ContractEffectiveDate", "date"), ("Version", "integer"), ("Notes", "text"),
        ("CreatedDate", "datetime"), ("UpdatedDate", "datetime"),
    ],
    "RatePlan": [
        ("Id", "text"), ("Name", "text"), ("SubscriptionId", "text"), ("ProductRatePlanId", "text"),
        ("AmendmentType", "picklist"), ("CreatedDate", "datetime"), ("UpdatedDate", "datetime"),
    ],
    "Invoice": [
        ("Id", "text"), ("InvoiceNumber", "text"), ("AccountId", "text"), ("Amount", "decimal"), ("Balance", "decimal"),
        ("TaxAmount", "decimal"), ("PaymentAmount", "decimal"), ("DueDate", "date"), ("InvoiceDate", "date"),
        ("Status", "picklist"), ("PostedDate", "datetime"), ("Comments", "text"),
        ("CreatedDate", "datetime"), ("UpdatedDate", "datetime"),
    ],
    "InvoiceItem": [
        ("Id", "text"), ("InvoiceId", "text"), ("ChargeName", "text"), ("ChargeAmount", "decimal"),
        ("ChargeDate", "datetime"), ("Quantity", "decimal"), ("UnitPrice", "decimal"), ("TaxAmount", "decimal"),
        ("ServiceStartDate", "date"), ("ServiceEndDate", "date"), ("SKU", "text"), ("UOM", "text"),
        ("CreatedDate", "datetime"), ("UpdatedDate", "datetime"),
    ],
    "Payment": [
        ("Id", "text"), ("PaymentNumber", "text"), ("AccountId", "text"), ("Amount", "decimal"),
        ("AppliedAmount", "decimal"), ("RefundAmount", "decimal"), ("EffectiveDate", "date"), ("Status", "picklist"),
        ("Type", "picklist"), ("GatewayResponse", "text"), ("ReferenceId", "text"),
        ("CreatedDate", "datetime"), ("UpdatedDate", "datetime"),
    ],
    "Contact": [
        ("Id", "text"), ("AccountId", "text"), ("FirstName", "text"), ("LastName", "text"), ("WorkEmail", "text"),
        ("WorkPhone", "text"), ("Address1", "text"), ("City", "text"), ("State", "text"), ("PostalCode", "text"),
        ("Country", "text"), ("CreatedDate", "datetime"), ("UpdatedDate", "datetime"),
    ],
}

# Tenant-specific fields: listed by describe, absent from the connector's shipped schemas.
CUSTOM_FIELDS: Dict[str, List[Tuple[str, str]]] = {"Account": [("Region__c", "picklist")]}

_PICKLISTS = {
    "Status": ["Active", "Draft", "Cancelled", "Posted"],
    "Currency": ["USD", "EUR", "GBP", "JPY"],
    "Batch": ["Batch1", "Batch2", "Batch3"],
    "TermType": ["TERMED", "EVERGREEN"],
    "AmendmentType": ["NewProduct", "UpdateProduct", "RemoveProduct"],
    "Type": ["Electronic", "External"],
    "Region__c": ["EMEA", "AMER", "APAC"],
}
_NAMES = ["Acme Corp", "Zürich Café GmbH", "東京商事", "O'Brien & Sons", "Nørd AS", "Plain Co"]


def _digest(*parts: Any) -> str:
    return hashlib.md5(":".join(str(p) for p in parts).encode("utf-8")).hexdigest()


@dataclass
class ObjectData:
    name: str
    fields: List[Tuple[str, str]]
    rows: int
    first_updated: datetime
    step: timedelta
    overlay: Dict[int, Row] = field(default_factory=dict)  # index -> full row (updated or added)
    added: int = 0

    @property
    def field_types(self) -> Dict[str, str]:
        return dict(self.fields)

    def has_cursor(self) -> bool:
        return "UpdatedDate" in self.field_types


@dataclass(frozen=True)
class Snapshot:
    """The rows an export saw when it was created; its file is served from this, unchanged."""

    object_name: str
    index_ranges: Tuple[Tuple[int, int], ...]
    excluded: frozenset
    extra_rows: Tuple[Row, ...]

    def count(self) -> int:
        base = sum(hi - lo for lo, hi in self.index_ranges)
        excluded = sum(1 for i in self.excluded if any(lo <= i < hi for lo, hi in self.index_ranges))
        return base - excluded + len(self.extra_rows)


class ZuoraDataset:
    def __init__(
        self,
        rows_per_object: Mapping[str, int],
        tenant_zone: ZoneInfo,
        first_updated: datetime = datetime(2024, 1, 1, tzinfo=timezone.utc),
        span: timedelta = timedelta(days=365),
        extra_objects: Optional[Mapping[str, List[Tuple[str, str]]]] = None,
    ) -> None:
        self.tenant_zone = tenant_zone
        self._lock = threading.Lock()
        self.objects: Dict[str, ObjectData] = {}
        definitions = {**STANDARD_FIELDS, **(extra_objects or {})}
        for name, count in rows_per_object.items():
            fields = definitions[name] + CUSTOM_FIELDS.get(name, [])
            step = span / max(count, 1)
            # Whole milliseconds keep window arithmetic exact.
            step = timedelta(milliseconds=max(1, int(step.total_seconds() * 1000)))
            self.objects[name] = ObjectData(name, fields, count, first_updated, step)

    # -- generation -------------------------------------------------------------------------
    def base_row(self, data: ObjectData, index: int) -> Row:
        updated = data.first_updated + data.step * index
        row: Row = {}
        for position, (name, kind) in enumerate(data.fields):
            row[name] = self._value(data, index, position, name, kind, updated)
        return row

    def _value(self, data: ObjectData, i: int, position: int, name: str, kind: str, updated: datetime) -> Any:
        if name == "Id":
            return _digest(data.name, i)
        if name == "UpdatedDate":
            return updated
        if name == "CreatedDate":
            if not data.has_cursor():
                # Objects without UpdatedDate are read by CreatedDate, which then grows with i.
                return updated
            created = updated - timedelta(days=i % 90, minutes=i % 60)
            if i % 17 == 0:
                # Exactly midnight tenant time: Zuora writes these as a bare date (vendor-apis.md 4.5).
                local = created.astimezone(self.tenant_zone).date()
                created = datetime.combine(local, time(0), tzinfo=self.tenant_zone).astimezone(timezone.utc)
            return created
        if name.endswith("Id") and name != "Id":
            return _digest(name[:-2], i % 997)
        if kind == "picklist":
            options = _PICKLISTS.get(name, ["A", "B", "C"])
            return options[(i + position) % len(options)]
        if kind == "integer":
            return (i * 7 + position) % 28 + 1
        if kind == "decimal":
            return round(((i * 7919 + position * 131) % 1_000_000) / 100, 2)
        if kind == "boolean":
            return (i + position) % 3 == 0
        if kind == "date":
            return date(2023, 1, 1) + timedelta(days=(i * 13 + position) % 900)
        if kind == "datetime":
            return datetime(2023, 6, 1, tzinfo=timezone.utc) + timedelta(seconds=(i * 86_413 + position * 977) % 40_000_000)
        # text
        if name in ("Name", "ChargeName"):
            return f"{_NAMES[i % len(_NAMES)]} {i}"
        if name in ("Notes", "Comments") and i % 11 == 0:
            return f'Said "hello, {i}", then\nleft'
        if name in ("Notes", "Comments", "GatewayResponse") and i % 5 == 0:
            return ""
        return f"{name}-{i}"

    # -- truth ------------------------------------------------------------------------------
    def all_rows(self, object_name: str) -> List[Row]:
        data = self.objects[object_name]
        with self._lock:
            overlay = dict(data.overlay)
            total = data.rows + data.added
        rows = []
        for index in range(total):
            rows.append(dict(overlay[index]) if index in overlay else self.base_row(data, index))
        return rows

    def row(self, object_name: str, index: int) -> Row:
        data = self.objects[object_name]
        with self._lock:
            if index in data.overlay:
                return dict(data.overlay[index])
        return self.base_row(data, index)

    # -- changes between runs ---------------------------------------------------------------
    def update_rows(self, object_name: str, indexes: Sequence[int], at: Optional[datetime] = None) -> List[Row]:
        data = self.objects[object_name]
        moment = _whole_millis(at or datetime.now(timezone.utc))
        updated = []
        for index in indexes:
            row = self.row(object_name, index)
            row["UpdatedDate"] = moment
            text_field = next((name for name, kind in data.fields if kind == "text" and name not in ("Id",) and not name.endswith("Id")), None)
            if text_field:
                row[text_field] = f"{row[text_field]} (updated)"
            with self._lock:
                data.overlay[index] = row
            updated.append(dict(row))
        return updated

    def add_rows(self, object_name: str, count: int, at: Optional[datetime] = None) -> List[Row]:
        data = self.objects[object_name]
        moment = _whole_millis(at or datetime.now(timezone.utc))
        added = []
        for _ in range(count):
            with self._lock:
                index = data.rows + data.added
                data.added += 1
            row = self.base_row(data, index)
            row["UpdatedDate"] = moment
            row["CreatedDate"] = moment
            with self._lock:
                data.overlay[index] = row
            added.append(dict(row))
        return added

    # -- what an export sees ----------------------------------------------------------------
    def snapshot(self, object_name: str, conditions: Sequence[Tuple[str, str, datetime]]) -> Snapshot:
        data = self.objects[object_name]
        with self._lock:
            overlay = dict(data.overlay)
        only_updated = all(name == "UpdatedDate" for name, _, _ in conditions) and data.has_cursor()
        if only_updated:
            lo, hi = 0, data.rows
            for _, op, value in conditions:
                position = self._index_at(data, value, inclusive=op in (">=", "<"))
                if op in (">=", ">"):
                    lo = max(lo, position)
                elif op in ("<", "<="):
                    hi = min(hi, position)
            ranges = ((lo, max(lo, hi)),)
            extra = tuple(row for row in overlay.values() if _matches(row, conditions))
            return Snapshot(object_name, ranges, frozenset(overlay), extra)
        # Any other filter: scan every row (fine for the small objects tests use).
        rows = tuple(row for row in (overlay.get(i) or self.base_row(data, i) for i in range(data.rows + data.added)) if _matches(row, conditions))
        return Snapshot(object_name, (), frozenset(), rows)

    @staticmethod
    def _index_at(data: ObjectData, moment: datetime, inclusive: bool) -> int:
        """First index whose UpdatedDate is >= moment (inclusive) or > moment."""
        offset_ms = (moment - data.first_updated) // timedelta(milliseconds=1)
        step_ms = data.step // timedelta(milliseconds=1)
        if offset_ms <= 0:
            return 0 if inclusive or offset_ms < 0 else 1
        index = -(-offset_ms // step_ms)  # ceil
        if not inclusive and index * step_ms == offset_ms:
            index += 1
        return min(index, data.rows)

    def rows_of(self, snapshot: Snapshot) -> Iterator[Row]:
        data = self.objects[snapshot.object_name]
        for lo, hi in snapshot.index_ranges:
            for index in range(lo, hi):
                if index not in snapshot.excluded:
                    yield self.base_row(data, index)
        yield from (dict(row) for row in snapshot.extra_rows)


def _whole_millis(moment: datetime) -> datetime:
    """Zuora timestamps carry milliseconds."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _matches(row: Row, conditions: Sequence[Tuple[str, str, datetime]]) -> bool:
    for name, op, value in conditions:
        current = row.get(name)
        if current is None:
            return False
        if isinstance(current, date) and not isinstance(current, datetime):
            current = datetime.combine(current, time(0), tzinfo=timezone.utc)
        if op == ">=" and not current >= value:
            return False
        if op == ">" and not current > value:
            return False
        if op == "<" and not current < value:
            return False
        if op == "<=" and not current <= value:
            return False
        if op == "=" and not current == value:
            return False
    return True
