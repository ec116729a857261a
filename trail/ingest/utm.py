"""UTM parameters, Plausible's `ref`/`source` fallbacks and ad click ids from the page URL's query string."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple, Sequence

MAX_UTM = 2000
CLICK_IDS = ("gclid", "gbraid", "wbraid", "msclkid", "fbclid", "twclid")
_UTM_KEYS = {"utm_source": 0, "utm_medium": 1, "utm_campaign": 2, "utm_term": 3, "utm_content": 4}


class Campaign(NamedTuple):
    source: str
    medium: str
    campaign: str
    term: str
    content: str
    click_id_param: str  # the click id's parameter name ("gclid", ...); its value is never kept


EMPTY = Campaign("", "", "", "", "", "")


def parse_campaign(query: Sequence[tuple[str, str]]) -> Campaign:
    """The first non-empty value of each utm_* key; `source=`/`ref=` stand in for utm_source, as in Plausible."""
    if not query:
        return EMPTY
    values = ["", "", "", "", ""]
    fallback_source = ""
    click = ""
    for key, value in query:
        key = key.lower()
        slot = _UTM_KEYS.get(key)
        value = value.strip()
        if not value:
            continue
        if slot is not None:
            if not values[slot]:
                values[slot] = value[:MAX_UTM]
        elif key in ("source", "ref") and not fallback_source:
            fallback_source = value[:MAX_UTM]
        elif not click and key in CLICK_IDS:
            click = key
    if not values[0]:
        values[0] = fallback_source
    return Campaign(values[0], values[1], values[2], values[3], values[4], click)


@lru_cache(maxsize=8192)
def cached_campaign(query: tuple[tuple[str, str], ...]) -> Campaign:
    """parse_campaign for the request parser's query tuples, cached (a page URL's query repeats across visitors)."""
    return parse_campaign(query)
