"""Datelines and dates in the reader's language (Babel's CLDR data)."""

from __future__ import annotations

import datetime as dt
from functools import cache

from babel.dates import format_date, format_skeleton


@cache
def _month_day(date: dt.date, language: str) -> str:
    return str(format_skeleton("MMMMd", date, locale=language))


def dateline(place: str, date: dt.date, language: str) -> str:
    """``LOS ANGELES (USA), July 25—`` or ``LOS ÁNGELES (EE. UU.), 25 de julio—``."""
    return f"{place.upper()}, {_month_day(date, language)}—"


@cache
def long_date(date: dt.date, language: str) -> str:
    return str(format_date(date, "long", locale=language))
