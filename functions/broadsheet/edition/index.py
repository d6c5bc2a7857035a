"""The issue indexes: the public JSON API, and the published state everything else reads.

An issue index (``/api/v1/issues/<n>.json``) lists every public article of an issue in
all languages; ``/api/v1/issues.json`` lists the issues. Listing pages, feeds and
sitemaps are rendered from these documents alone, and the pipeline checks a commit
against them, so neither ever needs to re-read the archive's sources.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from broadsheet.content.article import Article
from broadsheet.content.issue import Issue
from broadsheet.content.site import Site
from broadsheet.edition import urls

VERSION = 1
Doc = dict[str, Any]
# The order of an issue document's keys; "articles" comes last.
ISSUE_KEYS = ("version", "number", "date", "title", "urls", "index", "order")


def entry(site: Site, article: Article) -> Doc:
    """One article as the index describes it (translations are filled in by ``apply``)."""
    path = urls.article(article.language, article.issue, article.slug)
    return {
        "slug": article.slug,
        "language": article.language,
        "title": article.title,
        "date": article.date.isoformat(),
        "dateline": article.dateline,
        "section": article.section,
        "authors": list(article.authors),
        "summary": article.summary or "",
        "tags": list(article.tags),
        "path": path,
        "url": urls.absolute(site.base_url, path),
        "published": article.published_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "translation_of": article.translation_of,
        "translations": {},
        "source": f"issues/{article.issue}/{article.slug}.md",
        "source_sha256": article.source_hash,
    }


def empty(site: Site, issue: Issue) -> Doc:
    return with_issue(site, {"version": VERSION, "articles": []}, issue)


def with_issue(site: Site, doc: Doc, issue: Issue) -> Doc:
    """The document with ``issue.yml``'s metadata (number, date, titles, order) applied."""
    updated = dict(doc)
    updated.update(
        {
            "version": VERSION,
            "number": issue.number,
            "date": issue.date.isoformat(),
            "title": dict(issue.titles),
            "order": list(issue.order),
            "urls": {
                lang: urls.absolute(site.base_url, urls.issue(lang, issue.number))
                for lang in site.languages
            },
            "index": urls.absolute(site.base_url, urls.issue_index(issue.number)),
        }
    )
    return _arrange(site, updated)


def apply(
    site: Site, doc: Doc, upserts: Iterable[Doc] = (), removals: Iterable[tuple[str, str]] = ()
) -> Doc:
    """A new document with articles added or replaced and others removed.

    ``removals`` are (language, slug) pairs; a slug is unique in an issue whatever its
    language, so the language only guards against removing the wrong article.
    """
    gone = set(removals)
    new = {e["slug"]: e for e in upserts}
    kept = [
        e
        for e in doc["articles"]
        if (e["language"], e["slug"]) not in gone and e["slug"] not in new
    ]
    return _arrange(site, {**doc, "articles": kept + list(new.values())})


def _arrange(site: Site, doc: Doc) -> Doc:
    """Order articles for the front page and derive translation links."""
    order = {slug: rank for rank, slug in enumerate(doc.get("order", []))}
    articles = sorted(
        ({**e, "translations": {}} for e in doc["articles"]),
        key=lambda e: (
            order.get(e["slug"], len(order)),
            site.section_rank(e["section"]),
            _negated(e["published"]),
            e["slug"],
        ),
    )
    groups: dict[str, list[Doc]] = {}
    for article in articles:
        groups.setdefault(article["translation_of"] or article["slug"], []).append(article)
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
    head = {key: doc[key] for key in ISSUE_KEYS if key in doc}
    return {**head, "articles": articles}


def _negated(timestamp: str) -> tuple[int, ...]:
    # newest first within a section, without parsing the timestamp
    return tuple(-ord(c) for c in timestamp)


def in_language(doc: Doc, language: str) -> list[Doc]:
    return [e for e in doc["articles"] if e["language"] == language]


def issue_summary(doc: Doc, site: Site) -> Doc:
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


def issues_doc(site: Site, summaries: Iterable[Doc]) -> Doc:
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


def update_issues(site: Site, doc: Doc | None, issue_doc: Doc) -> Doc:
    """``issues.json`` with one issue's line replaced (or dropped when it has no articles)."""
    others = [s for s in (doc or {}).get("issues", []) if s["number"] != issue_doc["number"]]
    return issues_doc(site, [*others, issue_summary(issue_doc, site)])


SCHEMAS = ("issue.schema.json", "issues.schema.json")


def schema_bytes(name: str) -> bytes:
    return resources.files("broadsheet.edition").joinpath("schemas", name).read_bytes()


def dumps(doc: Mapping[str, Any]) -> bytes:
    # Compact: the C encoder is ten times faster than indented output, and clients parse it.
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def loads(data: bytes) -> Doc:
    value = json.loads(data)
    if not isinstance(value, dict) or value.get("version") != VERSION:
        raise ValueError("not a version 1 Broadsheet index")
    return value
