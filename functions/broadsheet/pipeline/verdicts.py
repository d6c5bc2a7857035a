"""What validate learnt of each file, kept by what it was learnt from, so that render and
index need not read the file again, and no message carries it.

A verdict (``Checked``) is kept under the file's path, its bytes' hash and the verdict's
version (the code and site.yml); render puts its typeset verdict (worth more: its summary
is the typeset first paragraph) under the same key. A photograph examined (``Examined``)
is kept under its name, its bytes' hash and the variants' SPEC. Jobs carry the keys.
These are caches: a key whose object is gone is read as unknown, and index checks the
file again (``desk.check_folder``), as it would a file nobody had read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict

from broadsheet.adapters.store import ObjectStore
from broadsheet.pipeline.env import side_by_side
from broadsheet.pipeline.messages import Checked, Examined

VERDICTS = "verdicts/"
EXAMINED = "examined/"


def _where(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def verdict_key(checked: Checked) -> str:
    return f"{VERDICTS}{checked.version}/{_where(checked.path)}/{checked.blob}.json"


def examined_key(examined: Examined) -> str:
    return f"{EXAMINED}{examined.spec}/{_where(examined.name)}/{examined.blob}.json"


def _put(store: ObjectStore, key: str, value: object) -> None:
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    store.put(key, data.encode(), content_type="application/json")


def keep_verdicts(store: ObjectStore, verdicts: Iterable[Checked], workers: int = 1) -> list[str]:
    """Each verdict kept (``workers`` at once); their keys."""
    kept = [(verdict_key(checked), asdict(checked)) for checked in verdicts]
    side_by_side(workers, lambda item: _put(store, *item), kept)
    return [key for key, _ in kept]


def keep_examined(store: ObjectStore, photos: Iterable[Examined], workers: int = 1) -> list[str]:
    kept = [(examined_key(examined), asdict(examined)) for examined in photos]
    side_by_side(workers, lambda item: _put(store, *item), kept)
    return [key for key, _ in kept]


def verdicts(store: ObjectStore, keys: Iterable[str], workers: int = 1) -> list[Checked]:
    """The verdicts still kept under ``keys`` (one gone is left out)."""
    found = side_by_side(workers, store.get, keys)
    return [Checked.from_json(json.loads(s.body)) for s in found if s is not None]


def examined(store: ObjectStore, keys: Iterable[str], workers: int = 1) -> list[Examined]:
    found = side_by_side(workers, store.get, keys)
    return [Examined.from_json(json.loads(s.body)) for s in found if s is not None]
