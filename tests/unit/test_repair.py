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
from tests.support.oracle import covered
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
    assert len(found.missing) > 100 and found.partitions and found.searches
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
    before = set(renamed.world.cdn.invalidations)
    site.put("en/issues/410/index.html", b"changed by hand")
    site.put("en/issues/410/left-behind/index.html", b"a page no partition holds")
    found = repair(renamed.world)
    assert found.differ == ["en/issues/410/index.html"]
    assert found.orphans == ["en/issues/410/left-behind/index.html"]
    assert found.partitions == {"issues/410"}  # only that issue is rebuilt
    renamed.world.drain()
    renamed.assert_is_the_full_build()
    made = renamed.world.cdn.invalidations
    cleared = {p for r, ps in made.items() if r not in before for p in ps}
    assert covered("/en/issues/410/left-behind/index.html", cleared)
    assert covered("/en/issues/410/index.html", cleared)  # replaced: readers may hold the other
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


def test_each_file_belongs_to_the_partition_its_address_names(renamed: Stack) -> None:
    from broadsheet.pipeline.reconcile import APPLIED, load_applied
    from broadsheet.pipeline.repair import owner

    sources = renamed.world.sources
    held = {}
    for key in sources.keys(APPLIED):
        partition = key.removeprefix(APPLIED).removesuffix(".json")
        held.update({name: partition for name in load_applied(sources, partition).files})
    assert len(held) > 100
    assert {name: owner(name) for name in held} == held


def test_a_lost_record_is_rebuilt_and_its_pages_never_deleted(renamed: Stack) -> None:
    tag = "state/applied/beats/en/tag/strike.json"
    assert renamed.world.sources.get(tag) is not None
    renamed.world.bucket.delete(tag)
    found = repair(renamed.world)
    assert found.lost == {"beats/en/tag/strike"} and found.orphans == []
    assert "record lost (rebuilt): beats/en/tag/strike" in report(found)
    renamed.assert_is_the_full_build()  # nothing was deleted meanwhile
    renamed.world.drain()
    renamed.assert_is_the_full_build()
    assert renamed.world.sources.get(tag) is not None
    assert survey(renamed.world.sources, renamed.world.site).differences == 0


def test_a_stray_file_among_the_search_index_is_deleted_and_a_retired_one_left(
    renamed: Stack,
) -> None:
    site = renamed.world.site
    # GIVEN a search rebuild that retired the old index's files (a new article indexed)
    renamed.repo.write(
        "issues/412/port-of-genoa.md",
        (renamed.repo.content / "issues/410/why-we-print.md").read_text(),
    )
    renamed.repo.commit("another article")
    renamed.publish()
    assert site.retired
    # AND a file nobody made, in a search folder, that the CSP would let a page run
    site.put("es/search/pagefind/evil.js", b"alert(1)")
    found = repair(renamed.world)
    assert found.orphans == ["es/search/pagefind/evil.js"]
    assert site.get("es/search/pagefind/evil.js") is None
    assert all(site.get(k) is not None for k in site.retired)  # left to expire
    renamed.world.drain()
    assert repair(renamed.world).differences == 0
