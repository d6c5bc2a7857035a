"""What the pipeline keeps to publish a change: the state it writes to the source bucket
for a one-word edit of the demo content, by kind of document, and the size of the code
that keeps it (lines in ``pipeline/``).

A *state write* is a put or delete of anything in the source bucket but what ``publish``
uploads (blobs, trees, manifests) and the caches keyed by their inputs' hashes (typeset
bodies, photograph variants): the pipeline's own documents, history and bookkeeping.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from broadsheet.adapters.store import MemoryStore
from broadsheet.pipeline.publisher import Git, publish
from broadsheet.pipeline.world import World

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
UPLOADS_AND_CACHES = (
    *("blobs/", "trees/", "manifests/", "bodies/", "variants/"),
    *("verdicts/", "examined/"),  # what validate read, by its inputs: a cache too
)
ARTICLE = "issues/412/dockworkers-vote-to-strike.md"


class CountingStore(MemoryStore):
    """A bucket that counts its writes by the kind of document (a key's first two parts)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: Counter[str] = Counter()

    def _count(self, key: str) -> None:
        if not key.startswith(UPLOADS_AND_CACHES):
            self.writes["/".join(key.split("/")[:2]) if key.count("/") > 1 else key] += 1

    def put(self, key: str, body: bytes, **options: Any) -> str:
        self._count(key)
        return super().put(key, body, **options)

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self._count(key)
        super().delete(key, if_match=if_match)


def _kind(name: str) -> str:
    # state/issues/412.json -> state/issues; status/<commit>/index -> status
    parts = name.split("/")
    if parts[0] in ("status", "reports", "outbox", "failures", "claims"):
        return parts[0]
    return "/".join(parts[:2]) if len(parts) > 1 else parts[0]


def pipeline_lines() -> int:
    import broadsheet.pipeline

    folder = Path(broadsheet.pipeline.__file__).parent
    return sum(len(path.read_text().splitlines()) for path in folder.glob("*.py"))


EDITS = {
    # A word of the body, far from the first paragraph: no summary or title changes.
    "body": ('called the vote "', 'called the ballot "'),
    # A word of the headline: the article, its issue, the site-wide files and its
    # listings (section, tags, author) change.
    "title": ("title: Dockworkers vote", "title: Dockworkers voted"),
}


def one_word_edits() -> dict[str, Any]:
    return {name: one_word_edit(*edit) for name, edit in EDITS.items()}


def one_word_edit(old: str, new: str) -> dict[str, Any]:
    """Publish the demo content, then a one-word edit of one article: the state writes
    the edit costs, by kind, and the pages it changed."""
    with tempfile.TemporaryDirectory(prefix="broadsheet-state-") as folder:
        repo = Path(folder)
        shutil.copytree(ROOT / "content", repo / "content")
        git = ["git", "-C", str(repo), "-c", "user.name=B", "-c", "user.email=b@example.org"]
        subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-qm", "demo"], check=True)
        world = World(clock=lambda: NOW, bucket=CountingStore())
        bucket = world.bucket
        assert isinstance(bucket, CountingStore)
        publish(Git.of(repo / "content"), world.sources, say=lambda _: None)
        world.drain()
        article = repo / "content" / ARTICLE
        text = article.read_text()
        assert old in text
        article.write_text(text.replace(old, new, 1))
        subprocess.run([*git, "commit", "-qam", "one word"], check=True)
        bucket.writes.clear()
        before = dict(world.site.objects)
        publish(Git.of(repo / "content"), world.sources, say=lambda _: None)
        world.drain()
        after = world.site.objects
        changed = sorted(
            k
            for k in set(before) | set(after)
            if (before.get(k) or after.get(k))
            and (k not in before or k not in after or before[k].body != after[k].body)
        )
        kinds: Counter[str] = Counter()
        for name, count in bucket.writes.items():
            kinds[_kind(name)] += count
        return {
            "state_writes": sum(kinds.values()),
            "by_kind": dict(sorted(kinds.items())),
            "kinds_written": len(kinds),
            "pages_changed": len(changed),
            "pipeline_lines": pipeline_lines(),
        }


if __name__ == "__main__":
    import json

    print(json.dumps(one_word_edits(), indent=2))
