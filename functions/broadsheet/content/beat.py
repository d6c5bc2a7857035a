"""What readers follow across issues: a section, a tag, an author. Each has a page whose
address comes from its name, folded the same way everywhere: accents dropped, letters
lowered, anything else a hyphen (``Huelga de alquileres`` → ``huelga-de-alquileres``)."""

from __future__ import annotations

import re
import unicodedata

_RUNS = re.compile(r"[^a-z0-9]+")


def fold(name: str) -> str:
    """The slug of a tag's or an author's page; empty when the name has no letter or digit."""
    plain = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    plain = plain.replace("ß", "ss").replace("æ", "ae").replace("ø", "o").replace("ł", "l")
    return _RUNS.sub("-", plain.lower()).strip("-")[:80].strip("-")
