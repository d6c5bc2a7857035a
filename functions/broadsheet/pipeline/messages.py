"""Every message between the stages, and every key the pipeline keeps in its buckets.

A commit travels as one manifest, then one job per touched issue:

    S3 event (manifests/<commit>.json)
      └─ validate: CommitJob → one IssueJob per touched issue, to itself
    validate: IssueJob → render → index (group issue-<n>) → ShareJob → index (group
    "shared"); each reconcile → InvalidateJob → invalidate; index → SearchJob → search

An embargo's schedule sends a ReleaseJob to index; ``broadsheet rebuild`` sends one
IssueJob of kind "rebuild" per issue. Each message is a frozen dataclass with
``to_json``/``from_json``; a handler reads raw JSON only through these.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from broadsheet.errors import Permanent

# --- keys in the source bucket -----------------------------------------------------------

MANIFESTS = "manifests/"
_MANIFEST_KEY = re.compile(r"manifests/([0-9a-f]{7,64})\.json")


def blob_key(digest: str) -> str:
    """A source file's bytes, by their sha256."""
    return f"blobs/{digest}"


def tree_key(digest: str) -> str:
    """An issue folder's listing at a commit, by the sha256 of its JSON."""
    return f"trees/{digest}.json"


def manifest_key(commit: str) -> str:
    return f"{MANIFESTS}{commit}.json"


def commit_of(key: str) -> str | None:
    """The commit a manifest key names, or None for any other key."""
    match = _MANIFEST_KEY.fullmatch(key)
    return match.group(1) if match else None


def variant_key(digest: str, name: str) -> str:
    """A photograph's variant, made once per image and SPEC (the digest says both)."""
    return f"variants/{digest}/{name}"


def body_key(version: str, blob: str) -> str:
    """A typeset body: the same source typeset by other code is another body."""
    return f"bodies/{version}/{blob}.html"


def issue_state_key(number: int) -> str:
    return f"state/issues/{number}.json"


RENAMES_KEY = "state/renames.json"
HEAD_KEY = "published/head.json"


def report_key(commit: str, issue: int | None = None) -> str:
    """What validate found: the commit's report, or one issue's part of it."""
    return f"reports/{commit}.json" if issue is None else f"reports/{commit}/{issue}.json"


def status_key(commit: str, stage: str, issue: int | None = None) -> str:
    suffix = "" if issue is None else f"/{issue}"
    return f"status/{commit}/{stage}{suffix}.json"


def stage_prefix(commit: str, stage: str) -> str:
    """Where a stage's records of each issue (or invalidation) of a commit are kept."""
    return f"status/{commit}/{stage}/"


def invalidation_prefix(commit: str) -> str:
    return stage_prefix(commit, "invalidate")


# The ids of work no commit started, used where a commit id would be: a rebuild's and a
# release's (``ReleaseJob.commit``).
NOT_COMMITS = ("rebuild-", "release-")


def invalidation_key(commit: str, reference: str) -> str:
    """One invalidation that cleared part of what a commit changed."""
    return f"{invalidation_prefix(commit)}{reference}.json"


def failure_key(message_id: str) -> str:
    return f"failures/{message_id}.json"


DROPPED = "failures/dropped/"


def dropped_key(commit: str, message_id: str) -> str:
    """A message a stage dropped as one that can never apply, found by its commit."""
    return f"{DROPPED}{commit}/{message_id}.json"


# --- messages ----------------------------------------------------------------------------

JobKind = Literal["commit", "rebuild"]

# The index queue is FIFO: one message group per issue, so an issue's jobs run one at a
# time and in order while issues run side by side; and one group for the partitions
# every issue shares, which its jobs follow. A message names its group (``group``).
SHARED_GROUP = "shared"


def issue_group(number: int) -> str:
    return f"issue-{number}"


def _fields(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class CommitJob:
    """validate, from the S3 notification of a new manifest."""

    commit: str
    key: str
    # The manifest's bytes as S3 names them: the same commit published again (a reset,
    # ``publish --snapshot``) is a new job, not a repeat of the first.
    etag: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"type": "commit", **dataclasses.asdict(self)}


@dataclass(frozen=True)
class Checked:
    """One file of an issue folder read on its own: what validate learnt, so that render
    and index need not read it again. ``version`` is what the verdict depends on besides
    the bytes (the code and site.yml's languages)."""

    path: str
    blob: str
    version: str
    facts: dict[str, Any] | None  # Article.facts(), or None when the file has findings
    findings: list[dict[str, Any]] = field(default_factory=list)
    # Read by the typesetter (render), not the checker alone: only then is the summary
    # taken from the typeset first paragraph, as readers see it.
    typeset: bool = False
    # The section as written, [value, line, column]: checked against site.yml's sections
    # where the verdict is used (``desk.judged``), so that adding one re-reads nothing.
    section: list[Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checked:
        return cls(**_fields(cls, data))


@dataclass(frozen=True)
class Examined:
    """A photograph of an issue folder examined: what it is (``Photo.facts``), by the
    name and blob it was examined under and the variants' SPEC."""

    name: str
    blob: str
    spec: str
    facts: dict[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Examined:
        return cls(**_fields(cls, data))


@dataclass(frozen=True)
class IssueJob:
    """One issue of one commit, through validate, render and index."""

    kind: JobKind
    commit: str
    sequence: int  # the commit's place in the order of publishing
    after: int  # sequence of the previous commit that touched this issue (0: none)
    time: str
    issue: int
    tree: str | None  # the issue folder's listing; None when the folder is gone
    site_blob: str
    site_ok: bool  # False: site.yml has findings, and the whole commit is held back
    # [old path, new path, old address or ""] of each rename out of this issue
    renames: list[list[str]] = field(default_factory=list)
    # What validate read anew, by key in the verdicts cache (``verdicts.py``): the files'
    # verdicts and the photographs examined.
    fresh: list[str] = field(default_factory=list)
    photos: list[str] = field(default_factory=list)
    waits: int = 0  # times it was sent back to wait for an earlier commit

    def to_json(self) -> dict[str, Any]:
        return {"type": "issue", "group": issue_group(self.issue), **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IssueJob:
        return cls(**_fields(cls, data))

    def replace(self, **changes: Any) -> IssueJob:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ReleaseJob:
    """index, from an article's schedule: its embargo lifts, or (``reason`` "news") it
    leaves the news sitemap; either way its issue and listings are looked at again."""

    issue: int
    slug: str
    at: str
    reason: str = "embargo"

    @property
    def commit(self) -> str:
        # One id per release, used where a commit id would be (status, CallerReference).
        return f"release-{self.issue}-{self.slug}-{self.at.replace(':', '').replace('+', 'p')}"

    def to_json(self) -> dict[str, Any]:
        return {"type": "release", "group": issue_group(self.issue), **dataclasses.asdict(self)}


@dataclass(frozen=True)
class ShareJob:
    """index, in the site-wide group: issue ``issue`` was applied (by ``commit``); bring
    the partitions every issue shares (the site-wide files, the listings, the indexes of
    sections and tags, the redirects) in line with its state as it is now."""

    commit: str
    issue: int
    verify: bool = False  # a rebuild: trust no record

    def to_json(self) -> dict[str, Any]:
        return {"type": "share", "group": SHARED_GROUP, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class InvalidateJob:
    """invalidate: the CDN paths one reconcile replaced or deleted, and the transitions
    they belong to (``reconcile.transition``), which name the invalidation."""

    commits: list[str]  # whose changes they are (a batch of shared jobs: several)
    transitions: list[str]
    paths: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"type": "invalidate", **dataclasses.asdict(self)}


@dataclass(frozen=True)
class SearchJob:
    """search: an issue's search records changed (many such jobs make one rebuild);
    ``verify``: trust no state, compare every file of each bundle with the bucket."""

    commit: str
    issue: int
    verify: bool = False
    waits: int = 0  # times it was sent back because another rebuild was under way

    def to_json(self) -> dict[str, Any]:
        return {"type": "search", **dataclasses.asdict(self)}


Job = CommitJob | IssueJob | ReleaseJob | ShareJob | InvalidateJob | SearchJob


def job_from_json(data: Mapping[str, Any]) -> Job:
    try:
        return _job(data)
    except (TypeError, KeyError, AttributeError) as error:  # a field missing or malformed
        raise Permanent(f"a {data.get('type')!r} message that does not read: {error}") from error


def _job(data: Mapping[str, Any]) -> Job:
    kind = data.get("type")
    if kind == "commit":
        return CommitJob(**_fields(CommitJob, data))
    if kind == "issue":
        return IssueJob.from_json(data)
    if kind == "release":
        return ReleaseJob(**_fields(ReleaseJob, data))
    if kind == "share":
        return ShareJob(**_fields(ShareJob, data))
    if kind == "invalidate":
        return InvalidateJob(**_fields(InvalidateJob, data))
    if kind == "search":
        return SearchJob(**_fields(SearchJob, data))
    raise Permanent(f"not a Broadsheet message: type {kind!r}")
