"""GIVEN hostile text in every field WHEN it is rendered THEN readers see text, never markup."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from broadsheet.content.article import parse_article
from broadsheet.content.findings import FindingSink
from broadsheet.content.issue import Issue
from broadsheet.content.site import Section, Site
from broadsheet.edition import feed, index, pages, sitemap

SITE = Site(
    {"en": 'Tom & "Jerry" <Gazette>', "es": "Gaceta"},
    "https://example.org",
    ("en", "es"),
    (Section("labour", {"en": "<b>Labour</b>", "es": "Trabajo"}),),
)
EVIL = '<script>alert("x")</script> & \'quoted\' "double" </script><!--'
SOURCE = f"""---
title: {json.dumps(EVIL)}
language: en
date: 2025-07-25
dateline: {json.dumps("<img src=x onerror=alert(1)>")}
section: labour
authors: [{json.dumps("<svg onload=alert(2)>")}, "Ann & Bob"]
summary: {json.dumps("Summary </title><script>alert(3)</script>")}
tags: [{json.dumps('"><script>alert(4)</script>')}]
---

A [link with \\<b\\>tags\\</b\\> & "quotes"](https://example.org/?a=1&b="2") and `<code>`.

Another [link](https://example.org/" onmouseover="alert(5)).
"""


@pytest.fixture(scope="module")
def doc() -> Any:
    sink = FindingSink("evil.md")
    article = parse_article("evil.md", SOURCE.encode(), 1, "evil", SITE, sink, render=True)
    assert article is not None, sink.findings
    issue = Issue(1, dt.date(2025, 7, 25), {"en": "<i>Issue</i> & co"})
    doc = index.issue_doc(SITE, issue, [index.entry(SITE, article)])
    doc["body_html"] = article.body_html
    return doc


def no_injected_markup(html: str) -> None:
    for needle in (
        "<script>alert",
        "<img src=x",
        "<svg onload",
        "<b>Labour",
        "<i>Issue",
        '" onmouseover="',
        "<b>tags</b>",
        "<code>\n",
        "</title><script",
    ):
        assert needle not in html, needle
    # Only the JSON-LD data block may be a script element, and it cannot be closed early.
    scripts = re.findall(r"<script[^>]*>", html)
    assert all(s == '<script type="application/ld+json">' for s in scripts)
    assert html.count("</script>") == len(scripts)


def test_article_page_escapes_every_field(doc: Any) -> None:
    html = pages.render_article(SITE, doc, "evil", doc["body_html"]).decode()
    no_injected_markup(html)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp;" in html
    assert "Ann &amp; Bob" in html
    assert 'href="https://example.org/?a=1&amp;b=%222%22"' in html
    ld = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert ld is not None
    assert json.loads(ld[1])["headline"] == EVIL


def test_listing_pages_escape_every_field(doc: Any) -> None:
    issues = index.issues_doc(SITE, [index.issue_summary(doc, SITE)])
    for html in (
        pages.render_issue(SITE, doc, "en"),
        pages.render_issue(SITE, doc, "en", home=True),
        pages.render_archive(SITE, issues, "en"),
        pages.render_not_found(SITE),
    ):
        no_injected_markup(html.decode())


def test_feed_and_sitemap_stay_well_formed_xml(doc: Any) -> None:
    atom = feed.render_feed(SITE, "en", feed.latest_entries([doc], "en"))
    root = ET.fromstring(atom)
    assert (
        root.find("{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}title").text
        == EVIL
    )
    ET.fromstring(sitemap.render_issue_sitemap(SITE, doc))


def test_sitemaps_escape_what_a_base_url_may_hold(doc: Any) -> None:
    # site.yml accepts any base_url without spaces, so &, quotes and angle brackets can
    # reach a sitemap; each must come back out of the XML exactly as written.
    base = 'https://example.org/a&b="c"<d>'
    site = Site(SITE.names, base, SITE.languages, SITE.sections)
    issue = Issue(1, dt.date(2025, 7, 25), {"en": "Issue"})
    odd = index.issue_doc(site, issue, [])
    odd["articles"] = [
        {**e, "url": base + e["path"], "translations": {"es": {"url": base + "/es/x/"}}}
        for e in doc["articles"]
    ]
    ns = {"s": sitemap.NS, "x": sitemap.XHTML}
    issue_map = ET.fromstring(sitemap.render_issue_sitemap(site, odd))
    locs = [e.text for e in issue_map.findall("s:url/s:loc", ns)]
    assert base + "/en/issues/1/evil/" in locs
    hrefs = [e.get("href") for e in issue_map.findall("s:url/x:link", ns)]
    assert base + "/es/x/" in hrefs
    site_map = ET.fromstring(sitemap.render_site_sitemap(site))
    assert base + "/en/" in [e.text for e in site_map.findall("s:url/s:loc", ns)]
    listing = ET.fromstring(
        sitemap.render_sitemap_index(site, index.issues_doc(site, [index.issue_summary(doc, site)]))
    )
    assert base + "/sitemaps/1.xml" in [e.text for e in listing.findall("s:sitemap/s:loc", ns)]


def test_json_index_round_trips_the_text(doc: Any) -> None:
    loaded = index.loads(index.dumps({k: v for k, v in doc.items() if k != "body_html"}))
    assert loaded["articles"][0]["title"] == EVIL


def test_the_renderer_neutralises_raw_html_and_bad_links_even_unchecked() -> None:
    # Defence in depth: were a source to skip validation, rendering still makes it inert.
    from broadsheet.content.typeset import _typesetter

    html = _typesetter("en").render(
        "<script>alert(1)</script>\n\nHi <img src=x onerror=alert(2)> "
        "[x](javascript:alert(3)) ![y](data:text/html,z)\n"
    )
    assert "<script" not in html and "<img src=x" not in html
    assert 'href="javascript' not in html and 'src="data:' not in html
