"""The Atom feed per language: the latest articles across issues, newest first."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from xml.etree import ElementTree as ET

from broadsheet.content.reader import CONTROL
from broadsheet.content.site import Site
from broadsheet.edition import urls
from broadsheet.edition.index import ArticleEntry, IssueDoc, in_language

FEED_SIZE = 50
ATOM = "http://www.w3.org/2005/Atom"


def _newest_first(entry: ArticleEntry) -> tuple[str, str]:
    return entry["published"], entry["path"]


def latest_entries(
    docs: Iterable[IssueDoc], language: str, size: int = FEED_SIZE
) -> list[ArticleEntry]:
    """The feed's entries: the newest ``size`` articles of the archive by the time they
    became public, whichever issue holds them (an embargo lifted in an old issue is
    news too)."""
    collected = [e for doc in docs for e in in_language(doc, language)]
    collected.sort(key=_newest_first, reverse=True)
    return collected[:size]


def newest(doc: IssueDoc, language: str) -> tuple[str, str] | None:
    """The issue's first article in the feed's order (in ``language``), by its sort key."""
    return max((_newest_first(e) for e in in_language(doc, language)), default=None)


def gather(
    newest_by_issue: Mapping[int, tuple[str, str]],
    load: Callable[[int], IssueDoc],
    language: str,
    size: int = FEED_SIZE,
) -> dict[int, IssueDoc]:
    """The issue documents the feed needs, loaded one at a time, newest issue first.

    ``newest_by_issue`` gives each issue's first article in the feed's order (``newest``).
    Once ``size`` articles are at hand, an issue whose first comes after the last of them
    cannot contribute, nor can any after it: so the feed reads a few documents, not the
    archive, and gives what ``latest_entries`` gives over all of them.
    """
    loaded: dict[int, IssueDoc] = {}
    keys: list[tuple[str, str]] = []
    for number, first in sorted(newest_by_issue.items(), key=lambda i: i[1], reverse=True):
        if len(keys) >= size and first < keys[size - 1]:
            break
        loaded[number] = load(number)
        mine = [_newest_first(e) for e in in_language(loaded[number], language)]
        keys = sorted(keys + mine, reverse=True)[:size]
    return loaded


def xml_text(text: str) -> str:
    """The text without what XML 1.0 forbids. Validation refuses such characters; this is
    the second line of defence, so no feed is ever unreadable."""
    return CONTROL.sub("", text)


def _document(root: ET.Element) -> bytes:
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body + b"\n"


def render_feed(site: Site, language: str, entries: list[ArticleEntry]) -> bytes:
    """A language's feed: the newest articles of the archive."""
    home = urls.absolute(site.base_url, urls.home(language))
    feed_url = urls.absolute(site.base_url, urls.feed(language))
    return _feed(
        site,
        language,
        site.names[language],
        feed_url,
        home,
        entries,  # type: ignore[arg-type]
    )


def render_beat_feed(site: Site, beat: Any, name: str, items: list[dict[str, Any]]) -> bytes:
    """A section's, tag's or author's feed: its newest articles."""
    title = f"{name} · {site.names[beat.language]}"
    feed_url = urls.absolute(site.base_url, beat.feed_path)
    page = urls.absolute(site.base_url, beat.path)
    lines = [{**i, "url": urls.absolute(site.base_url, i["path"])} for i in items]
    return _feed(site, beat.language, title, feed_url, page, lines)


def _feed(
    site: Site,
    language: str,
    title: str,
    feed_url: str,
    page_url: str,
    entries: list[dict[str, Any]],
) -> bytes:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"xml:lang": language})

    def add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        clean = {name: xml_text(value) for name, value in attrs.items()}
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", clean)
        if text is not None:
            element.text = xml_text(text)
        return element

    add(feed, "id", feed_url)
    add(feed, "title", title)
    if site.descriptions.get(language):
        add(feed, "subtitle", site.descriptions[language])
    changed = max((_changed(e) for e in entries), default="1970-01-01T00:00:00Z")
    add(feed, "updated", changed)
    add(feed, "link", rel="self", type="application/atom+xml", href=feed_url)
    add(feed, "link", rel="alternate", type="text/html", href=page_url)
    for item in entries:
        entry = add(feed, "entry")
        add(entry, "id", item["url"])
        add(entry, "title", item["title"])
        add(entry, "link", rel="alternate", type="text/html", href=item["url"])
        for lang, translation in sorted(item.get("translations", {}).items()):
            add(
                entry,
                "link",
                rel="alternate",
                type="text/html",
                hreflang=lang,
                href=translation["url"],
            )
        if item.get("image") is not None:
            add(entry, "link", rel="enclosure", type="image/jpeg", href=item["image"]["url"])
        add(entry, "published", item["published"])
        add(entry, "updated", _changed(item))
        for name in item["authors"]:
            add(add(entry, "author"), "name", name)
        if item.get("section"):
            add(entry, "category", term=item["section"])
        add(entry, "summary", item["summary"])
    return _document(feed)


def _changed(item: Mapping[str, Any]) -> str:
    return max(str(item["published"]), str(item.get("updated") or ""))
