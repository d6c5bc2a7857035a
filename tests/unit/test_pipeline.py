"""The four stages over in-memory adapters: a commit becomes pages, indexes, releases,
redirects and one invalidation. Each invariant of the design has a test here (names
start with the invariant), and each history that once left the cloud site different
from the full build has one of its own (names start with ``regression``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from broadsheet.adapters.queue import MAX_BODY
from broadsheet.build.archive import load_archive
from broadsheet.build.full import build_site
from broadsheet.content.issue import SUBMODULE_FOUND
from broadsheet.edition import index, urls
from broadsheet.errors import Retryable
from broadsheet.pipeline import desk
from broadsheet.pipeline.messages import invalidation_prefix, report_key
from broadsheet.pipeline.operations import (
    changed,
    cleared,
    format_status,
    rebuild_jobs,
    settled,
    status,
    withdrawn,
)
from broadsheet.pipeline.publisher import Git, publish
from broadsheet.pipeline.state import load_issue
from broadsheet.pipeline.world import World
from tests.conftest import NOW
from tests.support.gitrepo import Repo
from tests.support.oracle import Crash, FaultyStore

ARTICLE = """---
title: {title}
language: {language}
date: 2025-07-25
dateline: Genoa (Italy)
section: labour
{extra}---

{body}
"""


def article(title: str, body: str = "They walked out.", language: str = "en", **extra: str) -> str:
    lines = "".join(f"{k}: {v}\n" for k, v in extra.items())
    return ARTICLE.format(title=title, language=language, extra=lines, body=body)


class Stack:
    """The pipeline's world in memory, and a repository to publish from."""

    def __init__(self, root: Path) -> None:
        self.repo = Repo(root / "repo")
        self.clock = NOW
        self.world = World(clock=lambda: self.clock)
        self.root = root

    def publish(self, rng: random.Random | None = None) -> list[str]:
        commits = publish(Git.of(self.repo.content), self.world.sources, say=lambda _: None)
        self.world.drain(rng)
        while self.world.fire_releases():
            self.world.drain(rng)
        return commits

    def page(self, key: str) -> str | None:
        stored = self.world.site.get(key)
        return stored.body.decode() if stored else None

    def doc(self, number: int) -> dict[str, Any]:
        stored = self.world.site.get(f"api/v1/issues/{number}.json")
        assert stored is not None
        return dict(index.loads(stored.body))

    def slugs(self, number: int) -> set[str]:
        return {e["slug"] for e in self.doc(number)["articles"]}

    def statuses(self, prefix: str) -> list[dict[str, Any]]:
        found = [self.world.sources.get(key) for key in self.world.sources.keys(prefix)]
        return [json.loads(stored.body) for stored in found if stored is not None]

    def invalidated(self, commit: str) -> list[str]:
        """What the invalidations of the commit's changes cleared."""
        made = self.statuses(invalidation_prefix(commit))
        return sorted({path for status in made for path in status["paths"]})

    def written(self, commit: str) -> list[str]:
        """Every file the commit's jobs wrote or deleted, as the CDN caches its path
        (those it created where nothing was among them, which it does not clear)."""
        made = [
            *self.statuses(f"status/{commit}/index/"),
            *self.statuses(f"status/{commit}/shared/"),
        ]
        return sorted({urls.cached_path(p) for status in made for p in status["paths"]})

    def built(self, held: dict[str, bytes] | None = None) -> dict[str, bytes]:
        """The full build of HEAD (with ``held``: of HEAD with those files as they were
        published, the versions a commit's changes to them were held back from)."""
        content = self.repo.content
        if held:
            content = self.root / f"held-{random.random()}"
            shutil.copytree(self.repo.content, content)
            for name, data in held.items():
                (content / name).parent.mkdir(parents=True, exist_ok=True)
                (content / name).write_bytes(data)
        out = self.root / f"built-{random.random()}"
        build_site(content, out, now=self.clock, workers=1)
        return {
            str(p.relative_to(out)): p.read_bytes()
            for p in out.rglob("*")
            if p.is_file() and not p.name.startswith(".broadsheet")
        }

    def published(self) -> dict[str, bytes]:
        return self.world.site.live()

    def assert_is_the_full_build(self, held: dict[str, bytes] | None = None) -> None:
        built, published = self.built(held), self.published()
        assert sorted(published) == sorted(built)
        assert [k for k in built if built[k] != published[k]] == []


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    stack = Stack(tmp_path)
    stack.publish()
    return stack


def test_the_first_publish_writes_what_a_full_build_writes(stack: Stack) -> None:
    stack.assert_is_the_full_build()


def test_a_one_article_commit_updates_pages_index_and_one_invalidation(stack: Stack) -> None:
    stack.repo.write("issues/412/port-of-genoa.md", article("Genoa's dockers join"))
    commit = stack.repo.commit("Genoa")
    stack.publish()
    assert stack.page("en/issues/412/port-of-genoa/index.html") is not None
    assert "port-of-genoa" in stack.slugs(412)
    assert "Genoa&#39;s dockers join" in stack.page("en/issues/412/index.html")  # type: ignore[operator]
    [reference] = [r for r in stack.world.cdn.invalidations if commit in r]
    # The new page and the front page share one wildcard; home, feed and indexes follow,
    # and the first page and feed of its section (not the section's older pages).
    assert (
        stack.world.cdn.invalidations[reference]
        == stack.invalidated(commit)
        == [
            "/api/v1/issues.json",
            "/api/v1/issues/412.json",
            "/en/archive/index.html",
            "/en/feed.xml",
            "/en/index.html",
            "/en/issues/412/*",
            "/en/sections/labour/feed.xml",
            "/en/sections/labour/index.html",
            "/index.html",
            "/sitemaps/412.xml",
        ]
    )
    stack.assert_is_the_full_build()


def test_regression_a_commit_published_a_third_time_is_invalidated_again(stack: Stack) -> None:
    # GIVEN commit A (an edit) and B (another) published, and A published again whole
    page = stack.repo.content / "issues/412/dockworkers-vote-to-strike.md"
    original = page.read_text()
    page.write_text(original + "\nThe vote was held at four.\n")
    a = stack.repo.commit("A")
    stack.publish()
    page.write_text(original + "\nThe vote was held at five.\n")
    b = stack.repo.commit("B")
    stack.publish()

    def undo_to(commit: str) -> list[list[str]]:
        stack.repo.git("reset", "-q", "--hard", commit)
        publish(Git.of(stack.repo.content), stack.world.sources, snapshot=True, say=lambda _: None)
        stack.world.drain()
        stack.assert_is_the_full_build()
        return [ps for r, ps in stack.world.cdn.invalidations.items() if commit in r]

    assert len(undo_to(a)) == 2
    # WHEN B, then A once more, is published whole (the same pages replaced, the same
    # paths to clear as A's second publishing)
    undo_to(b)
    again = undo_to(a)
    # THEN the CDN is told again: an invalidation of the same name would be taken by
    # CloudFront for a repeat of the second, made before these pages changed
    assert len(again) == 3
    assert "/en/issues/412/dockworkers-vote-to-strike/index.html" in again[-1]


def test_invariant_1_an_invalid_edit_is_reported_and_the_live_page_stays(stack: Stack) -> None:
    before = stack.page("en/issues/412/dockworkers-vote-to-strike/index.html")
    path = stack.repo.content / "issues/412/dockworkers-vote-to-strike.md"
    path.write_text(path.read_text().replace("date: 2025-07-24", "date: 2025-13-40"))
    commit = stack.repo.commit("Break a date")
    stack.publish()
    report = json.loads(stack.world.sources.get(report_key(commit, 412)).body)  # type: ignore[union-attr]
    assert [(f["field"], f["line"]) for f in report["findings"]] == [("date", 4)]
    assert stack.page("en/issues/412/dockworkers-vote-to-strike/index.html") == before
    assert stack.invalidated(commit) == []


def test_invariant_2_a_repeated_message_changes_nothing(stack: Stack) -> None:
    stack.repo.write("issues/411/letters.md", article("Letters"))
    commit = stack.repo.commit("Letters")
    stack.publish()
    snapshot = stack.published()
    invalidations = dict(stack.world.cdn.invalidations)
    # S3 announces the same manifest again: every stage runs again and finds nothing to do.
    manifest = stack.world.sources.get(f"manifests/{commit}.json")
    assert manifest is not None
    stack.world.sources.put(f"manifests/{commit}.json", manifest.body)
    stack.world.drain()
    assert stack.published() == snapshot
    assert stack.world.cdn.invalidations == invalidations


def test_invariant_3_an_update_that_loses_a_race_is_applied_again(stack: Stack) -> None:
    stack.repo.write("issues/410/first-story.md", article("First"))
    stack.repo.commit("first")
    publish(Git.of(stack.repo.content), stack.world.sources, say=lambda _: None)
    sources = stack.world.bucket
    real_put = sources.put
    raced: list[str] = []

    def put(key: str, body: bytes, **options: Any) -> str:
        if key == "state/issues/410.json" and not raced:
            raced.append(key)  # another writer lands first: this conditional write fails
            real_put(key, sources.get(key).body)  # type: ignore[union-attr]
        return real_put(key, body, **options)

    sources.put = put  # type: ignore[method-assign]
    stack.world.drain()
    sources.put = real_put  # type: ignore[method-assign]
    assert raced and "first-story" in stack.slugs(410)
    assert all(not q.dead for q in stack.world.queues.values())


def test_invariant_4_commits_that_arrive_out_of_order_apply_in_order(stack: Stack) -> None:
    path = "issues/412/rent-strike-enters-third-month.md"
    original = (stack.repo.content / path).read_text()
    for title in ("Rent strike, month three", "Rent strike, month four"):
        stack.repo.write(path, original.replace("Rent strike enters its third month", title))
        stack.repo.commit(title)
    for seed in range(5):  # any order of delivery; the older never wins
        stack.world.drain(random.Random(seed)) if seed else stack.publish(random.Random(99))
    page = stack.page("en/issues/412/rent-strike-enters-third-month/index.html")
    assert "month four" in page and "month three" not in page  # type: ignore[operator]
    stack.assert_is_the_full_build()


def test_invariant_5_work_grows_with_the_commit_not_the_archive(stack: Stack) -> None:
    page = stack.repo.content / "issues/410/why-we-print.md"
    page.write_text(page.read_text().replace("Write to us at", "Write to the editors at"))
    commit = stack.repo.commit("edit")
    stack.world.requests.clear()
    stack.publish()
    assert stack.invalidated(commit) == [
        "/api/v1/issues/410.json",
        "/en/issues/410/why-we-print/index.html",
    ]
    spent = stack.world.requests
    assert sum(n for stage, n in spent.items() if stage != "search") < 60
    # Search re-indexes the block of the issue the job names (the demo's three issues are
    # one block): it lists the records and the blocks' records, reads the block's, marks
    # and saves each partition it changes, and reads each language's list. That it does
    # not grow with the other blocks is test_search's.
    assert spent["search"] <= 32


def test_deletes_and_renames_unpublish_the_old_page(stack: Stack) -> None:
    stack.repo.git(
        "mv",
        "content/issues/411/a-library-run-by-its-readers.md",
        "content/issues/411/the-readers-library.md",
    )
    commit = stack.repo.commit("rename")
    stack.publish()
    assert stack.page("en/issues/411/a-library-run-by-its-readers/index.html") is None
    assert stack.page("en/issues/411/the-readers-library/index.html") is not None
    assert "/en/issues/411/*" in stack.invalidated(commit)
    assert stack.world.redirects.all() == {
        "/en/issues/411/a-library-run-by-its-readers/": "/en/issues/411/the-readers-library/"
    }
    stack.assert_is_the_full_build()


def test_an_uncommitted_edit_publishes_nothing(stack: Stack) -> None:
    stack.repo.write("issues/412/dockworkers-vote-to-strike.md", "garbage")
    assert stack.publish() == []


def test_an_embargoed_article_is_held_and_scheduled(stack: Stack) -> None:
    later = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    stack.repo.write("issues/412/embargoed.md", article("Later", publish_at=later.isoformat()))
    stack.repo.commit("embargo")
    stack.publish()
    assert stack.page("en/issues/412/embargoed/index.html") is None
    assert "embargoed" in load_issue(stack.world.bucket, 412).accepted
    releases = {r.name: r.at for r in stack.world.scheduler.pending()}
    assert releases["412-embargoed"] == later


def test_a_rebuild_rewrites_what_differs_and_nothing_else(stack: Stack) -> None:
    stack.world.site.put("en/issues/410/index.html", b"stale template output")
    for job in rebuild_jobs(stack.world.bucket, "r1", NOW.isoformat()):
        stack.world.queue("validate").send(job.to_json())
    writes = stack.world.site.requests
    stack.world.drain()
    assert stack.page("en/issues/410/index.html") != "stale template output"
    stack.assert_is_the_full_build()
    assert stack.world.site.requests > writes


# --- histories that once diverged from the full build (issue 11) -------------------------


def _rename(stack: Stack, old: str, new: str) -> str:
    stack.repo.git("mv", f"content/{old}", f"content/{new}")
    commit = stack.repo.commit(f"{old} -> {new}")
    stack.publish()
    return commit


def test_regression_history_rewritten_to_the_published_tree_changes_nothing(
    stack: Stack,
) -> None:
    # GIVEN a published commit WHEN it is amended with no change (or reset to a commit of
    # the same tree): a new commit, the same tree, published whole
    stack.repo.write("issues/412/at-the-gate.md", article("At the gate"))
    stack.repo.commit("an article")
    stack.publish()
    stack.repo.git("commit", "-q", "--amend", "-m", "the same article")
    amended = stack.repo.git("rev-parse", "HEAD").strip()
    publish(Git.of(stack.repo.content), stack.world.sources, snapshot=True, say=lambda _: None)
    stack.world.drain()
    # THEN no page is said to change and nothing is cleared: no byte changed
    found = status(stack.world.sources, amended)
    assert settled(found) and changed(found) == [] and cleared(found) == []
    stack.assert_is_the_full_build()


def test_regression_a_rename_and_a_typo_in_one_commit_keep_the_old_page(stack: Stack) -> None:
    """A file renamed and broken in one commit once took both addresses down: the old
    one was deleted, the new one refused. The old page stays at its accepted version
    until the new file is fixed; then it redirects, and is not said to be withdrawn."""
    from broadsheet.adapters.redirects import ObjectRedirects

    old, new = "issues/412/dockworkers-vote-to-strike.md", "issues/412/dockers-vote.md"
    text = (stack.repo.content / old).read_text()
    page = stack.page("en/issues/412/dockworkers-vote-to-strike/index.html")
    (stack.repo.content / old).unlink()
    (stack.repo.content / new).write_text(text.replace("date: ", "date: 2025-13-40\n#", 1))
    broken = stack.repo.commit("renamed, and a typo")
    stack.publish()
    found = status(stack.world.sources, broken)
    assert [(f["path"], f["field"]) for f in found["findings"]] == [(new, "date")]
    assert withdrawn(found) == []
    assert found["stages"]["index"]["412"]["held_back"] == ["dockworkers-vote-to-strike"]
    assert stack.page("en/issues/412/dockworkers-vote-to-strike/index.html") == page
    assert stack.page("en/issues/412/dockers-vote/index.html") is None
    stack.assert_is_the_full_build(held={old: text.encode()})
    # WHEN the new file is fixed THEN it is published, the old address redirects to it,
    # and nothing is said to be withdrawn
    (stack.repo.content / new).write_text(text)
    fixed = stack.repo.commit("the typo fixed")
    stack.publish()
    assert stack.page("en/issues/412/dockers-vote/index.html") is not None
    assert stack.page("en/issues/412/dockworkers-vote-to-strike/index.html") is None
    assert ObjectRedirects(stack.world.sources).all() == {
        "/en/issues/412/dockworkers-vote-to-strike/": "/en/issues/412/dockers-vote/"
    }
    assert withdrawn(status(stack.world.sources, fixed)) == []
    stack.assert_is_the_full_build()


def test_regression_a_rename_undone_makes_no_redirect_loop(stack: Stack) -> None:
    a, b = "issues/411/a-library-run-by-its-readers.md", "issues/411/our-library.md"
    _rename(stack, a, b)
    _rename(stack, b, a)
    assert stack.world.redirects.all() == {
        "/en/issues/411/our-library/": "/en/issues/411/a-library-run-by-its-readers/"
    }
    stack.assert_is_the_full_build()


def test_regression_renaming_an_article_whose_date_no_calendar_has_publishes(
    stack: Stack,
) -> None:
    # GIVEN an article committed with a date that does not exist (its finding keeps it
    # at its published version), then renamed
    old, new = "issues/411/a-library-run-by-its-readers.md", "issues/411/our-library.md"
    path = stack.repo.content / old
    accepted = path.read_bytes()
    path.write_text(path.read_text().replace("date: 2025-07-09", "date: 2025-13-40", 1))
    stack.repo.commit("break the date")
    stack.publish()
    # WHEN it is renamed, and HEAD published whole (a snapshot reads the old version's
    # front matter from git to find the address it had) THEN it publishes: the new file
    # still has its finding, so the old page stays at its accepted version
    _rename(stack, old, new)
    publish(Git.of(stack.repo.content), stack.world.sources, snapshot=True, say=lambda _: None)
    stack.world.drain()
    stack.assert_is_the_full_build(held={old: accepted})


def test_regression_a_reused_slug_stops_redirecting(stack: Stack) -> None:
    a = "issues/411/a-library-run-by-its-readers.md"
    _rename(stack, a, "issues/411/our-library.md")
    stack.repo.write(a, article("A new article at the old address"))
    stack.repo.commit("reuse the slug")
    stack.publish()
    assert stack.world.redirects.all() == {}
    assert "A new article" in stack.page("en/issues/411/a-library-run-by-its-readers/index.html")  # type: ignore[operator]


def test_a_rename_held_back_by_a_broken_site_yml_redirects_once_it_is_mended(
    stack: Stack,
) -> None:
    # GIVEN a commit that breaks site.yml and renames an article: the issue is held
    site = stack.repo.content / "site.yml"
    good = site.read_text()
    site.write_text(good.replace("languages:", "languages: 7\nold_languages:", 1))
    a, b = "issues/411/a-library-run-by-its-readers.md", "issues/411/our-library.md"
    _rename(stack, a, b)
    assert stack.world.redirects.all() == {}
    # WHEN the next commit mends site.yml (and renames nothing)
    site.write_text(good)
    stack.repo.commit("mend site.yml")
    stack.publish()
    # THEN the held rename redirects, as if it had been made in a healthy commit
    assert stack.world.redirects.all() == {
        "/en/issues/411/a-library-run-by-its-readers/": "/en/issues/411/our-library/"
    }
    stack.assert_is_the_full_build()


def test_regression_a_rename_into_a_draft_redirects_nowhere_and_leaks_nothing(
    stack: Stack,
) -> None:
    a = "issues/411/a-library-run-by-its-readers.md"
    text = (stack.repo.content / a).read_text().replace("---\n\n", "status: draft\n---\n\n", 1)
    stack.repo.git("mv", f"content/{a}", "content/issues/411/secret-plans.md")
    stack.repo.write("issues/411/secret-plans.md", text)
    stack.repo.commit("rename into a draft")
    stack.publish()
    assert stack.world.redirects.all() == {}
    assert all(b"secret-plans" not in body for body in stack.published().values())
    stack.assert_is_the_full_build()


def test_regression_a_file_name_git_quotes_is_a_finding_and_the_rest_publishes(
    stack: Stack,
) -> None:
    stack.repo.write("issues/412/huelga-año.md", article("Huelga", language="es"))
    stack.repo.write("issues/412/port-of-genoa.md", article("Genoa"))
    commit = stack.repo.commit("an accented file name")
    stack.publish()
    report = json.loads(stack.world.sources.get(report_key(commit, 412)).body)  # type: ignore[union-attr]
    assert [f["path"] for f in report["findings"]] == ["issues/412/huelga-año.md"]
    assert "not a valid slug" in report["findings"][0]["message"]
    assert "port-of-genoa" in stack.slugs(412)
    # Publishing goes on: the next commit renames it right and it is published.
    stack.repo.git("mv", "content/issues/412/huelga-año.md", "content/issues/412/huelga.md")
    stack.repo.commit("rename")
    stack.publish()
    assert "huelga" in stack.slugs(412)
    stack.assert_is_the_full_build()


def test_misplaced_files_are_findings_once_and_not_after_they_are_moved(stack: Stack) -> None:
    # GIVEN a commit with articles where none is read: a folder that is no number, a
    # subfolder, an extension in capitals, a file outside any issue folder
    stack.repo.write("issues/four-twelve/strike.md", article("Strike"))
    stack.repo.write("issues/412/drafts/strike.md", article("Strike"))
    stack.repo.write("issues/412/Strike.MD", article("Strike"))
    stack.repo.write("issues/strike.md", article("Strike"))
    commit = stack.repo.commit("files in the wrong places")
    stack.publish()
    report = json.loads(stack.world.sources.get(report_key(commit)).body)  # type: ignore[union-attr]
    assert [(f["path"], f["message"]) for f in report["findings"]] == [
        ("issues/412/Strike.MD", "is not read as an article: name it strike.md"),
        (
            "issues/412/drafts/strike.md",
            "is not read: articles sit directly in issues/412/, not in a subfolder",
        ),
        (
            "issues/four-twelve",
            "issue folder 'four-twelve' is not an issue number (1, 2, … without leading zeros)",
        ),
        ("issues/strike.md", "an article lives in its issue's folder: move it to issues/<number>/"),
    ]
    # WHEN the next commit moves them all away
    for path in ("four-twelve/strike.md", "412/drafts/strike.md", "412/Strike.MD", "strike.md"):
        stack.repo.git("rm", "-q", f"content/issues/{path}")
    commit = stack.repo.commit("tidy up")
    stack.publish()
    # THEN its report says nothing of what is gone
    report = json.loads(stack.world.sources.get(report_key(commit)).body)  # type: ignore[union-attr]
    assert report["findings"] == []
    stack.assert_is_the_full_build()


def _submodule(stack: Stack, path: str, article_name: str) -> None:
    """What ``git submodule add`` leaves: a repository of its own inside the content,
    committed here as a gitlink."""
    inner = stack.repo.content / path
    inner.mkdir(parents=True)
    (inner / article_name).write_text(article("Inside"), encoding="utf-8")
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=S", "-c", "user.email=s@example.org", "commit", "-qm", "inner"],
    ):
        subprocess.run(["git", "-C", str(inner), *args], check=True, capture_output=True)


def test_regression_a_submodule_is_a_finding_and_the_rest_publishes(stack: Stack) -> None:
    # GIVEN a commit that adds two submodules (one inside an issue, one as a whole issue
    # folder) and an article beside them
    _submodule(stack, "issues/412/extra", "strike.md")
    _submodule(stack, "issues/414", "issue.yml")
    stack.repo.write("issues/412/port-of-genoa.md", article("Genoa"))
    commit = stack.repo.commit("a submodule by mistake")
    assert "160000" in stack.repo.git("ls-tree", "-r", "HEAD", "content/issues/412/")
    # WHEN it is published (this stopped `broadsheet publish` with an IndexError)
    stack.publish()
    # THEN each submodule is a finding on its path, as validate says it, and the
    # article beside them is live
    report = json.loads(stack.world.sources.get(report_key(commit)).body)  # type: ignore[union-attr]
    found = [(f["path"], f["message"]) for f in report["findings"]]
    assert found == [
        ("issues/412/extra", SUBMODULE_FOUND),
        ("issues/414", SUBMODULE_FOUND),
    ]
    checked = [
        (os.path.relpath(f.path, stack.repo.content), f.message)
        for f in load_archive(stack.repo.content, workers=1).findings
    ]
    assert checked == found
    assert "port-of-genoa" in stack.slugs(412)
    assert stack.world.site.get("api/v1/issues/414.json") is None
    assert stack.world.failures == []
    stack.assert_is_the_full_build()
    # AND the commits after it publish, the one that removes the submodules too
    stack.repo.git("rm", "-q", "--cached", "content/issues/412/extra", "content/issues/414")
    shutil.rmtree(stack.repo.content / "issues/412/extra")
    shutil.rmtree(stack.repo.content / "issues/414")
    stack.repo.write("issues/412/port-of-genoa.md", article("Genoa again"))
    commit = stack.repo.commit("the submodules removed")
    assert stack.publish() == [commit]
    report = json.loads(stack.world.sources.get(report_key(commit)).body)  # type: ignore[union-attr]
    assert report["findings"] == []
    assert "Genoa again" in (stack.page("en/issues/412/port-of-genoa/index.html") or "")
    stack.assert_is_the_full_build()


def test_regression_an_embargo_is_released_by_the_clock(stack: Stack) -> None:
    # The demo's embargoed article, in the latest issue, lifts at 2030-08-01T04:00Z.
    assert stack.page("en/issues/412/heat-and-the-warehouse-floor/index.html") is None
    stack.clock = dt.datetime(2030, 8, 1, 5, tzinfo=dt.UTC)
    stack.publish()  # no commit: the schedule alone
    assert stack.page("en/issues/412/heat-and-the-warehouse-floor/index.html") is not None
    assert "heat-and-the-warehouse-floor" in stack.page("en/feed.xml")  # type: ignore[operator]
    released = [r for r in stack.world.cdn.invalidations if "release-412" in r]
    assert released and "/en/issues/412/*" in stack.world.cdn.invalidations[released[0]]
    assert "/news-sitemap.xml" in stack.world.cdn.invalidations[released[0]]
    assert "heat-and-the-warehouse-floor" in stack.page("news-sitemap.xml")  # type: ignore[operator]
    stack.assert_is_the_full_build()
    # The release is followed as a commit is: status names what it changed and cleared.
    [release] = {k.split("/")[1] for k in stack.world.sources.keys("status/release-412-")}
    found = status(stack.world.sources, release)
    assert found["issues"] == [412] and settled(found)
    assert "/en/issues/412/heat-and-the-warehouse-floor/index.html" in changed(found)
    assert "/en/issues/412/*" in cleared(found)
    shown = format_status(found)
    assert "  issue 412   index done, shared done\n" in shown and "pending" not in shown
    # WHEN two days pass with no commit THEN its lapse schedule takes it off the news
    # sitemap, and no schedule is left.
    [lapse] = stack.world.scheduler.pending()
    assert lapse.at == dt.datetime(2030, 8, 3, 4, tzinfo=dt.UTC)
    stack.clock = dt.datetime(2030, 8, 3, 4, 0, 30, tzinfo=dt.UTC)
    stack.publish()
    assert "heat-and-the-warehouse-floor" not in stack.page("news-sitemap.xml")  # type: ignore[operator]
    assert stack.world.scheduler.pending() == []
    stack.assert_is_the_full_build()


def test_status_says_whether_search_holds_the_records_as_they_are(stack: Stack) -> None:
    from broadsheet.pipeline.search import indexed

    commit = stack.repo.git("rev-parse", "HEAD").strip()
    assert indexed(stack.world.sources) == {"en": True, "es": True}
    # WHEN an issue's records change and the search job has not run yet
    key = "search/records/412.json"
    stored = stack.world.sources.get(key)
    assert stored is not None
    records = json.loads(stored.body)
    records["records"] = {
        path: record for path, record in records["records"].items() if record["language"] == "es"
    }
    stack.world.sources.put(key, json.dumps(records).encode())
    # THEN the language it changed is pending, the other still indexed, and said so
    found = {**status(stack.world.sources, commit), "search": indexed(stack.world.sources)}
    assert found["search"] == {"en": False, "es": True}
    assert "  search      en pending, es indexed\n" in format_status(found)


def test_a_schedule_fired_early_is_set_again(stack: Stack) -> None:
    # GIVEN the embargo's schedule WHEN its message arrives a minute early
    [release] = stack.world.scheduler.pending()
    stack.world.scheduler.delete(release.name)  # the service deletes it once it has run
    stack.clock = release.at - dt.timedelta(minutes=1)
    stack.world.queue("index").send(release.message)
    stack.publish()
    # THEN nothing is released and the schedule is there again, at the same time
    assert stack.page("en/issues/412/heat-and-the-warehouse-floor/index.html") is None
    assert [(r.name, r.at) for r in stack.world.scheduler.pending()] == [(release.name, release.at)]


def test_regression_a_release_between_two_seconds_is_scheduled_after_it(stack: Stack) -> None:
    # GIVEN an embargo lifting between two whole seconds
    stack.repo.write(
        "issues/412/port-of-genoa.md",
        article("Genoa", publish_at="2030-09-01T04:00:05.300000+00:00"),
    )
    stack.repo.commit("an embargo to the tenth of a second")
    stack.publish()
    # THEN its schedule is the next whole second, never the one before
    [release] = [r for r in stack.world.scheduler.pending() if "genoa" in r.name]
    assert release.at == dt.datetime(2030, 9, 1, 4, 0, 6, tzinfo=dt.UTC)
    # WHEN it fires THEN the article is out at once: what is set next is its lapse from
    # the news sitemap, not the release again
    stack.clock = release.at
    stack.publish()
    assert "port-of-genoa" in stack.slugs(412)
    [lapse] = [r for r in stack.world.scheduler.pending() if r.name == release.name]
    assert lapse.message["reason"] == "news"


def _counted_checks(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """The article files checked from here on, and those of them typeset."""
    checked: list[str] = []
    typeset: list[str] = []
    check = desk.check_article

    def counted(*args: Any, **options: Any) -> Any:
        (typeset if options.get("typeset") else checked).append(args[0])
        return check(*args, **options)

    monkeypatch.setattr(desk, "check_article", counted)
    return checked, typeset


def test_regression_a_commit_of_site_yml_alone_reaches_every_page(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked, typeset = _counted_checks(monkeypatch)
    site = stack.repo.content / "site.yml"
    site.write_text(site.read_text().replace("The Workers' Broadsheet", "The Workers' Paper"))
    stack.repo.commit("rename the paper")
    stack.publish()
    # The name is nothing an article is checked against: no article is read again, and
    # every page carries the new name
    assert checked == [] and typeset == []
    assert "The Workers&#39; Paper" in stack.page("en/issues/410/why-we-print/index.html")  # type: ignore[operator]
    stack.assert_is_the_full_build()


def test_a_new_section_in_site_yml_checks_no_article_again(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an article in a section site.yml does not have yet: refused, with the finding
    science = article("Lab notes").replace("section: labour", "section: science")
    stack.repo.write("issues/412/lab-notes.md", science)
    commit = stack.repo.commit("an article in a new section")
    stack.publish()
    assert "lab-notes" not in stack.slugs(412)
    report = json.loads(stack.world.sources.get(report_key(commit, 412)).body)  # type: ignore[union-attr]
    [finding] = report["findings"]
    assert (finding["path"], finding["line"], finding["column"], finding["field"]) == (
        "issues/412/lab-notes.md",
        6,
        10,
        "section",
    )
    assert finding["message"].startswith("'science' is not one of the sections in site.yml")
    stack.assert_is_the_full_build()
    # WHEN site.yml gains the section
    checked, typeset = _counted_checks(monkeypatch)
    site = stack.repo.content / "site.yml"
    site.write_text(
        site.read_text().replace(
            "sections:\n", "sections:\n  science:\n    en: Science\n    es: Ciencia\n", 1
        )
    )
    stack.repo.commit("a science section")
    stack.publish()
    # THEN a verdict does not depend on which sections there are: no article is checked
    # again, the waiting one is published (typeset once, as any newly published one),
    # and the site is the full build
    assert checked == [] and typeset == ["issues/412/lab-notes.md"]
    assert "lab-notes" in stack.slugs(412)
    stack.assert_is_the_full_build()
    # WHEN the section goes again, the article is withdrawn, still without a re-check
    site.write_text(site.read_text().replace("  science:\n    en: Science\n    es: Ciencia\n", ""))
    stack.repo.commit("no science section")
    stack.publish()
    assert "lab-notes" not in stack.slugs(412)
    assert checked == [] and typeset == ["issues/412/lab-notes.md"]
    stack.assert_is_the_full_build()


def test_regression_a_delete_in_an_issue_never_accepted_poisons_nothing(stack: Stack) -> None:
    stack.repo.write("issues/413/first.md", article("First of 413"))
    stack.repo.write("issues/413/issue.yml", "number: [\n")
    stack.repo.commit("issue 413, broken")
    stack.repo.git("rm", "-q", "content/issues/413/first.md")
    stack.repo.write("issues/412/port-of-genoa.md", article("Genoa"))
    stack.repo.commit("delete in 413, add in 412")
    stack.publish()
    assert all(not q.dead for q in stack.world.queues.values())
    assert "port-of-genoa" in stack.slugs(412)
    stack.assert_is_the_full_build()


def test_regression_an_index_cut_short_plans_everything_on_retry(stack: Stack) -> None:
    faulty = FaultyStore(stack.world.site)
    stack.world.site = faulty  # type: ignore[assignment]
    stack.repo.write("issues/412/port-of-genoa.md", article("Genoa"))
    commit = stack.repo.commit("Genoa")
    publish(Git.of(stack.repo.content), stack.world.sources, say=lambda _: None)
    for crash_at in range(1, 12):  # a crash after each write in turn, then a clean run
        for stage, envelope in stack.world.waiting():
            if stage == "index":
                faulty.arm(crash_at, after=True)
                with contextlib.suppress(Crash):
                    stack.world.deliver(stage, envelope)
                faulty.arm(None)
                break
        else:
            stack.world.drain()
    stack.world.drain()
    stack.world.site = faulty.store
    stack.assert_is_the_full_build()
    for path in ("/en/issues/412/*", "/en/index.html", "/en/feed.xml", "/api/v1/issues/412.json"):
        assert path in stack.invalidated(commit)


def test_regression_a_tag_restored_after_a_crash_is_listed_again(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from broadsheet.pipeline import reconcile

    story = stack.repo.content / "issues/410/bus-drivers-reclaim-the-timetable.md"
    tagged = story.read_text()
    # GIVEN a commit that takes the only article off a tag, whose shared partitions' job
    # dies once the tag's page is deleted, before the records of what the listings hold
    # are saved
    story.write_text(tagged.replace("tags: [transport]\n", ""))
    stack.repo.commit("untag")
    publish(Git.of(stack.repo.content), stack.world.sources, say=lambda _: None)
    stack.world.drain(stages=("validate", "render"))
    [(_, issue_job)] = stack.world.waiting(("index",))
    stack.world.deliver("index", issue_job)
    [(_, dying)] = stack.world.waiting(("index",))
    assert '"share"' in dying.body

    delete = reconcile.delete_file

    def crash(*args: Any) -> None:
        delete(*args)
        raise Crash("between the files and the records")

    monkeypatch.setattr(reconcile, "delete_file", crash)
    with contextlib.suppress(Crash):
        stack.world.deliver("index", dying)
    monkeypatch.undo()
    assert stack.page("en/tags/transport/feed.xml") is None  # the first to go
    # WHEN the next commit puts the tag back and is indexed before the retry
    story.write_text(tagged)
    stack.repo.commit("tag again")
    publish(Git.of(stack.repo.content), stack.world.sources, say=lambda _: None)
    while later := [(s, e) for s, e in stack.world.waiting() if e is not dying]:
        stack.world.deliver(*later[0])
    stack.world.drain()
    # THEN the index of tags lists it again
    assert "/en/tags/transport/" in stack.page("en/tags/index.html")  # type: ignore[operator]
    stack.assert_is_the_full_build()


def test_regression_a_rebuild_typesets_again(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from broadsheet.pipeline import desk, index, render

    for module in (desk, index, render):
        monkeypatch.setattr(module, "code_version", lambda: "new-typesetter")
    for job in rebuild_jobs(stack.world.bucket, "r2", NOW.isoformat()):
        stack.world.queue("validate").send(job.to_json())
    stack.world.drain()
    bodies = list(stack.world.bucket.keys("bodies/new-typesetter/"))
    assert len(bodies) == 15  # every article that checks out (a draft too), by the new code


def test_regression_a_first_publish_of_a_large_archive_is_bounded(tmp_path: Path) -> None:
    from benchmarks.archive import generate

    generate(tmp_path / "big" / "content", 1_200, words=60)
    repo = Repo(tmp_path / "big", source=None)
    content = repo.content
    world = World(clock=lambda: NOW)
    publish(Git.of(content), world.sources, say=lambda _: None)
    handled: list[int] = []
    while world.waiting():
        stage, envelope = world.waiting()[0]
        message = json.loads(envelope.body)
        if "claim" not in message and stage in {"render", "index"}:
            handled.append(message["issue"])
        world.deliver(stage, envelope)
    assert max(q.largest for q in world.queues.values()) <= MAX_BODY
    assert len(list(world.site.keys("api/v1/issues/"))) == 24  # 50 an issue
    assert all(not q.dead for q in world.queues.values())


def test_regression_checks_are_the_same_as_validate(stack: Stack) -> None:
    # The original switches to its translation's language: both are now Spanish.
    path = stack.repo.content / "issues/412/huelga-de-alquileres-cumple-tres-meses.md"
    path.write_text(path.read_text().replace("language: es", "language: en"))
    commit = stack.repo.commit("switch language")
    stack.publish()
    report = json.loads(stack.world.sources.get(report_key(commit, 412)).body)  # type: ignore[union-attr]
    [finding] = report["findings"]
    assert finding["path"] == "issues/412/rent-strike-enters-third-month.md"
    assert "a translation must be in another language" in finding["message"]
    # As in the full build: the translation is not published (its accepted version no
    # longer fits either), so no page claims a wrong hreflang.
    assert "rent-strike-enters-third-month" not in stack.slugs(412)
    stack.assert_is_the_full_build()


def test_regression_a_late_index_never_brings_a_deleted_page_back(stack: Stack) -> None:
    stack.repo.write("issues/412/short-lived.md", article("Short"))
    stack.repo.commit("add")
    stack.repo.git("rm", "-q", "content/issues/412/short-lived.md")
    stack.repo.commit("delete")
    publish(Git.of(stack.repo.content), stack.world.sources, say=lambda _: None)
    stack.world.drain(random.Random(7))
    assert stack.page("en/issues/412/short-lived/index.html") is None
    assert "short-lived" not in stack.slugs(412)
    stack.assert_is_the_full_build()


def test_regression_an_embargo_lifted_in_an_older_issue_reaches_the_feed(stack: Stack) -> None:
    later = dt.datetime(2029, 1, 1, tzinfo=dt.UTC)
    stack.repo.write("issues/410/late-news.md", article("Late news", publish_at=later.isoformat()))
    stack.repo.commit("embargo in an old issue")
    stack.publish()
    assert "late-news" not in stack.page("en/feed.xml")  # type: ignore[operator]
    stack.clock = later + dt.timedelta(hours=1)
    stack.publish()
    assert "late-news" in stack.page("en/feed.xml")  # type: ignore[operator]
    stack.assert_is_the_full_build()


def test_an_issue_holds_at_most_500_articles_in_the_build_and_the_pipeline(
    tmp_path: Path,
) -> None:
    from broadsheet.content.validation import MAX_ARTICLES_PER_ISSUE

    repo = Repo(tmp_path / "repo", source=None)
    repo.write("site.yml", (Path(__file__).parents[2] / "content/site.yml").read_text())
    repo.write("issues/1/issue.yml", "number: 1\ndate: 2025-07-25\n")
    for i in range(MAX_ARTICLES_PER_ISSUE + 2):
        repo.write(f"issues/1/a{i:04d}.md", article(f"Number {i}", body="Short."))
    repo.commit("too many")
    world = World(clock=lambda: NOW)
    publish(Git.of(repo.content), world.sources, say=lambda _: None)
    world.drain()
    doc = index.loads(world.site.get("api/v1/issues/1.json").body)  # type: ignore[union-attr]
    assert len(doc["articles"]) == MAX_ARTICLES_PER_ISSUE
    assert {e["slug"] for e in doc["articles"]} >= {"a0000", "a0499"}
    report = json.loads(
        world.sources.get(report_key(repo.git("rev-parse", "HEAD").strip(), 1)).body
    )  # type: ignore[union-attr]
    assert [f["path"] for f in report["findings"]] == ["issues/1/a0500.md", "issues/1/a0501.md"]
    assert "holds more than 500 articles" in report["findings"][0]["message"]


def test_a_commit_with_a_photograph_publishes_its_variants_and_clears_few_paths(
    stack: Stack,
) -> None:
    from tests.support.oracle import picture

    stack.repo.write(
        "issues/412/at-the-gate.md",
        article("At the gate", image="\n  src: media/gate.jpg\n  alt: The works gate at dawn"),
    )
    (stack.repo.content / "issues/412/media/gate.jpg").write_bytes(picture("blue"))
    commit = stack.repo.commit("an article and its photograph")
    stack.publish()
    variants = sorted(k for k in stack.world.site.objects if k.startswith("media/412/gate."))
    assert len(variants) == 9
    assert len(stack.invalidated(commit)) <= 8 + 2  # and its section's first page and feed
    assert not any(p.startswith("/media/") for p in stack.invalidated(commit))
    stack.assert_is_the_full_build()
    # The photograph replaced: the page names new variants, the old ones are gone.
    (stack.repo.content / "issues/412/media/gate.jpg").write_bytes(picture("red"))
    stack.repo.commit("a better photograph")
    stack.publish()
    now = sorted(k for k in stack.world.site.objects if k.startswith("media/412/gate."))
    assert len(now) == 9 and not set(now) & set(variants)
    stack.assert_is_the_full_build()
    # The photograph deleted while the article uses it: the deletion is held back (the
    # article names the file it lacks), and the page stays as it was.
    page = stack.page("en/issues/412/at-the-gate/index.html")
    (stack.repo.content / "issues/412/media/gate.jpg").unlink()
    deleted = stack.repo.commit("the photograph deleted")
    stack.publish()
    found = status(stack.world.sources, deleted)
    assert [(f["path"], f["field"]) for f in found["findings"]] == [
        ("issues/412/at-the-gate.md", "image.src")
    ]
    assert sorted(k for k in stack.world.site.objects if k.startswith("media/412/gate.")) == now
    assert stack.page("en/issues/412/at-the-gate/index.html") == page
    stack.assert_is_the_full_build(held={"issues/412/media/gate.jpg": picture("red")})
    # The article no longer uses it: the deletion stands, and nothing of it stays.
    stack.repo.write("issues/412/at-the-gate.md", article("At the gate"))
    stack.repo.commit("the article without its photograph")
    stack.publish()
    assert not [k for k in stack.world.site.objects if k.startswith("media/412/gate.")]
    assert "<img" not in (stack.page("en/issues/412/at-the-gate/index.html") or "<img")
    stack.assert_is_the_full_build()


def test_regression_an_issue_front_page_follows_its_lead_photograph(stack: Stack) -> None:
    """The front page shows the lead photograph: replaced under the same name, given a
    new alt, or removed with its file, the front page follows as the article page does
    (it once kept the old <img>, pointing at deleted variants, until something else in
    the issue changed)."""
    from tests.support.oracle import picture

    front = "en/issues/412/index.html"
    image = "\n  src: media/gate.jpg\n  alt: {alt}"
    yml = (stack.repo.content / "issues/412/issue.yml").read_text()
    stack.repo.write("issues/412/issue.yml", yml.replace("order:\n", "order:\n  - at-the-gate\n"))
    gate = "issues/412/at-the-gate.md"
    stack.repo.write(gate, article("At the gate", image=image.format(alt="The works gate")))
    (stack.repo.content / "issues/412/media/gate.jpg").write_bytes(picture("blue"))
    stack.repo.commit("a lead photograph")
    stack.publish()
    first = stack.page(front) or ""
    assert 'alt="The works gate"' in first
    # Replaced under the same name: the front page names the new variants.
    (stack.repo.content / "issues/412/media/gate.jpg").write_bytes(picture("red"))
    stack.repo.commit("a better photograph")
    stack.publish()
    replaced = stack.page(front) or ""
    assert replaced != first
    objects = stack.world.site.objects
    variants = {k.rsplit("/", 1)[1] for k in objects if k.startswith("media/412/gate.")}
    assert any(name in replaced for name in variants)
    stack.assert_is_the_full_build()
    # Re-captioned: the front page carries the new alt.
    stack.repo.write(gate, article("At the gate", image=image.format(alt="Pickets at the gate")))
    stack.repo.commit("a new alt")
    stack.publish()
    assert 'alt="Pickets at the gate"' in (stack.page(front) or "")
    stack.assert_is_the_full_build()
    # Removed with its file: no <img> of it is left on the front page.
    stack.repo.write(gate, article("At the gate"))
    (stack.repo.content / "issues/412/media/gate.jpg").unlink()
    stack.repo.commit("no photograph")
    stack.publish()
    assert "gate." not in (stack.page(front) or "gate.")
    stack.assert_is_the_full_build()


def test_regression_removing_a_language_withdraws_its_pages_alone(stack: Stack) -> None:
    """Spanish removed from site.yml (and its es: lines): every issue.yml's Spanish title
    once became a finding, and every issue went, the front page saying none was published.
    Now the titles are ignored with a warning, English translations of Spanish originals
    stand on their own, and only the Spanish pages go, said apart from the findings."""
    from tests.unit.test_model import english_only

    english = sorted(k for k in stack.world.site.live() if k.startswith("en/issues/"))
    english_only(stack.repo.content)
    commit = stack.repo.commit("no Spanish edition any more")
    stack.publish()
    assert sorted(k for k in stack.world.site.live() if k.startswith("en/issues/")) == english
    assert "Resistance spreads" in (stack.page("en/index.html") or "")
    assert not [k for k in stack.world.site.live() if k.startswith("es/issues/")]
    found = status(stack.world.sources, commit)
    gone = withdrawn(found)
    assert gone and all(page.startswith("/es/issues/") for page in gone)
    warned = [(f["path"], f["field"]) for f in found["findings"] if f["severity"] == "warning"]
    assert ("issues/412/issue.yml", "title.es") in warned
    assert ("issues/412/rent-strike-enters-third-month.md", "translation_of") in warned
    stack.assert_is_the_full_build()


def test_status_shows_a_hostile_file_name_escaped_on_one_line() -> None:
    from broadsheet.pipeline.operations import format_status

    # GIVEN a finding on a file whose name holds an escape sequence and a newline
    hostile = "issues/412/esc\x1b[31mRED\nline.md"
    found = {
        "commit": "c" * 40,
        "validated": True,
        "issues": [412],
        "stages": {
            "validate": {"412": {}},
            "render": {"412": {}},
            "index": {"412": {"refused": [hostile]}},
            "shared": {"412": {}},
            "invalidate": {},
        },
        "findings": [{"path": hostile, "line": 1, "column": 1, "field": "", "message": "bad name"}],
    }
    # WHEN status is written for a terminal THEN nothing in it is a control character
    shown = format_status(found)
    assert "\x1b" not in shown and shown.count("\n") == 4
    assert "esc\\x1b[31mRED\\nline.md:1:1: bad name" in shown


def test_verdicts_travel_by_key_and_a_lost_cache_is_checked_again(stack: Stack) -> None:
    # GIVEN a new article with a photograph, checked by validate and typeset by render
    stack.repo.write("issues/412/port-of-genoa.md", article("Genoa's dockers join"))
    stack.repo.commit("Genoa")
    publish(Git.of(stack.repo.content), stack.world.sources, say=lambda _: None)
    stack.world.drain(stages=("validate", "render"))
    [(_, job)] = stack.world.waiting(("index",))
    # THEN the job carries keys into the verdicts cache, not what validate read
    message = json.loads(job.body)
    assert message["fresh"] and all(k.startswith("verdicts/") for k in message["fresh"])
    assert "facts" not in job.body
    # AND WHEN the cache is lost before index runs, index checks the files again
    for key in [*stack.world.sources.keys("verdicts/"), *stack.world.sources.keys("examined/")]:
        stack.world.sources.delete(key)
    stack.world.drain()
    assert "port-of-genoa" in stack.slugs(412)
    stack.assert_is_the_full_build()


def test_the_shared_group_runs_a_burst_of_issues_as_one_reconcile(stack: Stack) -> None:
    # GIVEN a site.yml edit, which touches every issue: each issue's job is done, and
    # the shared group holds one job per issue
    site = stack.repo.content / "site.yml"
    site.write_text(site.read_text().replace("The Workers' Broadsheet", "The Broadsheet", 1))
    stack.repo.commit("retitle")
    publish(Git.of(stack.repo.content), stack.world.sources, say=lambda _: None)

    def shared() -> list[Any]:
        return [e for s, e in stack.world.waiting(("index",)) if '"type":"share"' in e.body]

    while others := [
        (s, e) for s, e in stack.world.waiting(("validate", "render", "index")) if e not in shared()
    ]:
        stack.world.deliver(*others[0])
    queued = [m for m in stack.world.queues["index"].messages if '"type":"share"' in m.body]
    assert len(queued) == 3
    # WHEN the shared group's head is delivered THEN the three run as one reconcile
    [head] = shared()
    before = stack.world.deliveries
    stack.world.deliver("index", head)
    assert stack.world.deliveries == before + 1
    assert not [m for m in stack.world.queues["index"].messages if '"type":"share"' in m.body]
    stack.world.drain()
    stack.assert_is_the_full_build()


def test_regression_a_withdrawn_photograph_and_search_text_are_cleared(stack: Stack) -> None:
    import gzip

    from tests.support.oracle import covered, picture

    # GIVEN an article with a photograph, and a word only it holds, published
    stack.repo.write(
        "issues/412/at-the-gate.md",
        article(
            "At the gate",
            body="The palimpsest of the picket.",
            image="\n  src: media/gate.jpg\n  alt: The works gate at dawn",
        ),
    )
    (stack.repo.content / "issues/412/media/gate.jpg").write_bytes(picture("blue"))
    stack.repo.commit("an article and its photograph")
    stack.publish()
    variants = sorted(k for k in stack.world.site.objects if k.startswith("media/412/gate."))
    fragments = {
        k
        for k, v in stack.world.site.objects.items()
        if "/search/pagefind/" in k
        and "/fragment/" in k
        and b"palimpsest" in gzip.decompress(v.body)
    }
    assert len(variants) == 9 and len(fragments) == 1
    # WHEN the photograph is taken out (a striker's safety), and then the article (a
    # legal takedown)
    stack.repo.write("issues/412/at-the-gate.md", article("At the gate", body="The picket."))
    (stack.repo.content / "issues/412/media/gate.jpg").unlink()
    removed = stack.repo.commit("the photograph taken out")
    stack.publish()
    stack.repo.git("rm", "-q", "content/issues/412/at-the-gate.md")
    deleted = stack.repo.commit("the article taken down")
    stack.publish()
    # THEN readers' caches are told to forget every variant (served immutable for a
    # year: they were never cleared) and the old fragment that held the article's text
    # (retired in the bucket, but cached at the edge)
    cleared = set(stack.invalidated(removed))
    assert [v for v in variants if not covered("/" + v, cleared)] == []
    assert "/media/412/*" in cleared  # nine variants, one path
    searched = {
        p for r, made in stack.world.cdn.invalidations.items() if "search-en" in r for p in made
    }
    assert [f for f in fragments if not covered("/" + f, searched)] == []
    assert stack.invalidated(deleted)
    assert all(stack.world.site.is_retired(f) for f in fragments)
    stack.assert_is_the_full_build()


def test_regression_a_translation_keeps_its_original_when_the_original_goes(
    stack: Stack,
) -> None:
    # GIVEN a published Spanish original and its English translation
    original = "issues/412/huelga-de-alquileres-cumple-tres-meses.md"
    translation = "en/issues/412/rent-strike-enters-third-month/index.html"
    kept = (stack.repo.content / original).read_bytes()
    page = stack.page(translation)
    assert page is not None
    # WHEN the original is deleted while the translation still points at it
    stack.repo.git("rm", "-q", f"content/{original}")
    deleted = stack.repo.commit("the Spanish original deleted")
    stack.publish()
    # THEN the translation names the original it lacks, and both pages stay as they were
    found = status(stack.world.sources, deleted)
    assert [(f["path"], f["field"]) for f in found["findings"]] == [
        ("issues/412/rent-strike-enters-third-month.md", "translation_of")
    ]
    assert stack.page(translation) == page
    assert stack.page("es/issues/412/huelga-de-alquileres-cumple-tres-meses/index.html")
    assert found["stages"]["index"]["412"]["held_back"] == [
        "huelga-de-alquileres-cumple-tres-meses"
    ]
    assert found["stages"]["index"]["412"]["withdrawn"] == []
    stack.assert_is_the_full_build(held={original: kept})
    # WHEN it comes back, and is then renamed in one commit (git mv)
    stack.repo.write(original, kept.decode())
    stack.repo.commit("the Spanish original restored")
    stack.repo.git("mv", f"content/{original}", "content/issues/412/huelga-de-inquilinos.md")
    renamed = stack.repo.commit("the Spanish original renamed")
    stack.publish()
    # THEN the translation keeps its original at the old address; the new one is published
    assert status(stack.world.sources, renamed)["findings"][0]["field"] == "translation_of"
    assert stack.page(translation) == page
    assert stack.page("es/issues/412/huelga-de-inquilinos/index.html")
    assert stack.page("es/issues/412/huelga-de-alquileres-cumple-tres-meses/index.html")
    assert stack.world.redirects.all() == {}  # the old address is still a page
    stack.assert_is_the_full_build(held={original: kept})
    # WHEN the translation points at the new name: the old address redirects to the new
    path = stack.repo.content / "issues/412/rent-strike-enters-third-month.md"
    path.write_text(path.read_text().replace(original[11:-3], "huelga-de-inquilinos"))
    stack.repo.commit("the translation follows")
    stack.publish()
    assert "huelga-de-alquileres-cumple-tres-meses" not in stack.slugs(412)
    assert "huelga-de-inquilinos" in stack.page(translation)  # type: ignore[operator]
    assert stack.world.redirects.all() == {
        "/es/issues/412/huelga-de-alquileres-cumple-tres-meses/": (
            "/es/issues/412/huelga-de-inquilinos/"
        )
    }
    stack.assert_is_the_full_build()


def test_a_commit_that_withdraws_pages_says_which_apart_from_findings(stack: Stack) -> None:
    from broadsheet.pipeline.operations import format_status, withdrawn

    # GIVEN a published article, renamed: its old address redirects, nothing is withdrawn
    stack.repo.write("issues/412/short-lived.md", article("Short"))
    stack.repo.commit("add")
    stack.publish()
    stack.repo.git("mv", "content/issues/412/short-lived.md", "content/issues/412/brief.md")
    moved = stack.repo.commit("rename")
    stack.publish()
    assert withdrawn(status(stack.world.sources, moved)) == []
    # WHEN it is deleted, and a whole issue with it
    stack.repo.git("rm", "-q", "content/issues/412/brief.md")
    stack.repo.git("rm", "-q", "-r", "content/issues/410")
    gone = stack.repo.commit("delete")
    stack.publish()
    # THEN the commit names every page readers lose, with no finding to explain it
    found = status(stack.world.sources, gone)
    assert found["findings"] == []
    pages = withdrawn(found)
    assert "/en/issues/412/brief/" in pages
    assert {"/en/issues/410/", "/es/issues/410/"} <= set(pages)
    assert all(stack.page(p.lstrip("/") + "index.html") is None for p in pages)
    assert "  withdrawn   /en/issues/412/brief/" in format_status(found).splitlines()
    # AND a commit that withdraws nothing says nothing of it
    stack.repo.write("issues/412/brief.md", article("Brief"))
    back = stack.repo.commit("back")
    stack.publish()
    assert withdrawn(status(stack.world.sources, back)) == []
    stack.assert_is_the_full_build()


def test_an_order_naming_no_article_is_a_finding_with_the_nearest_slug(stack: Stack) -> None:
    # GIVEN issue.yml whose order misspells one article and names one that is not there
    path = stack.repo.content / "issues/412/issue.yml"
    text = path.read_text()
    path.write_text(
        text.replace(
            "  - fascist-deportations-provoke-resistance\n",
            "  - fascist-deportations-provoke-resistanse\n  - no-such-article\n",
        )
    )
    commit = stack.repo.commit("an order with mistakes")
    stack.publish()
    # THEN validate, the build and the pipeline say so, each on its own line
    expected = [
        (
            "issues/412/issue.yml",
            7,
            "no article 'fascist-deportations-provoke-resistanse' in issues/412/: give an "
            "article's file name without .md; did you mean "
            "'fascist-deportations-provoke-resistance'?",
        ),
        (
            "issues/412/issue.yml",
            8,
            "no article 'no-such-article' in issues/412/: give an article's file name without .md",
        ),
    ]
    found = status(stack.world.sources, commit)["findings"]
    assert [(f["path"], f["line"], f["message"]) for f in found] == expected
    built = load_archive(stack.repo.content, keep_bodies=False, now=NOW).findings
    assert [(f.path.split("content/")[-1], f.line, f.message) for f in built] == expected
    # AND the issue still publishes, led by what its order names that exists
    assert "deportaciones-fascistas-provocan-resistencia" in stack.slugs(412)
    stack.assert_is_the_full_build()


def test_a_stack_stood_up_again_from_git_answers_the_same_redirects(stack: Stack) -> None:
    # GIVEN a published rename (as `make run` left it before Ctrl-C)
    stack.repo.git(
        "mv",
        "content/issues/412/dockworkers-vote-to-strike.md",
        "content/issues/412/dockers-vote-to-strike.md",
    )
    stack.repo.commit("a shorter slug")
    stack.publish()
    table = stack.world.redirects.all()
    assert table == {
        "/en/issues/412/dockworkers-vote-to-strike/": "/en/issues/412/dockers-vote-to-strike/"
    }
    # WHEN an empty stack publishes the same repository (a restart, a lost bucket)
    stack.world = World(clock=lambda: stack.clock)
    stack.publish()
    # THEN the redirects come back from git's history, the same as before
    assert stack.world.redirects.all() == table
    stack.assert_is_the_full_build()


def test_a_push_of_more_commits_than_the_bound_publishes_as_one_snapshot(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from broadsheet.pipeline import publisher

    monkeypatch.setattr(publisher, "MAX_COMMITS", 2)
    # GIVEN three commits since the last publish: a rename, an edit, a deletion
    stack.repo.git(
        "mv",
        "content/issues/411/a-library-run-by-its-readers.md",
        "content/issues/411/the-readers-library.md",
    )
    stack.repo.commit("rename")
    page = stack.repo.content / "issues/411/the-readers-library.md"
    page.write_text(page.read_text().replace("library", "reading room", 1))
    stack.repo.commit("edit")
    stack.repo.git("rm", "-q", "content/issues/412/dockworkers-vote-to-strike.md")
    head = stack.repo.commit("delete")
    said: list[str] = []
    # WHEN it is published
    commits = publish(Git.of(stack.repo.content), stack.world.sources, say=said.append)
    stack.world.drain()
    # THEN HEAD went as one snapshot, which still redirects the rename and is the full build
    assert commits == [head]
    assert "3 commits since the last publish, more than 2" in said[0]
    assert len(list(stack.world.sources.keys("manifests/"))) == 2  # the first, and this one
    assert stack.world.redirects.all() == {
        "/en/issues/411/a-library-run-by-its-readers/": "/en/issues/411/the-readers-library/"
    }
    stack.assert_is_the_full_build()


def test_a_manifest_of_another_release_waits_for_its_own_and_the_site_stays(
    stack: Stack,
) -> None:
    from broadsheet.pipeline.manifest import Manifest

    before = stack.published()
    # GIVEN the next commit's manifest, as a publisher of another release writes it
    page = stack.repo.content / "issues/411/a-library-run-by-its-readers.md"
    page.write_text(page.read_text().replace("library", "reading room", 1))
    commit = stack.repo.commit("edit")
    publish(Git.of(stack.repo.content), stack.world.sources, say=lambda _: None)
    key = f"manifests/{commit}.json"
    stored = stack.world.sources.get(key)
    assert stored is not None
    manifest = Manifest.from_json(stored.body)
    assert manifest.release  # this publisher says which it is
    other = json.loads(manifest.to_json()) | {"release": "0123456789abcdef"}
    stack.world.sources.put(key, json.dumps(other).encode())
    # WHEN validate takes it THEN it is retried with the reason, never dropped (a deploy
    # in progress may hand it to its own release), and nothing changes
    validate = stack.world.queue("validate")
    reasons = []
    while validate.waiting():
        try:
            stack.world.deliver("validate", validate.waiting()[0])
        except Retryable as error:
            reasons.append(str(error))
    assert reasons and all("release 0123456789abcdef" in r for r in reasons)
    assert not stack.world.failures  # nothing dropped
    stack.world.drain()
    assert stack.published() == before
    # AND when no function of its release takes it, it waits in the dead-letter queue
    assert validate.dead and all(key in e.body for e in validate.dead)
