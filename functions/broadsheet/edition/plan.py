"""Incremental planning: which outputs a commit changes, and which CDN paths to clear.

Every output is a function of the published state (the issue documents and the list of
issues) plus, for an article page, its body. Planning compares the inputs each output
would be rendered from before and after a commit; outputs whose inputs are unchanged are
left alone. Only the touched issues and the few site-wide listings are ever looked at,
so the work grows with the commit, not with the archive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from broadsheet.content.site import Site
from broadsheet.edition import feed, index, pages, sitemap, urls
from broadsheet.edition.index import Doc, in_language

# Fields of an article entry that its listing (front page, home) shows.
LISTED = ("slug", "title", "path", "dateline", "date", "authors", "summary", "section")


@dataclass(frozen=True, order=True)
class Output:
    kind: (
        str  # article, issue, home, root, archive, feed, sitemap, sitemaps, issue_json, issues_json
    )
    language: str = ""
    number: int = 0
    slug: str = ""

    @property
    def path(self) -> str:
        match self.kind:
            case "article":
                return urls.article(self.language, self.number, self.slug)
            case "issue":
                return urls.issue(self.language, self.number)
            case "home":
                return urls.home(self.language)
            case "root":
                return urls.ROOT
            case "archive":
                return urls.archive(self.language)
            case "feed":
                return urls.feed(self.language)
            case "sitemap":
                return urls.sitemap(self.number)
            case "sitemaps":
                return urls.SITEMAP_INDEX
            case "issue_json":
                return urls.issue_index(self.number)
            case "issues_json":
                return urls.ISSUES_INDEX
        raise ValueError(self.kind)

    @property
    def key(self) -> str:
        return urls.object_key(self.path)


@dataclass
class State:
    """The published state: ``issues.json`` and the issue documents a plan needs."""

    issues: Doc | None
    docs: dict[int, Doc] = field(default_factory=dict)

    def listed(self) -> list[int]:
        return [s["number"] for s in (self.issues or {}).get("issues", [])]

    def latest(self) -> Doc | None:
        numbers = self.listed()
        return self.docs.get(numbers[0]) if numbers else None

    def newest_first(self) -> list[Doc]:
        return [self.docs[n] for n in self.listed() if n in self.docs]

    def with_doc(self, site: Site, doc: Doc) -> State:
        """The state after one issue's document is replaced (the list follows it)."""
        return State(index.update_issues(site, self.issues, doc), {**self.docs, doc["number"]: doc})


def feed_issues(issues: Doc | None, language: str, size: int = feed.FEED_SIZE) -> list[int]:
    """The issues the feed reads (newest first, until ``size`` articles): what to load."""
    numbers, count = [], 0
    for summary in (issues or {}).get("issues", []):
        if count >= size:
            break
        numbers.append(summary["number"])
        count += summary["articles"].get(language, 0)
    return numbers


def _neighbour(entry: Doc | None) -> Any:
    return (entry["title"], entry["path"]) if entry else None


def _issue_meta(doc: Doc) -> Any:
    return (doc["number"], doc["date"], doc["title"], doc["urls"])


def inputs(site: Site, state: State, touched: Iterable[int]) -> dict[Output, Any]:
    """Every output in scope mapped to what it is rendered from."""
    scope: dict[Output, Any] = {}
    for number in touched:
        doc = state.docs.get(number)
        if doc is None or number not in state.listed():
            continue
        scope[Output("issue_json", number=number)] = doc
        scope[Output("sitemap", number=number)] = [
            (e["url"], e["published"], sorted(t["url"] for t in e["translations"].values()))
            for e in doc["articles"]
        ] + [doc["urls"], doc["date"]]
        for language in site.languages:
            same = in_language(doc, language)
            listing = [[e[k] for k in LISTED] for e in same]
            scope[Output("issue", language, number)] = (_issue_meta(doc), listing)
            for i, entry in enumerate(same):
                prev = same[i - 1] if i else None
                next_ = same[i + 1] if i + 1 < len(same) else None
                scope[Output("article", language, number, entry["slug"])] = (
                    entry,
                    _neighbour(prev),
                    _neighbour(next_),
                    _issue_meta(doc),
                )
    if state.issues is not None:
        scope[Output("issues_json")] = state.issues
        scope[Output("sitemaps")] = [(s["number"], s["date"]) for s in state.issues["issues"]]
        latest = state.latest()
        for language in site.languages:
            summaries = [
                (s["number"], s["date"], s["title"].get(language), s["articles"].get(language, 0))
                for s in state.issues["issues"]
            ]
            scope[Output("archive", language)] = summaries
            entries = feed.latest_entries(state.newest_first(), language)
            scope[Output("feed", language)] = [feed.shown(e) for e in entries]
            home = None
            if latest is not None:
                home = (
                    _issue_meta(latest),
                    [[e[k] for k in LISTED] for e in in_language(latest, language)],
                )
            scope[Output("home", language)] = home
            if language == site.default_language:
                scope[Output("root")] = home
    return scope


@dataclass
class Plan:
    write: list[Output]  # outputs to render (their inputs changed or they are new)
    delete: list[Output]  # outputs that no longer exist

    @property
    def paths(self) -> list[str]:
        return sorted({o.path for o in self.write + self.delete})


def make_plan(
    site: Site,
    before: State,
    after: State,
    touched: Iterable[int],
    changed_bodies: Iterable[tuple[int, str]] = (),
) -> Plan:
    """What changes between two states; ``changed_bodies`` are (issue, slug) pairs whose
    Markdown changed (their index entries carry the source hash, so this is a safeguard)."""
    touched = set(touched)
    old = inputs(site, before, touched)
    new = inputs(site, after, touched)
    bodies = set(changed_bodies)
    write = sorted(
        o
        for o, value in new.items()
        if old.get(o) != value or (o.kind == "article" and (o.number, o.slug) in bodies)
    )
    delete = sorted(o for o in old if o not in new)
    return Plan(write, delete)


BodyLookup = Callable[[int, str], str]


def render(site: Site, state: State, output: Output, body: BodyLookup) -> bytes:
    """The bytes of one output, from the state (and the body, for an article page)."""
    kind = output.kind
    if kind == "article":
        return pages.render_article(
            site, state.docs[output.number], output.slug, body(output.number, output.slug)
        )
    if kind == "issue":
        return pages.render_issue(site, state.docs[output.number], output.language)
    if kind in {"home", "root"}:
        latest = state.latest()
        language = output.language or site.default_language
        if latest is None:
            return pages.render_archive(site, index.issues_doc(site, []), language)
        return pages.render_issue(site, latest, language, home=True)
    if kind == "archive":
        return pages.render_archive(
            site, state.issues or index.issues_doc(site, []), output.language
        )
    if kind == "feed":
        return feed.render_feed(
            site, output.language, feed.latest_entries(state.newest_first(), output.language)
        )
    if kind == "sitemap":
        return sitemap.render_issue_sitemap(site, state.docs[output.number])
    if kind == "sitemaps":
        return sitemap.render_sitemap_index(site, state.issues or index.issues_doc(site, []))
    if kind == "issue_json":
        return index.dumps(state.docs[output.number])
    if kind == "issues_json":
        return index.dumps(state.issues or index.issues_doc(site, []))
    raise ValueError(kind)


def site_files(site: Site) -> dict[str, bytes]:
    """Outputs that depend on the site and the code alone: written by a full build."""
    files = {
        urls.NOT_FOUND: pages.render_not_found(site),
        urls.ROBOTS: pages.render_robots(site),
        urls.SITE_SITEMAP: sitemap.render_site_sitemap(site),
    }
    files.update({asset.path: asset.body for asset in pages.assets().all()})
    for name in index.SCHEMAS:
        files[f"{urls.API}/{name}"] = index.schema_bytes(name)
    return files
