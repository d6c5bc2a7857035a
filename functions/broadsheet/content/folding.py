"""What readers follow across issues: a section, a tag, an author. Each has a page whose
address comes from its name, folded the same way everywhere: accents dropped, letters
lowered, anything else a hyphen (``Huelga de alquileres`` → ``huelga-de-alquileres``)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_RUNS = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=8192)  # an archive's tags and authors recur on every article
def fold(name: str) -> str:
    """The slug of a tag's or an author's page; empty when the name has no letter or digit."""
    # Lowered first: the letters spelled out below have capitals (Ł, Æ, Ø, ẞ, Œ, Þ) that
    # no decomposition turns into their small forms.
    plain = unicodedata.normalize("NFKD", name.lower())
    plain = "".join(_SPELLED.get(c, c) for c in plain if not unicodedata.combining(c))
    return _RUNS.sub("-", plain).strip("-")[:80].strip("-")


# Latin letters with no decomposition to a base letter, as they are usually spelled out.
_SPELLED = {"ß": "ss", "æ": "ae", "ø": "o", "ł": "l", "œ": "oe", "þ": "th", "đ": "d", "ð": "d"}
