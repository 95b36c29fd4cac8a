"""Numbers in the registry table: DynamoDB holds them as Decimal (boto3's resource API refuses a
float), the code works with int and float. Records convert here, in both directions, and nowhere else.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

# The smallest magnitude DynamoDB stores (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
# HowItWorks.NamingRulesDataTypes.html, "Number": 1E-130 to 9.9999999999999999999999999999999999999E+125).
SMALLEST_STORED = Decimal("1E-130")


def to_dynamo(document: Any) -> Any:
    """A document of plain values as DynamoDB takes it: floats as Decimal, NaN and infinities as None
    (DynamoDB stores neither), a float nearer zero than DynamoDB can hold (a 1e-308 sample rate, a tiny
    p-value) as 0, anything JSON cannot hold as its text.

    Non-finite numbers are mapped by value, not by rewriting JSON text, so a string that merely
    contains "NaN" or "Infinity" (a candidate's name, a failure reason) stays as it was.
    """
    return json.loads(
        json.dumps(document, default=str),
        parse_float=_stored_float,
        parse_constant=lambda _constant: None,
    )


def _stored_float(text: str) -> Decimal:
    value = Decimal(text)
    return Decimal(0) if value and abs(value) < SMALLEST_STORED else value


def plain_number(value: Decimal) -> int | float:
    """A stored number back as the int or float it was (a max_iter of 1000 is not 1000.0)."""
    return int(value) if value == value.to_integral_value() else float(value)


def from_dynamo(value: Any) -> Any:
    """A value read from the table with its Decimals as int or float, at any depth."""
    if isinstance(value, Decimal):
        return plain_number(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [from_dynamo(v) for v in value]
    if isinstance(value, set | frozenset):
        return {from_dynamo(v) for v in value}
    return value
