"""The four stages over in-memory adapters: a commit becomes pages, indexes, one invalidation.

Each invariant of the design has a test here (names start with the invariant).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from broadsheet.adapters.cdn import MemoryCDN
from broadsheet.adapters.store import MemoryStore
from broadsheet.build.full import build_site
from broadsheet.edition import index
from broadsheet.pipeline.manifest import Manifest, manifest_key
from broadsheet.pipeline.publisher import Git, publish
from broadsheet.pipeline.stages import (
    Buckets,
    index_commit,
    invalidate_commit,
    load_state,
    publish_through,
    render_commit,
    report_key,
    validate_commit,
)
from tests.conftest import NOW
from tests.support.gitrepo import Repo

ARTICLE = """---
title: {title}
language: en
date: 2025-07-25
dateline: Genoa (Italy)
section: labour
---

{body}
"""


class Stack:
    """The pipeline's world in memory: buckets, CDN, and a repository to publish from."""

    def __init__(self, root: Path) -> None:
        self.repo = Repo(root / "repo")
        self.buckets = Buckets(MemoryStore(), MemoryStore())
        self.cdn = MemoryCDN()

    def manifests(self) -> list[Manifest]:
        commits = publish(Git(self.repo.root), self.buckets.sources, say=lambda _: None)
        return [
            Manifest.from_json(self.buckets.sources.get(manifest_key(c)).body)  # type: ignore[union-attr]
            for c in commits
        ]

    def publish(self) -> list[dict]:
        return [publish_through(m, self.buckets, self.cdn, NOW) for m in self.manifests()]

    def page(self, key: str) -> str | None:
        stored = self.buckets.site.get(key)
        return stored.body.decode() if stored else None


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    stack = Stack(tmp_path)
    stack.publish()
    return stack


def test_the_first_publish_writes_what_a_full_build_writes(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "built"
    build_site(stack.repo.content, out, now=NOW, workers=1)
    built = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    published = {k: v.body for k, v in stack.buckets.site.objects.items()}
    assert published.keys() == built.keys()
    assert published == built


def test_a_one_article_commit_updates_pages_index_and_one_invalidation(stack: Stack) -> None:
    stack.repo.write(
        "issues/412/port-of-genoa.md",
        ARTICLE.format(title="Genoa's dockers join", body="They walked out."),
    )
    commit = stack.repo.commit("Genoa")
    [result] = stack.publish()
    assert stack.page("en/issues/412/port-of-genoa/index.html") is not None
    doc = index.loads(stack.buckets.site.get("api/v1/issues/412.json").body)  # type: ignore[union-attr]
    assert "port-of-genoa" in [e["slug"] for e in doc["articles"]]
    assert "Genoa&#39;s dockers join" in stack.page("en/issues/412/index.html")  # type: ignore[operator]
    paths = stack.cdn.invalidations[f"broadsheet-{commit}"]
    # The new page and the front page share one wildcard; home, feed and indexes follow.
    assert paths == [
        "/api/v1/issues.json",
        "/api/v1/issues/412.json",
        "/en/archive/index.html",
        "/en/feed.xml",
        "/en/index.html",
        "/en/issues/412/*",
        "/index.html",
        "/sitemaps/412.xml",
    ]
    assert "/en/issues/412/port-of-genoa/" in result["paths"]


def test_invariant_1_an_invalid_article_is_reported_and_the_live_page_stays(stack: Stack) -> None:
    before = stack.page("en/issues/412/dockworkers-vote-to-strike/index.html")
    path = stack.repo.content / "issues/412/dockworkers-vote-to-strike.md"
    path.write_text(path.read_text().replace("date: 2025-07-24", "date: 2025-13-40"))
    commit = stack.repo.commit("Break a date")
    [result] = stack.publish()
    report = json.loads(stack.buckets.sources.get(report_key(commit)).body)  # type: ignore[union-attr]
    assert report["findings"][0]["field"] == "date"
    assert report["findings"][0]["line"] == 4
    assert stack.page("en/issues/412/dockworkers-vote-to-strike/index.html") == before
    assert result["invalidation"] is None


def test_invariant_2_a_repeated_message_changes_nothing(stack: Stack) -> None:
    stack.repo.write("issues/411/letters.md", ARTICLE.format(title="Letters", body="Write."))
    stack.repo.commit("Letters")
    [manifest] = stack.manifests()
    publish_through(manifest, stack.buckets, stack.cdn, NOW)
    writes = stack.buckets.site.requests
    snapshot = dict(stack.buckets.site.objects)
    again = publish_through(manifest, stack.buckets, stack.cdn, NOW)
    assert again["paths"] == []
    assert stack.buckets.site.objects == snapshot
    assert len(stack.cdn.invalidations) == 2  # the first publish and this commit: no third
    assert stack.buckets.site.requests > writes  # it did look, and found nothing to do


def test_invariant_3_concurrent_index_updates_of_one_issue_both_land(stack: Stack) -> None:
    for slug in ("first-story", "second-story"):
        stack.repo.write(f"issues/410/{slug}.md", ARTICLE.format(title=slug, body="Text."))
        stack.repo.commit(slug)
    first, second = stack.manifests()
    messages = []
    for manifest in (first, second):
        _report, message = validate_commit(manifest, stack.buckets)
        messages.append(render_commit(message, stack.buckets, NOW))  # type: ignore[arg-type]
    # The second writer saves its state between the first one's read and write.
    store = stack.buckets.sources
    real_put = store.put
    interfered = []

    def put(key: str, body: bytes, **kwargs):  # type: ignore[no-untyped-def]
        if key == "state/issues/410.json" and not interfered:
            interfered.append(key)
            index_commit(messages[1], stack.buckets)
        return real_put(key, body, **kwargs)

    store.put = put  # type: ignore[method-assign]
    index_commit(messages[0], stack.buckets)
    store.put = real_put  # type: ignore[method-assign]
    slugs = {e["slug"] for e in load_state(store, 410).doc["articles"]}  # type: ignore[index]
    assert {"first-story", "second-story"} <= slugs
    assert interfered


def test_invariant_4_an_older_commit_never_overwrites_a_newer_one(stack: Stack) -> None:
    path = "issues/412/rent-strike-enters-third-month.md"
    original = (stack.repo.content / path).read_text()
    stack.repo.write(
        path, original.replace("Rent strike enters its third month", "Rent strike, month three")
    )
    stack.repo.commit("older title")
    stack.repo.write(
        path, original.replace("Rent strike enters its third month", "Rent strike, month four")
    )
    stack.repo.commit("newer title")
    older, newer = stack.manifests()
    publish_through(newer, stack.buckets, stack.cdn, NOW)
    publish_through(older, stack.buckets, stack.cdn, NOW)  # arrives late
    page = stack.page("en/issues/412/rent-strike-enters-third-month/index.html")
    assert "month four" in page and "month three" not in page  # type: ignore[operator]
    assert "month four" in stack.page("en/issues/412/index.html")  # type: ignore[operator]


def test_invariant_4_a_late_add_does_not_resurrect_a_deleted_article(stack: Stack) -> None:
    stack.repo.write("issues/412/short-lived.md", ARTICLE.format(title="Short", body="Gone."))
    stack.repo.commit("add")
    (stack.repo.content / "issues/412/short-lived.md").unlink()
    stack.repo.commit("delete")
    add, delete = stack.manifests()
    publish_through(delete, stack.buckets, stack.cdn, NOW)
    publish_through(add, stack.buckets, stack.cdn, NOW)
    assert stack.page("en/issues/412/short-lived/index.html") is None
    doc = index.loads(stack.buckets.site.get("api/v1/issues/412.json").body)  # type: ignore[union-attr]
    assert "short-lived" not in {e["slug"] for e in doc["articles"]}


def test_invariant_5_work_grows_with_the_commit_not_the_archive(stack: Stack) -> None:
    stack.repo.write(
        "issues/410/why-we-print.md",
        (stack.repo.content / "issues/410/why-we-print.md")
        .read_text()
        .replace("Write to us at", "Write to the editors at"),
    )
    stack.repo.commit("edit")
    [manifest] = stack.manifests()
    stack.buckets.site.requests = stack.buckets.sources.requests = 0
    result = publish_through(manifest, stack.buckets, stack.cdn, NOW)
    assert set(result["paths"]) == {"/en/issues/410/why-we-print/", "/api/v1/issues/410.json"}
    assert stack.buckets.site.requests + stack.buckets.sources.requests < 40


def test_deletes_and_renames_unpublish_the_old_page(stack: Stack) -> None:
    stack.repo.git(
        "mv",
        "content/issues/411/a-library-run-by-its-readers.md",
        "content/issues/411/the-readers-library.md",
    )
    commit = stack.repo.commit("rename")
    [result] = stack.publish()
    assert stack.page("en/issues/411/a-library-run-by-its-readers/index.html") is None
    assert stack.page("en/issues/411/the-readers-library/index.html") is not None
    assert "/en/issues/411/a-library-run-by-its-readers/" in result["paths"]
    assert "/en/issues/411/*" in stack.cdn.invalidations[f"broadsheet-{commit}"]


def test_an_uncommitted_edit_publishes_nothing(stack: Stack) -> None:
    stack.repo.write("issues/412/dockworkers-vote-to-strike.md", "garbage")
    assert stack.manifests() == []


def test_invalidate_sends_nothing_for_nothing() -> None:
    cdn = MemoryCDN()
    assert invalidate_commit({"commit": "abc", "paths": []}, cdn)["invalidation"] is None
    assert cdn.invalidations == {}


def test_an_embargoed_article_is_held_back(stack: Stack) -> None:
    later = (dt.datetime(2030, 1, 1, tzinfo=dt.UTC)).isoformat()
    stack.repo.write(
        "issues/412/embargoed.md",
        ARTICLE.format(title="Later", body="Soon.").replace(
            "section: labour", f"section: labour\npublish_at: {later}"
        ),
    )
    stack.repo.commit("embargo")
    stack.publish()
    assert stack.page("en/issues/412/embargoed/index.html") is None
    assert "embargoed" in load_state(stack.buckets.sources, 412).held


def test_a_rebuild_fans_out_one_message_per_issue_and_rewrites_what_differs(stack: Stack) -> None:
    from broadsheet.pipeline.stages import rebuild_messages

    stack.buckets.site.put("en/issues/410/index.html", b"stale template output")
    stack.buckets.site.delete(
        "assets/"
        + next(k for k in stack.buckets.site.objects if k.startswith("assets/site.")).split("/")[1]
    )
    messages = rebuild_messages(stack.buckets, "r1")
    assert sorted(m["issue"] for m in messages) == [410, 411, 412]
    changed: list[str] = []
    for message in messages:
        indexed = index_commit(render_commit(message, stack.buckets, NOW), stack.buckets)
        changed += indexed["paths"]
    assert "/en/issues/410/" in changed
    assert any(p.startswith("/assets/site.") for p in changed)
    assert stack.page("en/issues/410/index.html") != "stale template output"
    # Nothing else differed, so nothing else was written.
    assert len(set(changed)) == 2


def test_a_renamed_article_redirects_from_its_old_address(stack: Stack) -> None:
    from broadsheet.adapters.redirects import ObjectRedirects

    table = ObjectRedirects(stack.buckets.sources)
    stack.repo.git(
        "mv",
        "content/issues/411/a-library-run-by-its-readers.md",
        "content/issues/411/the-readers-library.md",
    )
    stack.repo.commit("rename")
    for manifest in stack.manifests():
        publish_through(manifest, stack.buckets, stack.cdn, NOW, table)
    stack.repo.git(
        "mv", "content/issues/411/the-readers-library.md", "content/issues/411/our-library.md"
    )
    stack.repo.commit("rename again")
    for manifest in stack.manifests():
        publish_through(manifest, stack.buckets, stack.cdn, NOW, table)
    assert table.all() == {
        "/en/issues/411/a-library-run-by-its-readers/": "/en/issues/411/our-library/",
        "/en/issues/411/the-readers-library/": "/en/issues/411/our-library/",
    }
