"""repair: compare the site bucket with what the partitions' records say it holds, and
mend every difference.

Each partition's applied record (a language's search bundle among them) names every file
it holds and the MD5 of its bytes, which is what S3 lists as the object's ETag. So one
listing of the site bucket (a thousand keys a request,
nothing read) says which files are missing, which differ, and which no partition holds
(orphans). The mend is the pipeline's own: each issue whose partition differs is rebuilt
(a rebuild trusts no record and compares every file it makes with the bucket, its
listings and the site-wide files among them), every issue when a shared partition
differs; a language whose bundle differs is indexed again the same way. A file no record
holds is looked at by the partition it would belong to (its address says which): when
that partition has a record, the file is an orphan, deleted and cleared from the CDN;
when it has none, the record is what was lost, and the partition is rebuilt instead, so
a lost record never takes a live page down. The schedule runs it daily; a metric counts what it
found, and its alarm tells a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from broadsheet.adapters.store import ObjectStore
from broadsheet.pipeline.env import Env
from broadsheet.pipeline.messages import InvalidateJob, SearchJob
from broadsheet.pipeline.operations import rebuild_jobs
from broadsheet.pipeline.reconcile import APPLIED, load_applied
from broadsheet.pipeline.search import PARTITIONS as SEARCH

ISSUES = "state/issues/"

SHOWN = 20  # differences named in a report; the rest are counted


@dataclass
class Survey:
    """What the site bucket holds that its records do not say, and the reverse."""

    missing: list[str] = field(default_factory=list)  # a record holds it; the bucket not
    differ: list[str] = field(default_factory=list)  # the bucket's bytes are not the record's
    orphans: list[str] = field(default_factory=list)  # in the bucket, in no record
    partitions: set[str] = field(default_factory=set)  # those holding a missing or other file
    records: int = 0  # partitions with a record
    lost: set[str] = field(default_factory=set)  # partitions with files but no record

    @property
    def searches(self) -> set[str]:
        """The search partitions (a language's list, or one block of its index) missing
        a file or holding another."""
        return {p.removeprefix(SEARCH) for p in self.partitions if p.startswith(SEARCH)}

    @property
    def issues(self) -> set[str]:
        """The other partitions: the issues' and those they all share."""
        return {p for p in self.partitions if not p.startswith(SEARCH)}

    @property
    def differences(self) -> int:
        return len(self.missing) + len(self.differ) + len(self.orphans) + len(self.lost)

    def to_json(self) -> dict[str, Any]:
        return {
            "differences": self.differences,
            "missing": len(self.missing),
            "differ": len(self.differ),
            "orphans": len(self.orphans),
            "records_lost": sorted(self.lost),
            "partitions": sorted(self.partitions),
            "examples": sorted([*self.missing, *self.differ, *self.orphans])[:SHOWN],
        }


_ISSUE_FILE = re.compile(
    r"api/v1/issues/(\d+)\.json|sitemaps/(\d+)\.xml|media/(\d+)/.+|[a-z]{2,3}/issues/(\d+)/.*"
)
_LISTINGS = {"sections": "section", "tags": "tag", "authors": "author"}


def owner(key: str) -> str:
    """The partition a file of the site would belong to, by its address."""
    found = _ISSUE_FILE.fullmatch(key)
    if found:
        return f"issues/{int(next(g for g in found.groups() if g))}"
    parts = key.split("/")
    if len(parts) >= 3 and parts[1:3] == ["search", "pagefind"]:
        # A block's bundle in a folder of its own; the language's list of them beside.
        return f"search/{parts[0]}" + (f"/{parts[3]}" if len(parts) >= 5 else "")
    if len(parts) >= 3 and parts[1] in _LISTINGS:
        kind = _LISTINGS[parts[1]]
        return (
            f"beats/{parts[0]}/{kind}" if len(parts) == 3 else f"beats/{parts[0]}/{kind}/{parts[2]}"
        )
    if len(parts) >= 2 and parts[1] == "corrections":
        return f"beats/{parts[0]}/correction/all"
    return "site"


def survey(sources: ObjectStore, site: ObjectStore) -> Survey:
    """Compare one listing of the site bucket with every record."""
    held: dict[str, tuple[str, str]] = {}  # key -> (partition, hash)
    found = Survey()
    for key in sources.keys(APPLIED):
        partition = key.removeprefix(APPLIED).removesuffix(".json")
        found.records += 1
        for name, (_digest, digest) in load_applied(sources, partition).files.items():
            held[name] = (partition, digest)
    listing = dict(site.listing())
    for name, (partition, digest) in sorted(held.items()):
        if name not in listing:
            found.missing.append(name)
            found.partitions.add(partition)
        elif listing[name] != digest:  # an unknown hash (a run cut short) differs too
            found.differ.append(name)
            found.partitions.add(partition)
    # A file in no record is an orphan, unless its partition's record is what was lost;
    # a search bundle's file a build no longer uses is retired (tagged to expire a day
    # later, a reader mid-search may still fetch it): neither held nor an orphan.
    recorded = {partition for partition, _ in held.values()}
    issues = {k.removeprefix("state/issues/").removesuffix(".json") for k in sources.keys(ISSUES)}
    for key in sorted(k for k in listing if k not in held):
        partition = owner(key)
        if partition.startswith(SEARCH) and partition in recorded and site.is_retired(key):
            continue  # an old bundle's file, which the lifecycle rule expires in a day
        gone_issue = partition.startswith("issues/") and partition[7:] not in issues
        if found.records and partition not in recorded and not gone_issue:
            found.lost.add(partition)  # its record was lost: rebuilt, not deleted
            found.partitions.add(partition)
        else:
            found.orphans.append(key)
    return found


def repair(env: Env, *, dry_run: bool = False) -> Survey:
    """Survey the site bucket and mend what differs; what was found."""
    found = survey(env.sources, env.site)
    if dry_run or not found.differences:
        return found
    stamp = env.now().strftime("%Y%m%dT%H%M%S")
    if found.issues:
        shared = any(not p.startswith("issues/") for p in found.issues)
        numbers = {int(p.removeprefix("issues/")) for p in found.issues if not shared}
        for job in rebuild_jobs(env.sources, f"repair-{stamp}", env.now().isoformat()):
            if shared or job.issue in numbers:
                env.queue("validate").send(job.to_json())
    if found.searches:
        env.queue("search").send(SearchJob(f"repair-{stamp}", 0, verify=True).to_json())
    if found.orphans and found.records:
        # With no record at all (the source bucket lost, not yet published again) every
        # file would look orphaned: nothing is deleted until a publish has said again
        # what the site holds.
        for key in found.orphans:
            env.site.delete(key)
        paths = sorted("/" + k for k in found.orphans)
        clear = InvalidateJob([f"repair-{stamp}"], [f"repair@{stamp}"], paths)
        env.queue("invalidate").send(clear.to_json())
    return found


def report(found: Survey) -> str:
    """The survey as a maintainer reads it in a terminal."""
    if not found.differences:
        return f"repair: the site bucket holds what its {found.records} record(s) say\n"
    lines = [
        f"repair: {found.differences} difference(s): {len(found.missing)} missing, "
        f"{len(found.differ)} other than recorded, {len(found.orphans)} in no record"
        + (f", {len(found.lost)} record(s) lost" if found.lost else "")
    ]
    lines += [f"  record lost (rebuilt): {partition}" for partition in sorted(found.lost)]
    lines += [f"  {name}" for name in found.to_json()["examples"]]
    if found.differences > SHOWN:
        lines.append(f"  … and {found.differences - SHOWN} more")
    if found.orphans and not found.records:
        lines.append("  (no record at all: nothing deleted; publish --snapshot first)")
    return "\n".join(lines) + "\n"
