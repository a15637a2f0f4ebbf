"""The subset of VQL a connector needs (vendor-apis.md 1.2, 1.3).

`SELECT f1, f2 FROM source [WHERE f op 'literal' [AND ...]] [ORDER BY f [ASC|DESC]] [PAGESIZE n]
[PAGEOFFSET n]`, keywords in any case. Date literals are ISO strings compared as instants.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, List, Optional, Sequence, Tuple

MAX_PAGE_SIZE = 1000  # default and normal maximum page size (vendor-apis.md 1.3)
MAX_QUERY_CHARS = 50_000  # `q` limit (vendor-apis.md 1.2)

_QUERY = re.compile(
    r"^\s*select\s+(?P<fields>.+?)\s+from\s+(?P<source>\w+)"
    r"(?:\s+where\s+(?P<where>.+?))?"
    r"(?:\s+order\s+by\s+(?P<order>\w+)(?:\s+(?P<direction>asc|desc))?)?"
    r"(?:\s+pagesize\s+(?P<pagesize>\d+))?"
    r"(?:\s+pageoffset\s+(?P<pageoffset>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(r"^\s*(?P<field>\w+)\s*(?P<op>>=|<=|!=|=|>|<)\s*(?P<value>'[^']*'|-?\d+)\s*$")
_FIELD = re.compile(r"^\w+$")

Condition = Tuple[str, str, Any]
_OPERATORS = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


class VqlError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True)
class Query:
    source: str
    fields: Tuple[str, ...]
    conditions: Tuple[Condition, ...]
    order: Optional[Tuple[str, bool]]  # (field, descending)
    pagesize: int
    pageoffset: int


def parse(text: str, fields_of: Callable[[str], Optional[Sequence[str]]], date_fields: Sequence[str]) -> Query:
    if len(text) > MAX_QUERY_CHARS:
        raise VqlError("INCORRECT_QUERY_SYNTAX_ERROR", f"Query exceeds {MAX_QUERY_CHARS} characters")
    match = _QUERY.match(text)
    if not match:
        raise VqlError("INCORRECT_QUERY_SYNTAX_ERROR", f"Error parsing query: {text.strip()[:200]}")
    source = match.group("source")
    known = fields_of(source)
    if known is None:
        # Chosen type: Vault reports unknown objects as invalid data, not as a syntax problem.
        raise VqlError("INVALID_DATA", f"Object [{source}] does not exist or is not queryable")
    fields = tuple(name.strip() for name in match.group("fields").split(","))
    for name in fields:
        if not _FIELD.match(name):
            raise VqlError("INCORRECT_QUERY_SYNTAX_ERROR", f"Error parsing select list near [{name}]")
        if name not in known:
            raise VqlError("INCORRECT_QUERY_SYNTAX_ERROR", f"No such field [{name}] on [{source}]")
    conditions: List[Condition] = []
    if match.group("where"):
        for part in re.split(r"\s+and\s+", match.group("where"), flags=re.IGNORECASE):
            condition = _CONDITION.match(part)
            if not condition or condition.group("field") not in known:
                raise VqlError("INCORRECT_QUERY_SYNTAX_ERROR", f"Error parsing WHERE clause near [{part.strip()}]")
            name, raw = condition.group("field"), condition.group("value")
            conditions.append((name, condition.group("op"), _literal(raw, name in date_fields)))
    order = None
    if match.group("order"):
        if match.group("order") not in known:
            raise VqlError("INCORRECT_QUERY_SYNTAX_ERROR", f"No such field [{match.group('order')}] in ORDER BY")
        order = (match.group("order"), (match.group("direction") or "asc").lower() == "desc")
    pagesize = int(match.group("pagesize") or MAX_PAGE_SIZE)
    if pagesize < 1:
        raise VqlError("INCORRECT_QUERY_SYNTAX_ERROR", "PAGESIZE must be a positive number")
    return Query(source, fields, tuple(conditions), order, min(pagesize, MAX_PAGE_SIZE), int(match.group("pageoffset") or 0))


def _literal(raw: str, is_date: bool) -> Any:
    if not raw.startswith("'"):
        return int(raw)
    text = raw[1:-1]
    if not is_date:
        return text
    value = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise VqlError("INCORRECT_QUERY_SYNTAX_ERROR", f"Invalid date/time value [{text}]") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def matches(value: Any, op: str, literal: Any) -> bool:
    if isinstance(value, int) and isinstance(literal, str) and literal.lstrip("-").isdigit():
        literal = int(literal)  # `WHERE id = '101'` on documents, whose ids are ints
    try:
        return bool(_OPERATORS[op](value, literal))
    except TypeError:  # e.g. a date compared with a number: no match, as Vault would return no rows
        return False
