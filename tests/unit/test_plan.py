"""What a commit rewrites, case by case, and which paths it clears.

The pipeline's reconcile renders an output again when what it is made from changed, and
writes (and clears) it only when its bytes changed: so what a change rewrites is the
set of outputs whose bytes differ, the issue's and the site-wide listings'. Each case
pins the exact set of paths.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from broadsheet.build.archive import load_archive
from broadsheet.build.full import published_state
from broadsheet.content.site import Site
from broadsheet.edition import index
from broadsheet.edition.plan import (
    Output,
    State,
    issue_inputs,
    render_issue_output,
    site_wide,
    with_issues,
)
from broadsheet.edition.urls import invalidation_paths
from tests.conftest import CONTENT, NOW

ARCHIVE = load_archive(CONTENT)
SITE: Site = ARCHIVE.site  # type: ignore[assignment]


@pytest.fixture
def state() -> State:
    return published_state(SITE, ARCHIVE, NOW)


def entry_of(state: State, number: int, slug: str) -> Any:
    return copy.deepcopy(next(e for e in state.docs[number]["articles"] if e["slug"] == slug))


def commit(
    state: State,
    number: int,
    upserts: list[Any] = (),  # type: ignore[assignment]
    removals: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> State:
    new = {e["slug"]: e for e in upserts}
    gone = set(removals)
    kept = [
        e
        for e in state.docs[number]["articles"]
        if (e["language"], e["slug"]) not in gone and e["slug"] not in new
    ]
    doc = index.issue_doc(SITE, ARCHIVE.issues[number], kept + list(new.values()))
    return with_issues(SITE, {**state.docs, number: doc}.values())


def _path(key: str) -> str:
    return "/" + key.removesuffix("index.html")


def rendered(state: State, number: int) -> dict[Output, bytes]:
    """Every output of the issue; an article's body stands for its source."""
    doc = state.docs.get(number)
    sources = {e["slug"]: e["source_sha256"] for e in doc["articles"]} if doc else {}

    def body(_number: int, slug: str) -> str:
        return f"<p>{sources[slug]}</p>"

    return {
        output: render_issue_output(SITE, output, made_from, body, lambda _n, name: name.encode())
        for output, made_from in issue_inputs(SITE, doc).items()
    }


@dataclass
class Rewrite:
    write: list[Output]  # outputs whose bytes changed, or new
    delete: list[Output]  # outputs that are gone

    @property
    def paths(self) -> list[str]:
        return sorted({o.path for o in self.write + self.delete})


def plan_of(state: State, after: State, number: int) -> Rewrite:
    old, new = rendered(state, number), rendered(after, number)
    return Rewrite(
        sorted(o for o, data in new.items() if old.get(o) != data),
        sorted(o for o in old if o not in new),
    )


def paths(state: State, after: State, number: int) -> set[str]:
    before_files, after_files = site_wide(SITE, state), site_wide(SITE, after)
    listings = {
        _path(k)
        for k in set(before_files) | set(after_files)
        if before_files.get(k) != after_files.get(k)
    }
    return set(plan_of(state, after, number).paths) | listings


def test_a_body_edit_rewrites_the_article_and_its_issue_index(state: State) -> None:
    edited = entry_of(state, 412, "fascist-deportations-provoke-resistance")
    edited["source_sha256"] = "f" * 64  # the summary is set in front matter, so it stays
    assert paths(state, commit(state, 412, [edited]), 412) == {
        "/en/issues/412/fascist-deportations-provoke-resistance/",
        "/api/v1/issues/412.json",
    }


def test_a_body_edit_that_changes_the_summary_reaches_the_listings(state: State) -> None:
    edited = entry_of(state, 412, "dockworkers-vote-to-strike")
    edited["summary"] = "A new first paragraph."
    edited["source_sha256"] = "e" * 64
    assert paths(state, commit(state, 412, [edited]), 412) == {
        "/en/issues/412/dockworkers-vote-to-strike/",
        "/en/issues/412/",
        "/en/",
        "/",
        "/en/feed.xml",
        "/api/v1/issues/412.json",
    }


def test_a_title_edit_reaches_neighbours_and_translations(state: State) -> None:
    edited = entry_of(state, 412, "rent-strike-enters-third-month")
    edited["title"] = "Rent strike enters its fourth month"
    changed = paths(state, commit(state, 412, [edited]), 412)
    assert changed == {
        "/en/issues/412/rent-strike-enters-third-month/",
        "/en/issues/412/dockworkers-vote-to-strike/",  # its "next" link shows the title
        "/es/issues/412/huelga-de-alquileres-cumple-tres-meses/",  # "also in" shows it
        "/en/issues/412/",
        "/en/",
        "/",
        "/en/feed.xml",
        "/api/v1/issues/412.json",
    }


def test_a_new_article_in_the_latest_issue(state: State) -> None:
    new = entry_of(state, 412, "dockworkers-vote-to-strike")
    new.update(
        slug="port-of-genoa",
        title="Genoa joins",
        path="/en/issues/412/port-of-genoa/",
        url="https://broadsheet.example.org/en/issues/412/port-of-genoa/",
        source="issues/412/port-of-genoa.md",
    )
    assert paths(state, commit(state, 412, [new]), 412) == {
        "/en/issues/412/port-of-genoa/",
        # the articles beside it in the issue: their previous/next links now name it
        "/en/issues/412/dockworkers-vote-to-strike/",
        "/en/issues/412/rent-strike-enters-third-month/",
        "/en/issues/412/",
        "/en/",
        "/",
        "/en/feed.xml",
        "/en/archive/",  # the issue's article count
        "/sitemaps/412.xml",
        "/api/v1/issues/412.json",
        "/api/v1/issues.json",
    }  # nothing in Spanish, and not the site-wide sitemap


def test_a_new_article_in_an_old_issue_leaves_the_front_page_alone(state: State) -> None:
    new = entry_of(state, 410, "why-we-print")
    new.update(
        slug="letters",
        title="Letters",
        path="/en/issues/410/letters/",
        url="https://broadsheet.example.org/en/issues/410/letters/",
        source="issues/410/letters.md",
        published="2025-06-20T00:00:00Z",
    )
    assert paths(state, commit(state, 410, [new]), 410) == {
        "/en/issues/410/letters/",
        "/en/issues/410/why-we-print/",  # its neighbour
        "/en/issues/410/",
        "/en/feed.xml",
        "/en/archive/",
        "/sitemaps/410.xml",
        "/api/v1/issues/410.json",
        "/api/v1/issues.json",
    }  # not /en/ nor /: they show the latest issue, 412


def test_a_delete_unpublishes_the_page_and_updates_every_listing(state: State) -> None:
    after = commit(state, 412, removals=[("en", "dockworkers-vote-to-strike")])
    plan = plan_of(state, after, 412)
    assert [o.path for o in plan.delete] == ["/en/issues/412/dockworkers-vote-to-strike/"]
    assert paths(state, after, 412) == {
        "/en/issues/412/dockworkers-vote-to-strike/",
        # its neighbours' previous/next links
        "/en/issues/412/fascist-deportations-provoke-resistance/",
        "/en/issues/412/rent-strike-enters-third-month/",
        "/en/issues/412/",
        "/en/",
        "/",
        "/en/feed.xml",
        "/en/archive/",
        "/sitemaps/412.xml",
        "/api/v1/issues/412.json",
        "/api/v1/issues.json",
    }


def test_a_rename_deletes_the_old_page_and_writes_the_new(state: State) -> None:
    renamed = entry_of(state, 411, "a-library-run-by-its-readers")
    renamed.update(
        slug="the-readers-library",
        path="/en/issues/411/the-readers-library/",
        url="https://broadsheet.example.org/en/issues/411/the-readers-library/",
    )
    after = commit(state, 411, [renamed], [("en", "a-library-run-by-its-readers")])
    plan = plan_of(state, after, 411)
    assert [o.slug for o in plan.delete] == ["a-library-run-by-its-readers"]
    assert Output("article", "en", 411, "the-readers-library") in plan.write
    assert paths(state, after, 411) == {
        "/en/issues/411/the-readers-library/",
        "/en/issues/411/a-library-run-by-its-readers/",
        "/en/issues/411/teachers-win-smaller-classes/",  # its neighbour's link
        "/en/issues/411/",
        "/en/feed.xml",
        "/sitemaps/411.xml",
        "/api/v1/issues/411.json",
    }  # as many articles as before: the archive and issues.json stay


def test_a_translation_added_links_both_ways(state: State) -> None:
    original = entry_of(state, 412, "dockworkers-vote-to-strike")
    spanish = copy.deepcopy(original)
    spanish.update(
        slug="estibadores-votan-la-huelga",
        language="es",
        title="Los estibadores",
        translation_of="dockworkers-vote-to-strike",
        path="/es/issues/412/estibadores-votan-la-huelga/",
        url="https://broadsheet.example.org/es/issues/412/estibadores-votan-la-huelga/",
    )
    assert paths(state, commit(state, 412, [spanish]), 412) == {
        "/es/issues/412/estibadores-votan-la-huelga/",
        "/en/issues/412/dockworkers-vote-to-strike/",  # gains its "also in" link
        "/en/feed.xml",  # the feed entry gains an hreflang alternate
        # its Spanish neighbours' previous/next links
        "/es/issues/412/deportaciones-fascistas-provocan-resistencia/",
        "/es/issues/412/huelga-de-alquileres-cumple-tres-meses/",
        "/es/issues/412/",
        "/es/",
        "/es/feed.xml",
        "/es/archive/",
        "/sitemaps/412.xml",
        "/api/v1/issues/412.json",
        "/api/v1/issues.json",
    }  # nothing else in English: "/" and "/en/" list no translations


def test_a_republished_commit_plans_nothing(state: State) -> None:
    same = entry_of(state, 412, "dockworkers-vote-to-strike")
    assert paths(state, commit(state, 412, [same]), 412) == set()


def test_the_work_is_bounded_to_the_touched_issue(state: State) -> None:
    edited = entry_of(state, 410, "why-we-print")
    edited["title"] = "Why paper"
    assert paths(state, commit(state, 410, [edited]), 410) == {
        "/en/issues/410/why-we-print/",
        "/en/issues/410/bus-drivers-reclaim-the-timetable/",  # its neighbour
        "/en/issues/410/",
        "/en/feed.xml",
        "/api/v1/issues/410.json",
    }  # nothing of issues 411 and 412


def test_invalidation_collapses_an_issue_folder_into_one_wildcard() -> None:
    assert invalidation_paths(
        [
            "/en/issues/412/a/",
            "/en/issues/412/",
            "/en/",
            "/",
            "/en/feed.xml",
            "/api/v1/issues/412.json",
        ]
    ) == [
        "/api/v1/issues/412.json",
        "/en/feed.xml",
        "/en/index.html",
        "/en/issues/412/*",
        "/index.html",
    ]
    assert invalidation_paths(["/en/issues/412/a/"]) == ["/en/issues/412/a/index.html"]
    assert invalidation_paths([f"/x/{i}.json" for i in range(300)]) == ["/*"]


def test_a_one_article_commit_clears_at_most_eight_paths(state: State) -> None:
    edited = entry_of(state, 412, "dockworkers-vote-to-strike")
    edited["title"] = "Dockworkers strike"
    edited["summary"] = "Changed."
    assert len(invalidation_paths(paths(state, commit(state, 412, [edited]), 412))) <= 8
