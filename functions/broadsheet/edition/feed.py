"""The Atom feed per language: the latest articles across issues, newest first."""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree import ElementTree as ET

from broadsheet.content.site import Site
from broadsheet.edition import urls
from broadsheet.edition.index import Doc, in_language

FEED_SIZE = 50
# What an entry of the feed shows: the plan compares these to decide a feed changed.
SHOWN = ("url", "title", "published", "modified", "authors", "section", "summary")
ATOM = "http://www.w3.org/2005/Atom"


def latest_entries(docs: Iterable[Doc], language: str, size: int = FEED_SIZE) -> list[Doc]:
    """The feed's entries, from issue documents given newest issue first.

    Whole issues are read until ``size`` articles are collected, then the newest
    ``size`` are kept: the feed never reads more than the latest few issues, which keeps
    a commit's work bounded, and the build and the pipeline agree by construction.
    """
    collected: list[Doc] = []
    for doc in docs:
        if len(collected) >= size:
            break
        collected.extend(in_language(doc, language))
    collected.sort(key=lambda e: (e["published"], e["path"]), reverse=True)
    return collected[:size]


def shown(entry: Doc) -> tuple[object, ...]:
    translations = sorted(t["url"] for t in entry["translations"].values())
    return (*(entry.get(key) for key in SHOWN), translations)


def _document(root: ET.Element) -> bytes:
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body + b"\n"


def render_feed(site: Site, language: str, entries: list[Doc]) -> bytes:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"xml:lang": language})

    def add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed_url = urls.absolute(site.base_url, urls.feed(language))
    add(feed, "id", feed_url)
    add(feed, "title", site.names[language])
    if site.descriptions.get(language):
        add(feed, "subtitle", site.descriptions[language])
    add(feed, "updated", entries[0]["published"] if entries else "1970-01-01T00:00:00Z")
    add(feed, "link", rel="self", type="application/atom+xml", href=feed_url)
    add(
        feed,
        "link",
        rel="alternate",
        type="text/html",
        href=urls.absolute(site.base_url, urls.home(language)),
    )
    for item in entries:
        entry = add(feed, "entry")
        add(entry, "id", item["url"])
        add(entry, "title", item["title"])
        add(entry, "link", rel="alternate", type="text/html", href=item["url"])
        for lang, translation in sorted(item["translations"].items()):
            add(
                entry,
                "link",
                rel="alternate",
                type="text/html",
                hreflang=lang,
                href=translation["url"],
            )
        add(entry, "published", item["published"])
        add(entry, "updated", item.get("modified", item["published"]))
        for name in item["authors"]:
            add(add(entry, "author"), "name", name)
        if item["section"]:
            add(entry, "category", term=item["section"])
        add(entry, "summary", item["summary"])
    return _document(feed)
