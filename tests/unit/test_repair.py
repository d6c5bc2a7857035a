"""Disasters and their mending (invariant 11, repairable): the site bucket emptied, the
source bucket lost, or both, each brought back to exactly the full build of HEAD from
git and the caches, an earlier rename still redirecting; and ``repair``'s survey of a
bucket that drifted from its records."""

from __future__ import annotations

from pathlib import Path

import pytest

from broadsheet.adapters.store import MemoryStore
from broadsheet.pipeline.publisher import Git, publish
from broadsheet.pipeline.repair import repair, report, survey
from tests.unit.test_pipeline import Stack

OLD = "issues/411/a-library-run-by-its-readers.md"
NEW = "issues/411/our-library.md"
REDIRECT = {"/en/issues/411/a-library-run-by-its-readers/": "/en/issues/411/our-library/"}


@pytest.fixture
def renamed(tmp_path: Path) -> Stack:
    """The demo paper published, then an article renamed in a commit of its own."""
    stack = Stack(tmp_path)
    stack.publish()
    stack.repo.git("mv", f"content/{OLD}", f"content/{NEW}")
    stack.repo.commit("a shorter name")
    stack.publish()
    assert stack.world.redirects.all() == REDIRECT
    return stack


def lose(store: MemoryStore) -> None:
    for key in list(store.objects):
        store.delete(key)


def snapshot(stack: Stack) -> None:
    publish(Git.of(stack.repo.content), stack.world.sources, snapshot=True, say=lambda _: None)
    stack.world.drain()


def test_disaster_the_site_bucket_emptied_is_mended_by_repair(renamed: Stack) -> None:
    lose(renamed.world.site)
    found = repair(renamed.world)
    assert len(found.missing) > 100 and found.partitions and found.languages
    renamed.world.drain()
    renamed.assert_is_the_full_build()
    assert renamed.world.redirects.all() == REDIRECT
    assert survey(renamed.world.sources, renamed.world.site).differences == 0


def test_disaster_the_source_bucket_lost_is_mended_by_a_snapshot(renamed: Stack) -> None:
    lose(renamed.world.bucket)
    assert renamed.world.redirects.all() == {}  # the table lived there too
    # A repair before the snapshot finds no record and deletes nothing
    found = repair(renamed.world)
    assert found.records == 0 and found.orphans
    assert "nothing deleted" in report(found)
    renamed.assert_is_the_full_build()
    snapshot(renamed)
    renamed.assert_is_the_full_build()
    assert renamed.world.redirects.all() == REDIRECT  # read again from git's history
    assert survey(renamed.world.sources, renamed.world.site).differences == 0


def test_disaster_both_buckets_lost_are_mended_by_a_snapshot(renamed: Stack) -> None:
    lose(renamed.world.bucket)
    lose(renamed.world.site)
    snapshot(renamed)
    renamed.assert_is_the_full_build()
    assert renamed.world.redirects.all() == REDIRECT
    assert survey(renamed.world.sources, renamed.world.site).differences == 0


def test_repair_mends_a_changed_file_and_deletes_an_orphan(renamed: Stack) -> None:
    site = renamed.world.site
    site.put("en/issues/410/index.html", b"changed by hand")
    site.put("en/issues/410/left-behind/index.html", b"a page no partition holds")
    found = repair(renamed.world)
    assert found.differ == ["en/issues/410/index.html"]
    assert found.orphans == ["en/issues/410/left-behind/index.html"]
    assert found.partitions == {"issues/410"}  # only that issue is rebuilt
    renamed.world.drain()
    renamed.assert_is_the_full_build()
    cleared = [p for r, ps in renamed.world.cdn.invalidations.items() if "repair" in r for p in ps]
    assert "/en/issues/410/left-behind/index.html" in cleared
    assert "/en/issues/410/index.html" in cleared  # replaced: readers may hold the other
    assert repair(renamed.world).differences == 0


def test_a_draft_renamed_is_never_a_redirect_after_a_snapshot(renamed: Stack) -> None:
    draft = "issues/412/rent-strike-enters-third-month.md"
    text = (renamed.repo.content / draft).read_text()
    (renamed.repo.content / draft).write_text(text.replace("---\n", "---\nstatus: draft\n", 1))
    renamed.repo.commit("back to draft")
    renamed.publish()
    renamed.repo.git("mv", f"content/{draft}", "content/issues/412/rent-strike-month-three.md")
    renamed.repo.commit("renamed while a draft")
    renamed.publish()
    lose(renamed.world.bucket)
    snapshot(renamed)
    assert renamed.world.redirects.all() == REDIRECT
    renamed.assert_is_the_full_build()
