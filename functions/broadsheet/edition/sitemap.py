"""Sitemaps: one per issue, so a commit rewrites only its issue's, and an index of them.

Written as text rather than through ElementTree: a full build writes one per issue, and
serialising the tree cost more than rendering the issue's front pages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from xml.sax.saxutils import escape as _escape

from broadsheet.content.site import Site
from broadsheet.edition import urls
from broadsheet.edition.feed import xml_text
from broadsheet.edition.index import ArticleEntry, IssueDoc, IssuesDoc, modified

NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML = "http://www.w3.org/1999/xhtml"
DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'


def escape(value: str, entities: dict[str, str] | None = None) -> str:
    """XML-escaped, without what XML 1.0 forbids (see ``feed.xml_text``)."""
    return _escape(xml_text(value), entities or {})


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _url(loc: str, alternates: dict[str, str], lastmod: str | None) -> str:
    lines = ["  <url>", f"    <loc>{escape(loc)}</loc>"]
    if lastmod:
        lines.append(f"    <lastmod>{escape(lastmod)}</lastmod>")
    if len(alternates) > 1:
        lines.extend(
            f'    <xhtml:link rel="alternate" hreflang="{_attr(lang)}" href="{_attr(href)}" />'
            for lang, href in sorted(alternates.items())
        )
    lines.append("  </url>")
    return "\n".join(lines)


def _urlset(entries: Iterable[str]) -> bytes:
    head = f'<urlset xmlns="{NS}" xmlns:xhtml="{XHTML}">'
    return (DECLARATION + "\n".join([head, *entries, "</urlset>"]) + "\n").encode()


def render_issue_sitemap(site: Site, doc: IssueDoc) -> bytes:
    languages = [
        lang for lang in site.languages if any(e["language"] == lang for e in doc["articles"])
    ]
    issue_urls = {lang: doc["urls"][lang] for lang in languages}
    entries = [_url(issue_urls[lang], issue_urls, doc["date"]) for lang in languages]
    for entry in doc["articles"]:
        alternates = {entry["language"]: entry["url"]}
        alternates.update({lang: t["url"] for lang, t in entry["translations"].items()})
        entries.append(_url(entry["url"], alternates, modified(entry)[:10]))
    return _urlset(entries)


def render_site_sitemap(site: Site) -> bytes:
    entries: list[str] = []
    for make in (urls.home, urls.archive):
        alternates = {lang: urls.absolute(site.base_url, make(lang)) for lang in site.languages}
        entries.extend(_url(alternates[lang], alternates, None) for lang in site.languages)
    return _urlset(entries)


def render_sitemap_index(site: Site, issues: IssuesDoc) -> bytes:
    listed: list[tuple[str, str | None]] = [(urls.SITE_SITEMAP, None)]
    listed += [(urls.sitemap(s["number"]), s["date"]) for s in issues["issues"]]
    lines = [f'<sitemapindex xmlns="{NS}">']
    for path, lastmod in listed:
        lines += ["  <sitemap>", f"    <loc>{escape(urls.absolute(site.base_url, path))}</loc>"]
        if lastmod:
            lines.append(f"    <lastmod>{escape(lastmod)}</lastmod>")
        lines.append("  </sitemap>")
    lines.append("</sitemapindex>")
    return (DECLARATION + "\n".join(lines) + "\n").encode()


NEWS = "http://www.google.com/schemas/sitemap-news/0.9"
NEWS_DAYS = 2  # Google News takes the articles of the last two days
NEWS_MAX = 1000


def news_since(now: str) -> str:
    """An article published after this moment is in the news sitemap at ``now``; one
    published exactly two days before has just left it (its lapse schedule fires then)."""
    moment = dt.datetime.fromisoformat(now.replace("Z", "+00:00"))
    return (moment - dt.timedelta(days=NEWS_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")


def news_entries(docs: Iterable[IssueDoc], now: str) -> list[ArticleEntry]:
    """The articles a news sitemap lists at ``now``: public within the last two days,
    newest first, at most a thousand."""
    if not now:
        return []
    since = news_since(now)
    recent = [e for d in docs for e in d["articles"] if since < e["published"] <= now]
    recent.sort(key=lambda e: (e["published"], e["path"]), reverse=True)
    return recent[:NEWS_MAX]


def render_news_sitemap(site: Site, docs: Iterable[IssueDoc], now: str) -> bytes:
    """Google News' sitemap: name and language of the publication, when each article
    was published, and its title."""
    lines = [f'<urlset xmlns="{NS}" xmlns:news="{NEWS}">']
    for entry in news_entries(docs, now):
        language = entry["language"]
        if language not in site.names:
            # An issue indexed before site.yml dropped its language: its own job, on
            # its way, takes the article out; the sitemap does not wait for it.
            continue
        lines += [
            "  <url>",
            f"    <loc>{escape(entry['url'])}</loc>",
            "    <news:news>",
            "      <news:publication>",
            f"        <news:name>{escape(site.names[language])}</news:name>",
            f"        <news:language>{escape(language)}</news:language>",
            "      </news:publication>",
            f"      <news:publication_date>{escape(entry['published'])}</news:publication_date>",
            f"      <news:title>{escape(entry['title'])}</news:title>",
            "    </news:news>",
            "  </url>",
        ]
    lines.append("</urlset>")
    return (DECLARATION + "\n".join(lines) + "\n").encode()
