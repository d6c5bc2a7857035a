"""Which outputs exist, and what each is rendered from.

Every output is a function of the published state: an issue's pages of its document
(and an article page of its body too), the site-wide listings of the list of issues and
the few issue documents they show. ``issue_inputs`` gives each output of an issue the
very value its renderer is then given (``render_issue_output``): an issue's front page
the issue with its articles in one language, an article page the issue with the article
and its two neighbours, reduced to what a neighbour's link shows. What a renderer does
not get, it cannot show; so a digest of that value says when the output must be made
again (the pipeline's reconcile), and nothing kept beside it can miss a field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from broadsheet.content.site import Site
from broadsheet.edition import feed, index, pages, sitemap, urls
from broadsheet.edition.index import IssueDoc, IssuesDoc, in_language

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


def _neighbour(entry: index.ArticleEntry | None) -> list[index.ArticleEntry]:
    """A neighbour as an article page's link to it shows it: its title and address."""
    if entry is None:
        return []
    link = {k: entry[k] for k in ("slug", "language", "title", "path")}
    return [cast(index.ArticleEntry, link)]


def issue_slice(doc: IssueDoc, language: str) -> IssueDoc:
    """What an issue's front page in ``language`` is made from (the home page too)."""
    return {**doc, "articles": in_language(doc, language)}


def article_slice(doc: IssueDoc, same: list[index.ArticleEntry], at: int) -> IssueDoc:
    """What the page of ``same[at]`` (the issue's articles in its language) is made from:
    the issue, the article, and the links to the articles before and after it."""
    prev = same[at - 1] if at else None
    next_ = same[at + 1] if at + 1 < len(same) else None
    articles = [*_neighbour(prev), same[at], *_neighbour(next_)]
    return {**doc, "order": [], "articles": articles}


def issue_inputs(site: Site | None, doc: IssueDoc | None) -> dict[Output, Any]:
    """Every output of one issue mapped to what it is rendered from (none without
    articles: an issue nobody may read yet has no pages)."""
    if site is None or doc is None or not doc["articles"]:
        return {}
    number = doc["number"]
    scope: dict[Output, Any] = {
        Output("issue_json", number=number): doc,
        Output("sitemap", number=number): doc,
    }
    for entry in doc["articles"]:
        for photo in [entry["image"], *entry["photos"]] if entry["image"] else entry["photos"]:
            for name in variant_files(photo):
                scope[Output("photo", number=number, slug=name)] = photo["path"]
    for language in site.languages:
        same = in_language(doc, language)
        scope[Output("issue", language, number)] = issue_slice(doc, language)
        for at, entry in enumerate(same):
            scope[Output("article", language, number, entry["slug"])] = article_slice(doc, same, at)
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


BodyLookup = Callable[[int, str], str]
PhotoLookup = Callable[[int, str], bytes]  # (issue, variant's file name) -> its bytes


def _no_photo(number: int, name: str) -> bytes:
    raise AssertionError(f"no photograph {number}/{name} at hand")


def render_issue_output(
    site: Site, output: Output, made_from: Any, body: BodyLookup, photo: PhotoLookup = _no_photo
) -> bytes:
    """The bytes of one output of an issue, from what ``issue_inputs`` says it is made
    from (and the body, for an article page; the variant, for a photo)."""
    kind = output.kind
    if kind == "photo":
        return photo(output.number, output.slug)
    if kind == "article":
        return pages.render_article(site, made_from, output.slug, body(output.number, output.slug))
    if kind == "issue":
        return pages.render_issue(site, made_from, output.language)
    if kind == "sitemap":
        return sitemap.render_issue_sitemap(site, made_from)
    if kind == "issue_json":
        return index.dumps(made_from)
    raise ValueError(kind)


def render(site: Site, state: State, output: Output) -> bytes:
    """The bytes of one site-wide listing, from the state."""
    kind = output.kind
    if kind in {"home", "root"}:
        latest = state.latest()
        language = output.language or site.default_language
        if latest is None:
            return pages.render_archive(site, state.issues, language)
        return pages.render_issue(site, issue_slice(latest, language), language, home=True)
    if kind == "archive":
        return pages.render_archive(site, state.issues, output.language)
    if kind == "feed":
        entries = feed.latest_entries(state.docs.values(), output.language)
        return feed.render_feed(site, output.language, entries)
    if kind == "sitemaps":
        return sitemap.render_sitemap_index(site, state.issues)
    if kind == "news":
        return sitemap.render_news_sitemap(site, state.docs.values(), state.now)
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
    files = {o.key: render(site, state, o) for o in site_outputs(site)}
    files.update({path.lstrip("/"): data for path, data in site_files(site).items()})
    return files


def with_issues(site: Site, docs: Iterable[IssueDoc], now: str = "") -> State:
    """The state of a whole archive's documents (what a full build has at the end)."""
    public = {d["number"]: d for d in docs if d["articles"]}
    summaries = [index.issue_summary(d, site) for d in public.values()]
    return State(index.issues_doc(site, summaries), public, now)
