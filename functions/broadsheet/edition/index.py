"""The issue indexes: the public JSON API, and the published state everything else reads.

An issue index (``/api/v1/issues/<n>.json``) lists every public article of an issue in
all languages; ``/api/v1/issues.json`` lists the issues. Listing pages, feeds and
sitemaps are rendered from these documents alone, and the pipeline checks a commit
against them, so neither ever needs to re-read the archive's sources.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, TypedDict, cast

from broadsheet.content.article import Article
from broadsheet.content.issue import Issue
from broadsheet.content.photo import CROPS, Photo, PhotoRef
from broadsheet.content.site import Site
from broadsheet.edition import urls

VERSION = 1
Doc = dict[str, Any]  # any JSON object; the documents below are its typed shapes


class Translation(TypedDict):
    slug: str
    title: str
    path: str
    url: str


class CropEntry(TypedDict):
    url: str
    width: int
    height: int


class PhotoEntry(TypedDict):
    """A photograph as a page shows it (``/media/<issue>/<name>.<hash>.<width>.<ext>``)."""

    src: str  # the file in the issue folder: media/dockers.jpg
    alt: str
    caption: str
    credit: str
    path: str  # its variants' common start: /media/412/dockers.1a2b3c4d5e6f
    widths: list[int]  # of its variants, each in WebP and JPEG
    width: int  # of the largest variant
    height: int
    url: str  # the largest JPEG variant
    crops: dict[str, CropEntry]  # 16x9, 4x3, 1x1: for search engines and social cards


class Correction(TypedDict):
    date: str  # YYYY-MM-DD
    text: str  # as written: short inline Markdown
    html: str  # as printed


class ArticleEntry(TypedDict):
    """One article in an issue document (schemas/issue.schema.json, ``articles[]``)."""

    slug: str
    language: str
    title: str
    date: str  # YYYY-MM-DD, the dateline's date
    dateline: str
    section: str | None
    authors: list[str]
    summary: str
    tags: list[str]
    path: str  # /<lang>/issues/<n>/<slug>/
    url: str
    published: str  # when readers may see it, UTC, YYYY-MM-DDTHH:MM:SSZ
    translation_of: str | None
    translations: dict[str, Translation]  # language -> the same article in it
    source: str  # issues/<n>/<slug>.md
    source_sha256: str
    image: PhotoEntry | None  # the lead photograph
    photos: list[PhotoEntry]  # the body's, in order
    updated: str | None  # the last significant change, UTC, YYYY-MM-DDTHH:MM:SSZ
    corrections: list[Correction]  # oldest first, as written


class IssueDoc(TypedDict):
    """``/api/v1/issues/<n>.json`` (schemas/issue.schema.json)."""

    version: int
    number: int
    date: str
    title: dict[str, str]  # language -> title, when the issue has one
    urls: dict[str, str]  # language -> the issue's front page
    index: str  # this document's own URL
    order: list[str]  # slugs that lead the front page
    articles: list[ArticleEntry]


def pages(doc: IssueDoc | None) -> set[str]:
    """The public pages an issue's document stands for: its front page in each language
    and each article's page."""
    if doc is None:
        return set()
    fronts = (urls.issue(language, doc["number"]) for language in doc["urls"])
    return {*fronts, *(entry["path"] for entry in doc["articles"])}


class IssueSummary(TypedDict):
    """One issue in ``/api/v1/issues.json``."""

    number: int
    date: str
    title: dict[str, str]
    urls: dict[str, str]
    index: str
    articles: dict[str, int]  # language -> articles published in it


class IssuesDoc(TypedDict):
    """``/api/v1/issues.json`` (schemas/issues.schema.json)."""

    version: int
    publication: dict[str, str]
    base_url: str
    languages: list[str]
    latest: int | None
    issues: list[IssueSummary]


def photo_entry(site: Site, number: int, ref: PhotoRef, photo: Photo) -> PhotoEntry:
    path = urls.photo(number, photo.stem, photo.digest)
    widths = photo.widths()
    width, height = photo.size(widths[-1])
    return {
        "src": ref.src,
        "alt": ref.alt,
        "caption": ref.caption,
        "credit": ref.credit,
        "path": path,
        "widths": widths,
        "width": width,
        "height": height,
        "url": urls.absolute(site.base_url, f"{path}.{widths[-1]}.jpg"),
        "crops": {
            crop: {
                "url": urls.absolute(site.base_url, f"{path}.{crop}.jpg"),
                "width": photo.crop_size(crop)[0],
                "height": photo.crop_size(crop)[1],
            }
            for crop in CROPS
        },
    }


def entry(site: Site, article: Article, media: Mapping[str, Photo] | None = None) -> ArticleEntry:
    """One article as the index describes it (translations are filled in by ``issue_doc``);
    ``media`` holds the photographs it shows, by their file in the issue folder."""
    media = media or {}
    photos = [
        photo_entry(site, article.issue, ref, media[ref.src])
        for ref in article.photos
        if ref.src in media
    ]
    lead = photos.pop(0) if article.lead is not None and photos else None
    path = urls.article(article.language, article.issue, article.slug)
    return {
        "slug": article.slug,
        "language": article.language,
        "title": article.title,
        "date": article.date.isoformat(),
        "dateline": article.dateline,
        "section": article.section,
        # A described author by the name site.yml gives, however the article wrote it.
        "authors": [_described(site, name) for name in article.authors],
        "summary": article.summary or "",
        "tags": list(article.tags),
        "path": path,
        "url": urls.absolute(site.base_url, path),
        "published": utc(article.published_at),
        "translation_of": article.translation_of,
        "translations": {},
        "source": f"issues/{article.issue}/{article.slug}.md",
        "source_sha256": article.source_hash,
        "image": lead,
        "photos": photos,
        "updated": utc(article.updated) if article.updated else None,
        "corrections": [
            {"date": c.date.isoformat(), "text": c.text, "html": c.html}
            for c in article.corrections
        ],
    }


def utc(moment: dt.datetime) -> str:
    """A moment as the documents write it: UTC, to the second, with a Z."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def modified(entry: ArticleEntry) -> str:
    """When the article last changed for readers: its update, else its publication."""
    return max(entry["published"], entry.get("updated") or "")


def _described(site: Site, name: str) -> str:
    author = site.author(name)
    return author.name if author is not None else name


def issue_doc(site: Site, issue: Issue, entries: Iterable[ArticleEntry]) -> IssueDoc:
    """An issue's document: ``issue.yml``'s metadata and its public articles, ordered for
    the front page (``order`` first, then by section, newest first) with translation
    links between them."""
    order = {slug: rank for rank, slug in enumerate(issue.order)}
    articles = sorted(
        (ArticleEntry(**{**e, "translations": {}}) for e in entries),
        key=lambda e: (
            order.get(e["slug"], len(order)),
            site.section_rank(e["section"]),
            _negated(e["published"]),
            e["slug"],
        ),
    )
    groups: dict[str, list[ArticleEntry]] = {}
    for article in articles:
        groups.setdefault(article["translation_of"] or article["slug"], []).append(article)
    # Only public slugs are named: a translation of a draft or of an embargoed article
    # does not give its original away, nor does issue.yml's order.
    public = {article["slug"] for article in articles}
    for article in articles:
        if article["translation_of"] not in public:
            article["translation_of"] = None
    for members in groups.values():
        for article in members:
            article["translations"] = {
                other["language"]: {
                    "slug": other["slug"],
                    "title": other["title"],
                    "path": other["path"],
                    "url": other["url"],
                }
                for other in members
                if other is not article
            }
    return {
        "version": VERSION,
        "number": issue.number,
        "date": issue.date.isoformat(),
        "title": dict(issue.titles),
        "urls": {
            lang: urls.absolute(site.base_url, urls.issue(lang, issue.number))
            for lang in site.languages
        },
        "index": urls.absolute(site.base_url, urls.issue_index(issue.number)),
        "order": [slug for slug in issue.order if slug in public],
        "articles": articles,
    }


def _negated(timestamp: str) -> tuple[int, ...]:
    # newest first within a section, without parsing the timestamp
    return tuple(-ord(c) for c in timestamp)


def in_language(doc: IssueDoc, language: str) -> list[ArticleEntry]:
    return [e for e in doc["articles"] if e["language"] == language]


def issue_summary(doc: IssueDoc, site: Site) -> IssueSummary:
    """How ``issues.json`` describes one issue."""
    counts = {lang: len(in_language(doc, lang)) for lang in site.languages}
    return {
        "number": doc["number"],
        "date": doc["date"],
        "title": doc["title"],
        "urls": doc["urls"],
        "index": doc["index"],
        "articles": counts,
    }


def issues_doc(site: Site, summaries: Iterable[IssueSummary]) -> IssuesDoc:
    listed = sorted(
        (s for s in summaries if any(s["articles"].values())), key=lambda s: -s["number"]
    )
    return {
        "version": VERSION,
        "publication": dict(site.names),
        "base_url": site.base_url,
        "languages": list(site.languages),
        "latest": listed[0]["number"] if listed else None,
        "issues": listed,
    }


SCHEMAS = ("issue.schema.json", "issues.schema.json")


def schema_bytes(name: str) -> bytes:
    return resources.files("broadsheet.edition").joinpath("schemas", name).read_bytes()


def dumps(doc: Mapping[str, Any]) -> bytes:
    # Compact: the C encoder is ten times faster than indented output, and clients parse it.
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def loads(data: bytes) -> IssueDoc:
    value = json.loads(data)
    if not isinstance(value, dict) or value.get("version") != VERSION:
        raise ValueError("not a version 1 Broadsheet index")
    return cast(IssueDoc, value)
