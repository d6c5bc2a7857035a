"""``broadsheet publish``: turn the commits since the last publish into manifests.

Each commit gets one manifest, diffed against its parent with renames detected, and
its changed sources uploaded by content hash. The committed bytes are read from git,
never the working tree: an edit that is not committed publishes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from broadsheet.adapters.store import ObjectStore, PreconditionFailed
from broadsheet.pipeline.manifest import (
    SITE_PATH,
    Change,
    Manifest,
    blob_key,
    issue_of,
    manifest_key,
)

HEAD_KEY = "published/head"


class PublishError(Exception):
    pass


@dataclass(frozen=True)
class Git:
    repo: Path
    content: str = "content"  # the content folder, relative to the repository root

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(self.repo), *args], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise PublishError(f"git {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def show(self, commit: str, path: str) -> bytes:
        result = subprocess.run(
            ["git", "-C", str(self.repo), "show", f"{commit}:{self.content}/{path}"],
            capture_output=True,
        )
        if result.returncode != 0:
            raise PublishError(f"git show {commit}:{self.content}/{path} failed")
        return result.stdout

    def exists(self, commit: str, path: str) -> bool:
        result = subprocess.run(
            ["git", "-C", str(self.repo), "cat-file", "-e", f"{commit}:{self.content}/{path}"],
            capture_output=True,
        )
        return result.returncode == 0

    def commits_since(self, last: str | None) -> list[str]:
        """The commits to publish, oldest first. The first publish is HEAD alone: a
        snapshot of everything, not a replay of the repository's history."""
        if last is None:
            return [self.run("rev-parse", "HEAD").strip()]
        return self.run("rev-list", "--reverse", "--first-parent", f"{last}..HEAD").split()

    def changes(self, commit: str, parent: str | None) -> list[Change]:
        prefix = self.content.rstrip("/") + "/"
        if parent is None:
            listing = self.run("ls-tree", "-r", "--name-only", commit, "--", prefix)
            return [Change("A", line[len(prefix) :]) for line in listing.splitlines()]
        diff = self.run("diff", "--name-status", "-M", parent, commit, "--", prefix)
        changes = []
        for line in diff.splitlines():
            status, *paths = line.split("\t")
            paths = [p[len(prefix) :] for p in paths]
            if status.startswith("R"):
                changes.append(Change("R", paths[1], old_path=paths[0]))
            elif status.startswith("C"):
                changes.append(Change("A", paths[1]))
            elif status[0] in "AMD" or status[0] == "T":
                changes.append(Change("M" if status[0] == "T" else status[0], paths[0]))
        return changes


def _upload(store: ObjectStore, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    if store.get(blob_key(digest)) is None:
        with contextlib.suppress(PreconditionFailed):  # uploaded meanwhile: same bytes
            store.put(blob_key(digest), data, if_none_match=True)
    return digest


def manifest_for(git: Git, store: ObjectStore, commit: str, *, first: bool = False) -> Manifest:
    parents = git.run("rev-list", "--parents", "-n", "1", commit).split()[1:]
    parent = parents[0] if parents and not first else None
    changes = []
    for change in git.changes(commit, parent):
        blob = None if change.status == "D" else _upload(store, git.show(commit, change.path))
        changes.append(Change(change.status, change.path, blob, change.old_path))
    context = {}
    needed = {SITE_PATH} | {
        f"issues/{n}/issue.yml"
        for c in changes
        for n in (issue_of(c.path), issue_of(c.old_path or ""))
        if n is not None
    }
    for path in sorted(needed):
        if git.exists(commit, path):
            context[path] = _upload(store, git.show(commit, path))
    sequence = int(git.run("rev-list", "--count", "--first-parent", commit))
    author, time = git.run("log", "-1", "--format=%an <%ae>%x00%cI", commit).strip().split("\0")
    return Manifest(commit, sequence, parent, author, time, tuple(changes), context)


def publish(git: Git, store: ObjectStore, *, say: Callable[[str], object] = print) -> list[str]:
    """Upload one manifest per unpublished commit; returns the commits published."""
    stored = store.get(HEAD_KEY)
    last = stored.body.decode().strip() if stored else None
    if (
        last
        and subprocess.run(
            ["git", "-C", str(git.repo), "cat-file", "-e", last], capture_output=True
        ).returncode
        != 0
    ):
        raise PublishError(
            f"the last published commit {last[:12]} is not in this repository "
            "(history rewritten?): publish with --from <commit>"
        )
    commits = git.commits_since(last)
    for commit in commits:
        manifest = manifest_for(git, store, commit, first=last is None)
        store.put(manifest_key(commit), manifest.to_json(), content_type="application/json")
        store.put(HEAD_KEY, commit.encode(), content_type="text/plain")
        say(
            f"{commit[:12]}  {len(manifest.changes)} change(s) published; follow it with "
            f"`broadsheet status {commit[:12]}`"
        )
    if not commits:
        say("nothing to publish: every commit is already published")
    return commits
