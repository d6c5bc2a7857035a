"""Sitemaps: one per issue, so a commit rewrites only its issue's, and an index of them."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from . import urls
from .index import Doc
from .markup import xml_document
from .site import Site

NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML = "http://www.w3.org/1999/xhtml"


def _url(urlset: ET.Element, loc: str, alternates: dict[str, str], lastmod: str | None) -> None:
    url = ET.SubElement(urlset, f"{{{NS}}}url")
    ET.SubElement(url, f"{{{NS}}}loc").text = loc
    if lastmod:
        ET.SubElement(url, f"{{{NS}}}lastmod").text = lastmod
    if len(alternates) > 1:
        for lang, href in sorted(alternates.items()):
            ET.SubElement(url, f"{{{XHTML}}}link", rel="alternate", hreflang=lang, href=href)


def _urlset() -> ET.Element:
    ET.register_namespace("", NS)
    ET.register_namespace("xhtml", XHTML)
    return ET.Element(f"{{{NS}}}urlset")


def render_issue_sitemap(site: Site, doc: Doc) -> bytes:
    urlset = _urlset()
    languages = [
        lang for lang in site.languages if any(e["language"] == lang for e in doc["articles"])
    ]
    issue_urls = {lang: doc["urls"][lang] for lang in languages}
    for lang in languages:
        _url(urlset, issue_urls[lang], issue_urls, doc["date"])
    for entry in doc["articles"]:
        alternates = {entry["language"]: entry["url"]}
        alternates.update({lang: t["url"] for lang, t in entry["translations"].items()})
        _url(urlset, entry["url"], alternates, entry["published"][:10])
    return xml_document(urlset)


def render_site_sitemap(site: Site) -> bytes:
    urlset = _urlset()
    for make in (urls.home, urls.archive):
        alternates = {lang: urls.absolute(site.base_url, make(lang)) for lang in site.languages}
        for lang in site.languages:
            _url(urlset, alternates[lang], alternates, None)
    return xml_document(urlset)


def render_sitemap_index(site: Site, issues: Doc) -> bytes:
    ET.register_namespace("", NS)
    root = ET.Element(f"{{{NS}}}sitemapindex")
    entries = [(urls.SITE_SITEMAP, None)]
    entries += [(urls.sitemap(s["number"]), s["date"]) for s in issues["issues"]]
    for path, lastmod in entries:
        sitemap = ET.SubElement(root, f"{{{NS}}}sitemap")
        ET.SubElement(sitemap, f"{{{NS}}}loc").text = urls.absolute(site.base_url, path)
        if lastmod:
            ET.SubElement(sitemap, f"{{{NS}}}lastmod").text = lastmod
    return xml_document(root)
