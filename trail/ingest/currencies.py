"""ISO 4217 currency codes, from the maintained `iso4217` package (the SIX list, updated with each amendment)."""

from __future__ import annotations

from iso4217 import Currency

CURRENCIES: frozenset[str] = frozenset(c.code for c in Currency)


def is_currency(code: str) -> bool:
    """True for an active ISO 4217 alphabetic code such as "EUR" (upper case)."""
    return code in CURRENCIES
