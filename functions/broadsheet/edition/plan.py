"""Which outputs exist, what each is rendered from, and what a change rewrites.

Every output is a function of the published state: an issue's pages of its document
(and an article page of its body too), the site-wide listings of the list of issues and
the few issue documents they show. An issue's change is planned by comparing, output by
output, what each would be rendered from before and after: outputs whose inputs did not
change are left alone, so the work grows with the change, not with the archive. The
site-wide listings are few, and are compared by their bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from broadsheet.content.site import Site
from broadsheet.edition import feed, index, pages, sitemap, urls
from broadsheet.edition.index import IssueDoc, IssuesDoc, in_language

# Fields of an article entry that its listing (front page, home) shows.
LISTED = ("slug", "title", "path", "dateline", "date", "authors", "summary", "section")
PER_ISSUE = frozenset({"article", "issue", "issue_json", "sitemap", "photo"})


@dataclass(frozen=True, order=True)
class Output:
    # article, issue, issue_json, sitemap (one issue's); home, root, archive, feed,
    # sitemaps, issues_json (site-wide)
    kind: str
    language: str = ""
    number: int = 0
    slug: str = ""

    @property
    def path(self) -> str:
        match self.kind:
            case "article":
                return urls.article(self.language, self.number, self.slug)
            case "photo":
                return f"/media/{self.number}/{self.slug}"
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
            case "news":
                return urls.NEWS_SITEMAP
            case "issue_json":
                return urls.issue_index(self.number)
            case "issues_json":
                return urls.ISSUES_INDEX
        raise ValueError(self.kind)

    @property
    def key(self) -> str:
        return urls.object_key(self.path)

    def to_json(self) -> list[Any]:
        return [self.kind, self.language, self.number, self.slug]

    @classmethod
    def from_json(cls, value: list[Any]) -> Output:
        kind, language, number, slug = value
        return cls(str(kind), str(language), int(number), str(slug))


@dataclass
class State:
    """What outputs are rendered from: the list of issues, and the issue documents at
    hand (for the site-wide listings: the latest issue and those the feeds read)."""

    issues: IssuesDoc
    docs: dict[int, IssueDoc] = field(default_factory=dict)
    now: str = ""  # when it is rendered, UTC: the news sitemap lists the last two days

    def latest(self) -> IssueDoc | None:
        latest = self.issues["latest"]
        return self.docs.get(latest) if latest is not None else None


def _neighbour(entry: index.ArticleEntry | None) -> Any:
    return (entry["title"], entry["path"]) if entry else None


def _issue_meta(doc: IssueDoc) -> Any:
    return (doc["number"], doc["date"], doc["title"], doc["urls"])


def issue_inputs(site: Site | None, doc: IssueDoc | None) -> dict[Output, Any]:
    """Every output of one issue mapped to what it is rendered from (none without
    articles: an issue nobody may read yet has no pages)."""
    if site is None or doc is None or not doc["articles"]:
        return {}
    number = doc["number"]
    scope: dict[Output, Any] = {
        Output("issue_json", number=number): doc,
        Output("sitemap", number=number): [
            (e["url"], index.modified(e), sorted(t["url"] for t in e["translations"].values()))
            for e in doc["articles"]
        ]
        + [doc["urls"], doc["date"]],
    }
    for entry in doc["articles"]:
        for photo in [entry["image"], *entry["photos"]] if entry["image"] else entry["photos"]:
            for name in variant_files(photo):
                scope[Output("photo", number=number, slug=name)] = photo["path"]
    for language in site.languages:
        same = in_language(doc, language)
        listing = [[e[k] for k in LISTED] for e in same]  # type: ignore[literal-required]
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
    return scope


def variant_files(photo: index.PhotoEntry) -> list[str]:
    """The files a photograph's entry points at: each width in WebP and JPEG, the crops."""
    stem = photo["path"].rsplit("/", 1)[1]
    files = [f"{stem}.{w}.{ext}" for w in photo["widths"] for ext in ("webp", "jpg")]
    return files + [f"{stem}.{crop}.jpg" for crop in photo["crops"]]


def site_outputs(site: Site) -> list[Output]:
    """The site-wide listings: one of each per language, and the indexes of everything."""
    outputs = [Output("root"), Output("issues_json"), Output("sitemaps"), Output("news")]
    for language in site.languages:
        outputs += [Output("home", language), Output("archive", language), Output("feed", language)]
    return outputs


@dataclass
class Plan:
    write: list[Output]  # outputs to render (their inputs changed or they are new)
    delete: list[Output]  # outputs that no longer exist

    @property
    def paths(self) -> list[str]:
        return sorted({o.path for o in self.write + self.delete})


def issue_plan(
    before: tuple[Site | None, IssueDoc | None],
    after: tuple[Site | None, IssueDoc | None],
    *,
    everything: bool = False,
) -> Plan:
    """What changes in one issue between two states of it (each with the site it is
    rendered with); ``everything`` writes every output whatever changed (new templates)."""
    old = issue_inputs(*before)
    new = issue_inputs(*after)
    changed_site = before[0] != after[0]
    write = sorted(
        o for o, value in new.items() if everything or changed_site or old.get(o) != value
    )
    delete = sorted(o for o in old if o not in new)
    return Plan(write, delete)


BodyLookup = Callable[[int, str], str]
PhotoLookup = Callable[[int, str], bytes]  # (issue, variant's file name) -> its bytes


def _no_photo(number: int, name: str) -> bytes:
    raise AssertionError(f"no photograph {number}/{name} at hand")


def render(
    site: Site, state: State, output: Output, body: BodyLookup, photo: PhotoLookup = _no_photo
) -> bytes:
    """The bytes of one output, from the state (and the body, for an article page; the
    variant made of the photograph, for a photo)."""
    kind = output.kind
    if kind == "photo":
        return photo(output.number, output.slug)
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
            return pages.render_archive(site, state.issues, language)
        return pages.render_issue(site, latest, language, home=True)
    if kind == "archive":
        return pages.render_archive(site, state.issues, output.language)
    if kind == "feed":
        entries = feed.latest_entries(state.docs.values(), output.language)
        return feed.render_feed(site, output.language, entries)
    if kind == "sitemap":
        return sitemap.render_issue_sitemap(site, state.docs[output.number])
    if kind == "sitemaps":
        return sitemap.render_sitemap_index(site, state.issues)
    if kind == "news":
        return sitemap.render_news_sitemap(site, state.docs.values(), state.now)
    if kind == "issue_json":
        return index.dumps(state.docs[output.number])
    if kind == "issues_json":
        return index.dumps(state.issues)
    raise ValueError(kind)


def site_files(site: Site) -> dict[str, bytes]:
    """Outputs that depend on the site and the code alone."""
    files = {
        urls.NOT_FOUND: pages.render_not_found(site),
        urls.ROBOTS: pages.render_robots(site),
        urls.SITE_SITEMAP: sitemap.render_site_sitemap(site),
    }
    files.update({asset.path: asset.body for asset in pages.assets().all()})
    for language in site.languages:
        files[urls.object_key(urls.search(language))] = pages.render_search(site, language)
    for name in index.SCHEMAS:
        files[f"{urls.API}/{name}"] = index.schema_bytes(name)
    return files


def site_wide(site: Site, state: State) -> dict[str, bytes]:
    """Every site-wide file by its key: the listings and the site's own files."""
    files = {o.key: render(site, state, o, _no_body) for o in site_outputs(site)}
    files.update({path.lstrip("/"): data for path, data in site_files(site).items()})
    return files


def _no_body(number: int, slug: str) -> str:
    raise AssertionError(f"a site-wide listing asked for the body of {number}/{slug}")


def with_issues(site: Site, docs: Iterable[IssueDoc], now: str = "") -> State:
    """The state of a whole archive's documents (what a full build has at the end)."""
    public = {d["number"]: d for d in docs if d["articles"]}
    summaries = [index.issue_summary(d, site) for d in public.values()]
    return State(index.issues_doc(site, summaries), public, now)
