"""The commit manifest: what one commit changed, as ``broadsheet publish`` uploads it.

A manifest names, for every issue the commit touches, the whole issue folder as it
stands at that commit (a tree: file name → mode and blob), not a list of edits. Each
stage works from what the folder *is*, so a message that arrives twice, late or after a
crash decides the same thing, and the published issue converges on the committed one.
Blobs are keyed by git's own object id, so publishing a one-article commit uploads one
file and never reads the others.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from broadsheet.content.issue import ISSUE_FOLDER, is_article_name

VERSION = 2
SITE_PATH = "site.yml"
ISSUE_FILE = "issue.yml"
SYMLINK = "120000"
SUBMODULE = "160000"


def issue_of(path: str) -> int | None:
    """The issue a content path belongs to (``issues/<n>/…``), or None."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[0] == "issues" and ISSUE_FOLDER.fullmatch(parts[1]):
        return int(parts[1])
    return None


@dataclass(frozen=True)
class Tree:
    """An issue folder at one commit: each file (relative to the folder) → (mode, blob)."""

    files: dict[str, tuple[str, str]]

    def to_json(self) -> bytes:
        files = {name: list(entry) for name, entry in sorted(self.files.items())}
        return json.dumps({"files": files}, sort_keys=True, separators=(",", ":")).encode()

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json()).hexdigest()

    @classmethod
    def from_json(cls, raw: bytes) -> Tree:
        data = json.loads(raw)
        return cls({name: (str(mode), str(blob)) for name, (mode, blob) in data["files"].items()})

    def articles(self) -> dict[str, tuple[str, str]]:
        """The folder's article files: Markdown files directly inside it."""
        return {n: e for n, e in self.files.items() if is_article_name(n)}


@dataclass(frozen=True)
class Change:
    status: str  # A added, M modified, D deleted, R renamed (old_path -> path)
    path: str  # relative to the content folder
    old_path: str | None = None


@dataclass(frozen=True)
class Rename:
    """A rename in the history before a snapshot: the old article's address as readers
    knew it (None when it was never public: a draft, an embargo not lifted)."""

    old_path: str
    path: str
    url: str | None = None


@dataclass(frozen=True)
class Touch:
    """One issue of a commit: its folder's tree (None: the folder is gone), and the
    sequence of the commit that touched it before (0: none), so that index applies an
    issue's commits in order."""

    tree: str | None
    after: int


@dataclass(frozen=True)
class Manifest:
    commit: str
    sequence: int  # the commit's place in the order of publishing
    parent: str | None
    author: str
    time: str
    site_blob: str | None  # site.yml at this commit
    issues: dict[int, Touch]
    changes: tuple[Change, ...] = ()  # what git says changed (renames included)
    ignored: tuple[str, ...] = ()  # files under issues/ that will not be read (misplaced)
    submodules: tuple[str, ...] = ()  # gitlinks this commit adds: read as nothing
    snapshot: bool = False  # the whole content folder, not a diff
    site_mode: str = "100644"  # site.yml's git mode: a symbolic link is refused
    # A snapshot's renames, oldest first, read from git (the redirects are history that
    # the repository keeps, so losing the source bucket loses none of them).
    history: tuple[Rename, ...] = ()
    # The release of Broadsheet that wrote it (``pipeline.release``); empty: not said.
    release: str = ""

    def to_json(self) -> bytes:
        data: dict[str, Any] = asdict(self)
        data["issues"] = {str(n): asdict(t) for n, t in sorted(self.issues.items())}
        data["version"] = VERSION
        return json.dumps(data, ensure_ascii=True, indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data: dict[str, Any] = json.loads(raw)
        if data.get("version") != VERSION:
            raise ValueError(f"manifest version {data.get('version')!r} is not {VERSION}")
        return cls(
            commit=str(data["commit"]),
            sequence=int(data["sequence"]),
            parent=data["parent"],
            author=str(data["author"]),
            time=str(data["time"]),
            site_blob=data["site_blob"],
            issues={int(n): Touch(t["tree"], int(t["after"])) for n, t in data["issues"].items()},
            changes=tuple(Change(**c) for c in data.get("changes", [])),
            ignored=tuple(data.get("ignored", [])),
            submodules=tuple(data.get("submodules", [])),
            snapshot=bool(data.get("snapshot", False)),
            site_mode=str(data.get("site_mode", "100644")),
            history=tuple(Rename(**r) for r in data.get("history", [])),
            release=str(data.get("release", "")),
        )

    def renames_from(self, issue: int) -> list[list[str]]:
        """[old path, new path, old address or ""] of every rename out of ``issue``: the
        history's (a snapshot's), then this commit's own (index knows their address)."""
        found = [
            [r.old_path, r.path, r.url or ""] for r in self.history if issue_of(r.old_path) == issue
        ]
        return found + [
            [c.old_path, c.path, ""]
            for c in self.changes
            if c.status == "R" and c.old_path and issue_of(c.old_path) == issue
        ]


@dataclass
class Head:
    """What the last publish left: its commit and sequence, and the last commit to touch
    each issue (the next one that does names it as ``after``)."""

    commit: str
    sequence: int
    touches: dict[int, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        touches = {str(n): s for n, s in sorted(self.touches.items())}
        data = {"commit": self.commit, "sequence": self.sequence, "touches": touches}
        return json.dumps(data).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Head:
        data = json.loads(raw)
        touches = {int(n): int(s) for n, s in data.get("touches", {}).items()}
        return cls(str(data["commit"]), int(data["sequence"]), touches)
