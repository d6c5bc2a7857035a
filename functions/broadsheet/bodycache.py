"""Typeset bodies kept by the hash of their source, so a template change re-renders
pages without parsing Markdown again.

An entry is stored only for a source that passed every check, and its key covers the
exact bytes and the typesetting code, so a hit is as good as parsing again.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from importlib import metadata, resources
from pathlib import Path

from .typeset import Typeset


@cache
def typesetter_version() -> str:
    digest = hashlib.sha256(resources.files("broadsheet").joinpath("typeset.py").read_bytes())
    for package in ("markdown-it-py", "mdit-py-plugins"):
        digest.update(f"{package}={metadata.version(package)}".encode())
    return digest.hexdigest()[:16]


class BodyCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder / f"bodies-{typesetter_version()}"

    def _path(self, data: bytes) -> Path:
        digest = hashlib.sha256(data).hexdigest()
        return self.folder / digest[:2] / f"{digest}.json"

    def get(self, data: bytes) -> Typeset | None:
        try:
            stored = json.loads(self._path(data).read_bytes())
            return Typeset(stored["html"], stored["excerpt"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, data: bytes, body: Typeset) -> None:
        path = self._path(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader in another process never sees half an entry.
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({"html": body.html, "excerpt": body.excerpt}))
        partial.replace(path)
