"""Listings across issues: sections, tags, authors and corrections, and the news
sitemap. The full build's pages, feeds and sitemap checked against what readers, feed
readers and Google expect; the pipeline's kept from small documents, page by page, and
always what the full build writes."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadsheet.adapters.store import MemoryStore
from broadsheet.build.full import build_site
from broadsheet.edition import beats as listing
from broadsheet.pipeline.beats import BEATS
from tests.conftest import CONTENT, NOW
from tests.unit.test_pipeline import Stack, article

TAG = "/en/tags/night-shift/"


def night(title: str, **extra: str) -> str:
    return article(title, tags="[Night shift]", **extra)


def tag_paths(stack: Stack, commit: str) -> list[str]:
    """The tag's files the commit cleared from the CDN."""
    return [p for p in stack.invalidated(commit) if p.startswith(TAG)]


def tag_written(stack: Stack, commit: str) -> list[str]:
    """The tag's files the commit wrote (the new ones among them not cleared)."""
    return [p for p in stack.written(commit) if p.startswith(TAG)]


def pages_of(size: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """A published stack whose listings have pages of ``size``: a handful of articles
    make a listing of several pages."""
    monkeypatch.setattr(listing, "PAGE", size)
    stack = Stack(tmp_path)
    stack.publish()
    return stack


@pytest.fixture
def paged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stack:
    return pages_of(2, tmp_path, monkeypatch)


def land(stack: Stack, message: str) -> str:
    """Commit what is written, publish it, and hold the site to the full build."""
    commit = stack.repo.commit(message)
    stack.publish()
    stack.assert_is_the_full_build()
    return commit


def test_a_listing_keeps_its_older_pages_as_articles_come_and_go(paged: Stack) -> None:
    stack = paged
    # GIVEN five articles with one tag: blocks [1 2] [3 4] [5]; the first page shows the
    # newest two (5 4) and leads on to page 2 (4 3) at 3; page 1 shows 2 1
    for n in range(1, 6):
        stack.repo.write(f"issues/412/night-{n}.md", night(f"Night {n}"))
    first = land(stack, "five on the night shift")
    assert tag_written(stack, first) == [
        TAG + "feed.xml",
        TAG + "index.html",
        TAG + "page/1/index.html",
        TAG + "page/2/index.html",
    ]
    assert tag_paths(stack, first) == []  # each was written where nothing was
    assert f'href="{TAG}page/2/#412-night-3"' in (stack.page(TAG[1:] + "index.html") or "")
    assert 'id="412-night-3"' in (stack.page(TAG[1:] + "page/2/index.html") or "")
    # WHEN a sixth fills the newest block THEN only the first page and the feed change
    stack.repo.write("issues/412/night-6.md", night("Night 6"))
    sixth = land(stack, "a sixth")
    assert tag_written(stack, sixth) == [TAG + "feed.xml", TAG + "index.html"]
    assert tag_paths(stack, sixth) == [TAG + "feed.xml", TAG + "index.html"]
    # WHEN a seventh starts a new block THEN the full one gets a page of its own, which
    # is new: nothing to clear for it
    stack.repo.write("issues/412/night-7.md", night("Night 7"))
    seventh = land(stack, "a seventh")
    assert tag_written(stack, seventh) == [
        TAG + "feed.xml",
        TAG + "index.html",
        TAG + "page/3/index.html",
    ]
    assert tag_paths(stack, seventh) == [TAG + "feed.xml", TAG + "index.html"]
    # WHEN an old one is retitled THEN only the page that shows it changes
    stack.repo.write("issues/412/night-2.md", night("Night two"))
    retitled = land(stack, "retitled")
    assert tag_paths(stack, retitled) == [TAG + "page/1/index.html"]
    # WHEN the oldest goes THEN every block after it shifts, and their pages with them
    (stack.repo.content / "issues/412/night-1.md").unlink()
    land(stack, "the first withdrawn")
    # WHEN they all go THEN the tag's pages go, and the tags index no longer lists it
    for n in range(2, 8):
        (stack.repo.content / f"issues/412/night-{n}.md").unlink()
    land(stack, "the night shift ends")
    assert not [k for k in stack.published() if k.startswith(TAG[1:])]
    assert "night-shift" not in (stack.page("en/tags/index.html") or "")


def test_an_article_added_to_the_newest_issue_changes_the_first_page_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN pages of three, and a tag with two articles of issue 411 and two of 412:
    # blocks [a b] [x y], since a moment's articles share a block where they fit
    stack = pages_of(3, tmp_path, monkeypatch)
    for name in ("a", "b"):
        older = night(f"Night {name}").replace("date: 2025-07-25", "date: 2025-07-11")
        stack.repo.write(f"issues/411/night-{name}.md", older)
    for name in ("x", "y"):
        stack.repo.write(f"issues/412/night-{name}.md", night(f"Night {name}"))
    land(stack, "four on the night shift")
    # WHEN one more comes to 412, its path sorting first among them
    stack.repo.write("issues/412/night-w.md", night("Night w"))
    added = land(stack, "one more")
    # THEN the first page and the feed change, not the older page (cut by count alone,
    # [a b x] [y] would have become [a b w] [x y])
    assert tag_paths(stack, added) == [TAG + "feed.xml", TAG + "index.html"]
    assert _stories(stack.page(TAG[1:] + "page/1/index.html") or "") == [
        "411-night-b",
        "411-night-a",
    ]
    # WHEN the newest block is full and one more comes THEN it starts a block, and the
    # full one gets its page: the one commit in PAGE that writes three of the tag's files
    stack.repo.write("issues/412/night-z.md", night("Night z"))
    rolled = land(stack, "and another")
    assert tag_written(stack, rolled) == [
        TAG + "feed.xml",
        TAG + "index.html",
        TAG + "page/2/index.html",
    ]
    # AND the page that is new is not cleared: the bound of two paths a listing holds
    assert tag_paths(stack, rolled) == [TAG + "feed.xml", TAG + "index.html"]


# --- the full build: what every listing is --------------------------------------------------


def _tagged(content: Path, count: int) -> None:
    for n in range(1, count + 1):
        (content / f"issues/412/shift-{n:03d}.md").write_text(night(f"Shift {n}"), encoding="utf-8")


def _stories(page: str) -> list[str]:
    return re.findall(r'<article class="story" id="([^"]+)">', page)


@pytest.mark.parametrize("count", [50, 51])
def test_pagination_at_the_50_51_boundary(tmp_path: Path, count: int) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    _tagged(content, count)
    out = tmp_path / "out"
    build_site(content, out, now=NOW, workers=1)
    first = (out / "en/tags/night-shift/index.html").read_text()
    # THEN the first page shows the newest 50, newest first
    assert _stories(first) == [f"412-shift-{n:03d}" for n in range(count, count - 50, -1)]
    second = out / "en/tags/night-shift/page/1/index.html"
    if count == 50:
        assert not second.exists() and "page/1/" not in first
        return
    # AND the 51st makes a second page of the oldest 50, which the first leads into at
    # the one article it did not show
    assert 'href="/en/tags/night-shift/page/1/#412-shift-001"' in first
    older = second.read_text()
    assert _stories(older) == [f"412-shift-{n:03d}" for n in range(50, 0, -1)]
    assert 'href="/en/tags/night-shift/"' in older  # back to the newest
    assert "<title>night-shift" not in older  # it names the tag as written
    assert "Night shift (page 1)" in older


def test_each_listing_is_a_valid_page_and_its_feed_a_valid_feed(tmp_path: Path) -> None:
    """Every listing page parses as strict HTML5; every feed reads in feedparser with no
    error, each entry with its link, dates and author."""
    import feedparser
    import html5lib

    out = tmp_path / "out"
    build_site(CONTENT, out, now=NOW, workers=1)
    listings = [
        p
        for folder in ("sections", "tags", "authors", "corrections")
        for p in out.glob(f"*/{folder}/**/index.html")
    ]
    assert len(listings) > 30
    for page in listings:
        html5lib.HTMLParser(strict=True).parse(page.read_bytes())
    feeds = [
        p for folder in ("sections", "tags", "authors") for p in out.glob(f"*/{folder}/*/feed.xml")
    ]
    assert len(feeds) > 30
    for path in feeds:
        parsed = feedparser.parse(path.read_bytes())
        assert not parsed.bozo, f"{path}: {parsed.bozo_exception}"
        assert parsed.version == "atom10"
        assert parsed.entries, path
        for entry in parsed.entries:
            assert entry.link.startswith("https://broadsheet.example.org/")
            assert entry.published_parsed and entry.updated_parsed
            assert entry.title
    # The corrected article's update reaches its feed entry, after its publication.
    author = feedparser.parse((out / "en/authors/pieter-lanting/feed.xml").read_bytes())
    [entry] = author.entries
    assert entry.updated == "2025-07-25T07:30:00Z" and entry.published == "2025-07-24T00:00:00Z"
    assert author.feed.title == "Pieter Lanting · The Workers' Broadsheet"


def test_the_corrections_page_lists_each_correction_newest_first_with_its_link(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    build_site(CONTENT, out, now=NOW, workers=1)
    page = (out / "en/corrections/index.html").read_text()
    assert 'href="/en/issues/412/dockworkers-vote-to-strike/"' in page
    assert "Correction, July 25, 2025" in page and "<em>1 August</em>" in page
    empty = (out / "es/corrections/index.html").read_text()
    assert "No se ha publicado ninguna corrección." in empty
    article = (out / "en/issues/412/dockworkers-vote-to-strike/index.html").read_text()
    assert '<aside class="corrections"' in article and "Updated July 25, 2025" in article
    data = json.loads(re.search(r'ld\+json">(.*?)</script>', article).group(1))  # type: ignore[union-attr]
    assert data["dateModified"] == "2025-07-25T07:30:00Z"
    assert data["author"] == [
        {
            "@type": "Person",
            "name": "Pieter Lanting",
            "url": "https://broadsheet.example.org/en/authors/pieter-lanting/",
        }
    ]
    sitemap = (out / "sitemaps/412.xml").read_text()
    assert "<lastmod>2025-07-25</lastmod>" in sitemap


NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def test_the_news_sitemap_has_the_last_two_days_with_googles_fields(tmp_path: Path) -> None:
    from xml.etree import ElementTree as ET

    out = tmp_path / "out"
    # GIVEN noon on the day of the latest issue, whose articles came out from the 23rd
    now = dt.datetime(2025, 7, 25, 12, tzinfo=dt.UTC)
    build_site(CONTENT, out, now=now, workers=1)
    root = ET.parse(out / "news-sitemap.xml").getroot()
    assert root.tag == f"{SITEMAP}urlset"
    urls = root.findall(f"{SITEMAP}url")
    listed = [u.findtext(f"{SITEMAP}loc") for u in urls]
    # THEN it lists those published in the last two days, newest first, and no other
    assert "https://broadsheet.example.org/en/issues/412/dockworkers-vote-to-strike/" in listed
    assert not [u for u in listed if "/issues/411/" in u or "/issues/410/" in u]
    assert not [u for u in listed if "rent-strike" in u]  # the 23rd: more than two days ago
    assert not [u for u in listed if "heat-and-the-warehouse-floor" in u]  # embargoed
    dates = []
    for url in urls:
        news = url.find(f"{NEWS}news")
        assert news is not None
        publication = news.find(f"{NEWS}publication")
        assert publication is not None
        language = publication.findtext(f"{NEWS}language")
        assert language in {"en", "es"}
        name = {"en": "The Workers' Broadsheet", "es": "La Hoja Obrera"}[language]
        assert publication.findtext(f"{NEWS}name") == name
        assert news.findtext(f"{NEWS}title")
        published = news.findtext(f"{NEWS}publication_date") or ""
        assert dt.datetime.fromisoformat(published.replace("Z", "+00:00")) > now - dt.timedelta(
            days=2
        )
        dates.append(published)
    assert dates == sorted(dates, reverse=True) and len(dates) <= 1000
    robots = (out / "robots.txt").read_text()
    assert "Sitemap: https://broadsheet.example.org/news-sitemap.xml" in robots
    # AND two days later it is empty, but still there for Google to read
    later = tmp_path / "later"
    build_site(CONTENT, later, now=now + dt.timedelta(days=2), workers=1)
    assert ET.parse(later / "news-sitemap.xml").getroot().findall(f"{SITEMAP}url") == []


def test_a_tag_keeps_one_page_however_it_is_accented_across_issues(tmp_path: Path) -> None:
    """Within an issue two spellings are a finding (the corpus has the case); across
    issues they share one page, named by the newest spelling."""
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    (content / "issues/410/huelga-docente.md").write_text(
        article("Huelga docente", language="es", tags="[Huelga]").replace(
            "date: 2025-07-25", "date: 2025-06-26"
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    report = build_site(content, out, now=NOW, workers=1)
    assert report.findings == []
    page = (out / "es/tags/huelga/index.html").read_text()
    assert "huelga-docente" in page and "huelga-de-alquileres" in page
    assert "<h1>huelga</h1>" in page  # issue 412's spelling is the newer
    assert page.index("412-huelga-de-alquileres") < page.index("410-huelga-docente")
    assert not (out / "es/tags/Huelga").exists()


@pytest.mark.parametrize(
    ("spellings", "slug"),
    [
        (["Łódź", "łódź", "LODZ"], "lodz"),
        (["Ørsted", "ørsted"], "orsted"),
        (["Ærø", "ærø"], "aero"),
        (["Œuvre", "œuvre"], "oeuvre"),
        (["Þing", "þing"], "thing"),
        (["Straße", "STRASSE", "STRAẞE"], "strasse"),
        (["Año nuevo", "año-nuevo", " AÑO  NUEVO "], "ano-nuevo"),
    ],
)
def test_every_spelling_of_a_name_folds_to_one_page(spellings: list[str], slug: str) -> None:
    from broadsheet.content.folding import fold

    assert {fold(s) for s in spellings} == {slug}


def test_an_author_named_by_slug_is_shown_by_the_name_site_yml_gives(tmp_path: Path) -> None:
    import shutil

    from broadsheet.build.full import build_site

    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    source = content / "issues/412/dockworkers-vote-to-strike.md"
    text = source.read_text()
    assert "authors: [Pieter Lanting]" in text
    source.write_text(text.replace("authors: [Pieter Lanting]", "authors: [pieter-lanting]"))
    out = tmp_path / "out"
    build_site(content, out, now=NOW, workers=1)
    doc = json.loads((out / "api/v1/issues/412.json").read_text())
    [entry] = [a for a in doc["articles"] if a["slug"] == "dockworkers-vote-to-strike"]
    assert entry["authors"] == ["Pieter Lanting"]
    for feed in ("en/feed.xml", "en/authors/pieter-lanting/feed.xml"):
        assert "<name>pieter-lanting</name>" not in (out / feed).read_text()
        assert "<name>Pieter Lanting</name>" in (out / feed).read_text()


def test_regression_the_news_sitemap_skips_a_language_site_yml_no_longer_has(
    tmp_path: Path,
) -> None:
    from broadsheet.content.findings import FindingSink
    from broadsheet.content.site import parse_site
    from broadsheet.edition import index, sitemap

    # GIVEN issue documents indexed while Spanish was a language of the site
    now = dt.datetime(2025, 7, 25, 12, tzinfo=dt.UTC)
    build_site(CONTENT, tmp_path, now=now, workers=1)
    doc = index.loads((tmp_path / "api/v1/issues/412.json").read_bytes())
    assert {e["language"] for e in doc["articles"]} == {"en", "es"}
    # WHEN site.yml drops Spanish and the news sitemap is made before issue 412's own job
    import dataclasses

    both = parse_site((CONTENT / "site.yml").read_bytes(), FindingSink("site.yml"))
    assert both is not None
    names = {k: v for k, v in both.names.items() if k == "en"}
    site = dataclasses.replace(both, languages=("en",), names=names)
    made = sitemap.render_news_sitemap(site, [doc], index.utc(now)).decode()
    # THEN it is made (it raised KeyError, and the index job with it), in English only
    assert "/en/issues/412/" in made and "/es/issues/" not in made


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 4),  # the issue whose items a job replaces
            st.lists(st.tuples(st.integers(0, 5), st.integers(0, 9)), max_size=7),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_the_pipeline_cuts_a_listing_as_the_full_build_does(
    jobs: list[tuple[int, list[tuple[int, int]]]],
) -> None:
    """Any sequence of issue jobs, each replacing its issue's items (moments shared within
    and across issues), leaves the blocks ``listing.blocks`` cuts from all the items."""
    from broadsheet.pipeline import beats as kept

    page = listing.PAGE
    listing.PAGE = 3
    try:
        store = kept._Blocks(None, listing.Beat("tag", "en", "t"))  # type: ignore[arg-type]
        blocks: list[kept.Block] = []
        stored: set[str] = set()  # the blocks' documents written so far
        everything: dict[int, list[listing.Item]] = {}
        for number, drawn in jobs:
            items = [
                {
                    "sort": [f"2025-07-0{moment}", f"/en/issues/{number}/s{path}/", 0],
                    "issue": number,
                }
                for moment, path in dict.fromkeys(drawn)
            ]
            blocks, written = kept._replace(blocks, number, items, store)
            stored |= set(written)
            everything[number] = items
            whole = sorted((i for its in everything.values() for i in its), key=listing.sort_key)
            assert [store.items(b) for b in blocks] == listing.blocks(whole)
            # and the head never names a block whose document was not written
            assert {b.digest for b in blocks} <= stored
    finally:
        listing.PAGE = page


def test_a_site_yml_edit_renders_every_listing_again_and_cuts_no_block_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a published archive
    stack = Stack(tmp_path)
    stack.publish()
    site_yml = (stack.repo.content / "site.yml").read_text()
    blocks = {k: v.body for k, v in stack.world.bucket.objects.items() if k.startswith(BEATS)}
    assert blocks
    touched: list[str] = []
    for name in ("get", "put"):
        method = getattr(MemoryStore, name)

        def noted(self: MemoryStore, key: str, *a: object, _m: Any = method, **k: object) -> Any:
            if key.startswith(BEATS):
                touched.append(key)
            return _m(self, key, *a, **k)

        monkeypatch.setattr(MemoryStore, name, noted)
    # WHEN the paper's English name changes (every English listing page shows it)
    stack.repo.write("site.yml", site_yml.replace("The Workers' Broadsheet", "Workers' Paper"))
    commit = land(stack, "renamed")
    # THEN every English listing's pages are made again with it, and the blocks, whose
    # items did not change, are not cut again nor written
    listings = [k for k in stack.published() if re.match(r"en/(sections|tags|authors)/.", k)]
    assert listings
    assert all("Workers' Paper" in html.unescape(stack.page(k) or "") for k in listings)
    assert {"/" + k for k in listings} <= set(stack.written(commit))
    after = {k: v.body for k, v in stack.world.bucket.objects.items() if k.startswith(BEATS)}
    assert after == blocks
    # (each listing's newest block is read, for the name its pages show, and the blocks
    # its pages show; none is written)
    assert touched and not [k for k in touched if touched.count(k) > 1]
    assert len(touched) <= len(blocks)
