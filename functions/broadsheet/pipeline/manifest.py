"""The commit manifest: what one commit changed, as ``broadsheet publish`` uploads it.

Sources are stored by content hash (``blobs/<sha256>``), so a manifest names exact
bytes and a message that arrives late still reads the version it was about.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

VERSION = 1
ARTICLE_PATH = re.compile(r"issues/([1-9][0-9]{0,5})/([^/]+)\.md")
ISSUE_PATH = re.compile(r"issues/([1-9][0-9]{0,5})/issue\.yml")
SITE_PATH = "site.yml"


@dataclass(frozen=True)
class Change:
    status: str  # A added, M modified, D deleted, R renamed (old_path -> path)
    path: str  # relative to the content folder
    blob: str | None = None  # sha256 of the new bytes; None for a deletion
    old_path: str | None = None


@dataclass(frozen=True)
class Manifest:
    commit: str
    sequence: int  # the commit's position in history: later commits have larger numbers
    parent: str | None
    author: str
    time: str
    changes: tuple[Change, ...]
    # Blobs of the files every check needs though unchanged: site.yml and touched issue.yml.
    context: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        data = asdict(self)
        data["version"] = VERSION
        return json.dumps(data, ensure_ascii=False, indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data: dict[str, Any] = json.loads(raw)
        if data.get("version") != VERSION:
            raise ValueError(f"manifest version {data.get('version')!r} is not {VERSION}")
        changes = tuple(Change(**c) for c in data["changes"])
        return cls(
            data["commit"],
            int(data["sequence"]),
            data["parent"],
            data["author"],
            data["time"],
            changes,
            dict(data.get("context", {})),
        )

    def blob_of(self, path: str) -> str | None:
        for change in self.changes:
            if change.path == path and change.status != "D":
                return change.blob
        return self.context.get(path)


def manifest_key(commit: str) -> str:
    return f"manifests/{commit}.json"


def blob_key(digest: str) -> str:
    return f"blobs/{digest}"


def issue_of(path: str) -> int | None:
    match = ARTICLE_PATH.fullmatch(path) or ISSUE_PATH.fullmatch(path)
    return int(match.group(1)) if match else None
