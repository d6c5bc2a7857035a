"""The reader's site built from the demo content: every page, byte for byte, and its rules."""

from __future__ import annotations

import hashlib
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from broadsheet.build.full import RECORD, build_site
from broadsheet.content import typeset
from broadsheet.edition import index, viewer
from tests.conftest import CONTENT, NOW, REPO

GOLDEN = REPO / "tests" / "golden" / "site"
SCHEMAS = REPO / "functions" / "broadsheet" / "edition" / "schemas"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    report = build_site(CONTENT, out, now=NOW, workers=1)
    assert report.findings == []
    return out


def files(root: Path, *, search: bool = True) -> dict[str, bytes]:
    """The site a folder holds (without the build's own record of it); without the
    search index, Pagefind's own files, which tests/unit/test_search.py checks."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != RECORD and (search or "/search/pagefind/" not in str(p))
    }


def test_the_build_matches_the_golden_files(site: Path) -> None:
    """UPDATE_GOLDEN=1 pytest tests/unit/test_site.py rewrites them after a deliberate change."""
    built = files(site, search=False)
    if os.environ.get("UPDATE_GOLDEN"):
        import shutil

        shutil.rmtree(GOLDEN, ignore_errors=True)
        shutil.copytree(site, GOLDEN, ignore=shutil.ignore_patterns("pagefind"))
    golden = files(GOLDEN)
    assert sorted(built) == sorted(golden)
    for name, data in built.items():
        assert data == golden[name], f"{name} differs from tests/golden/site/{name}"


def test_every_page_in_the_url_table_exists(site: Path) -> None:
    for path in [
        "index.html",
        "en/index.html",
        "es/index.html",
        "en/archive/index.html",
        "es/archive/index.html",
        "en/feed.xml",
        "es/feed.xml",
        "sitemap.xml",
        "sitemaps/412.xml",
        "robots.txt",
        "404.html",
        "api/v1/issues.json",
        "api/v1/issues/412.json",
        "en/issues/412/index.html",
        "es/issues/410/index.html",
        "en/issues/412/dockworkers-vote-to-strike/index.html",
    ]:
        assert (site / path).is_file(), path
    assert list(site.glob("assets/site.*.css"))


def test_drafts_and_embargoed_articles_are_not_published(site: Path) -> None:
    everything = b"".join(files(site).values())
    assert b"notes-on-the-general-strike" not in everything
    assert b"heat-and-the-warehouse-floor" not in everything


def test_an_embargoed_article_appears_once_its_time_has_come(tmp_path: Path) -> None:
    import datetime as dt

    build_site(CONTENT, tmp_path, now=dt.datetime(2030, 8, 1, 4, 0, tzinfo=dt.UTC), workers=1)
    assert (tmp_path / "en/issues/412/heat-and-the-warehouse-floor/index.html").is_file()
    assert not (tmp_path / "en/issues/412/notes-on-the-general-strike/index.html").exists()


@pytest.mark.parametrize("name", ["issue", "issues"])
def test_every_index_validates_against_its_published_schema(site: Path, name: str) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    documents = (
        sorted((site / "api/v1/issues").glob("*.json"))
        if name == "issue"
        else [site / "api/v1/issues.json"]
    )
    assert documents
    for path in documents:
        validator.validate(json.loads(path.read_bytes()))
    assert (site / "api/v1" / f"{name}.schema.json").read_bytes() == (
        SCHEMAS / f"{name}.schema.json"
    ).read_bytes()


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.h1 = 0
        self.lang: str | None = None
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang")
        if tag == "h1":
            self.h1 += 1
        if values.get("id"):
            self.ids.add(str(values["id"]))
        for attr in ("href", "src"):
            if values.get(attr):
                self.links.append(str(values[attr]))


def parse_html(data: bytes) -> Links:
    parser = Links()
    parser.feed(data.decode())
    return parser


def test_every_internal_link_and_asset_resolves(site: Path) -> None:
    base = "https://broadsheet.example.org"
    checked = 0
    for name, data in files(site).items():
        if not name.endswith(".html"):
            continue
        page = parse_html(data)
        for link in page.links:
            if link.startswith(base):
                link = link[len(base) :]
            if link.startswith("#"):
                assert link[1:] in page.ids, f"{name}: no #{link[1:]}"
                continue
            if not link.startswith("/"):
                assert re.match(r"(https?|mailto):", link), f"{name}: odd link {link}"
                continue
            route = viewer.route(link)
            assert route.redirect is None, f"{name}: {link} redirects"
            assert (site / str(route.key)).is_file(), f"{name}: {link} is broken"
            checked += 1
    assert checked > 300


def test_pages_are_accessible_and_light(site: Path) -> None:
    css = next(site.glob("assets/site.*.css")).read_bytes()
    for name, data in files(site).items():
        if not name.endswith(".html"):
            continue
        page = parse_html(data)
        assert page.h1 == 1, f"{name} has {page.h1} h1"
        assert page.lang in {"en", "es"}
        assert b'class="skip" href="#main"' in data and b'id="main"' in data
        scripts = data.replace(b'<script type="application/ld+json">', b"")
        if name.endswith("/search/index.html"):  # the search page's own, from the site
            scripts = scripts.replace(b'<script type="module" src="/assets/search.', b"")
        assert b"<script" not in scripts
        if "/issues/" in name and name.count("/") == 4:
            assert len(data) + len(css) < 30 * 1024, f"{name} weighs {len(data) + len(css)}"


def test_article_metadata(site: Path) -> None:
    data = (
        site / "es/issues/412/deportaciones-fascistas-provocan-resistencia/index.html"
    ).read_text()
    assert '<html lang="es">' in data
    assert "LOS ÁNGELES (EE. UU.), 25 de julio—" in data
    assert 'hreflang="en" href="https://broadsheet.example.org/en/issues/412/' in data
    assert '<meta property="og:type" content="article">' in data
    assert '<meta name="twitter:card" content="summary">' in data
    ld = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', data)[1])
    assert ld["@type"] == "NewsArticle" and ld["inLanguage"] == "es"
    assert ld["isPartOf"] == {
        "@type": "PublicationIssue",
        "issueNumber": "412",
        "datePublished": "2025-07-25",
        "url": "https://broadsheet.example.org/es/issues/412/",
        "isPartOf": {"@type": "Periodical", "name": "La Hoja Obrera"},
    }
    assert [a["name"] for a in ld["author"]] == ["Marta Quiroga", "Dan Whitfield"]
    assert ld["datePublished"] and ld["dateModified"]


def test_issue_front_page_puts_the_lead_first_then_sections(site: Path) -> None:
    data = (site / "en/issues/412/index.html").read_text()
    lead = data.index("Fascist deportations provoke resistance")
    labour = data.index("<h2>Labour</h2>")
    housing = data.index("<h2>Housing</h2>")
    assert lead < labour < data.index("Dockworkers vote") < housing < data.index("Rent strike")


def test_feeds_and_sitemaps_are_well_formed(site: Path) -> None:
    feed = ET.parse(site / "en/feed.xml").getroot()
    entries = feed.findall("{http://www.w3.org/2005/Atom}entry")
    assert [e.findtext("{http://www.w3.org/2005/Atom}published") for e in entries] == sorted(
        (e.findtext("{http://www.w3.org/2005/Atom}published") for e in entries), reverse=True
    )
    assert len(entries) == 7  # every public English article
    sitemap_index = ET.parse(site / "sitemap.xml").getroot()
    locs = [e.text for e in sitemap_index.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    assert "https://broadsheet.example.org/sitemaps/412.xml" in locs
    issue = ET.parse(site / "sitemaps/412.xml").getroot()
    links = issue.findall(".//{http://www.w3.org/1999/xhtml}link")
    assert any(link.get("hreflang") == "es" for link in links)


def test_a_rebuild_removes_pages_that_no_longer_exist(tmp_path: Path) -> None:
    content = tmp_path / "content"
    import shutil

    shutil.copytree(CONTENT, content)
    out = tmp_path / "out"
    build_site(content, out, now=NOW, workers=1)
    before = set(files(out))
    (content / "issues/412/dockworkers-vote-to-strike.md").unlink()
    report = build_site(content, out, now=NOW, workers=1)
    gone = before - set(files(out))
    assert report.removed == len(gone)
    # Its page, the nine variants of its photograph, which nothing else shows, and
    # the pages and feeds of the tags and the author only it had; and the files of the
    # English search index that held it.
    assert len([g for g in gone if "/search/pagefind/" not in g]) == 10 + 3 * 2
    assert any(g.startswith("en/search/pagefind/401-500/fragment/") for g in gone)
    for gone in ("en/tags/ports", "en/tags/automation", "en/authors/pieter-lanting"):
        assert not (out / gone).exists()
    assert not (out / "en/issues/412/dockworkers-vote-to-strike/index.html").exists()
    assert not list(out.glob("media/412/dockworkers-at-dawn.*"))


def test_a_template_only_rebuild_reuses_typeset_bodies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    first, second = tmp_path / "first", tmp_path / "second"
    build_site(CONTENT, first, now=NOW, cache_dir=cache, workers=1)

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached body was parsed again")

    monkeypatch.setattr("broadsheet.content.typeset.typeset", no_parsing)
    report = build_site(CONTENT, second, now=NOW, cache_dir=cache, workers=1)
    assert report.findings == [] and report.articles == 13
    assert files(first) == files(second)


def test_the_parallel_build_writes_the_same_bytes(
    tmp_path: Path, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo is too small for the pool to pay off, so lower the bar to use it anyway.
    monkeypatch.setattr("broadsheet.build.full.PARALLEL_FROM", 0)
    cache = tmp_path / "cache"
    report = build_site(CONTENT, tmp_path / "cold", now=NOW, workers=2, cache_dir=cache)
    assert report.findings == [] and report.articles == 13
    assert files(tmp_path / "cold") == files(site)
    build_site(CONTENT, tmp_path / "warm", now=NOW, workers=2, cache_dir=cache)
    assert files(tmp_path / "warm") == files(site)


def test_summaries_default_to_the_first_paragraph(site: Path) -> None:
    doc = index.loads((site / "api/v1/issues/412.json").read_bytes())
    dock = next(e for e in doc["articles"] if e["slug"] == "dockworkers-vote-to-strike")
    assert dock["summary"].startswith("Crane operators and lashers")
    assert len(typeset.shorten("word " * 100)) <= 300


@pytest.mark.parametrize("workers", [1, 2])
def test_a_build_reports_what_validate_reports_and_publishes_only_the_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Workers decide validity one issue at a time; the archive-wide view must agree."""
    import shutil

    from broadsheet.build.archive import load_archive

    monkeypatch.setattr("broadsheet.build.full.PARALLEL_FROM", 0)
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    issue_411 = content / "issues/411"
    # GIVEN a translation pointing at an article of another issue, a second English
    # translation of one original, and an article whose front matter is broken
    (issue_411 / "orphan-translation.md").write_text(
        "---\ntitle: Huérfana\nlanguage: es\ndate: 2025-07-11\ndateline: Leeds (England)\n"
        "translation_of: dockworkers-vote-to-strike\n---\n\nTexto.\n"
    )
    (issue_411 / "second-teachers-translation.md").write_text(
        "---\ntitle: Another\nlanguage: en\ndate: 2025-07-11\ndateline: Leeds (England)\n"
        "translation_of: docentes-ganan-cursos-mas-chicos\n---\n\nText.\n"
    )
    (issue_411 / "broken.md").write_text("---\ntitle: [unclosed\n---\n\nText.\n")
    # WHEN the site is built
    report = build_site(content, tmp_path / "out", now=NOW, workers=workers)
    # THEN it finds exactly what validate finds, in the same order and words
    assert report.findings == load_archive(content).findings
    messages = "\n".join(f.message for f in report.findings)
    assert "is in issue 412, not 411" in messages
    assert "already has a translation into 'en'" in messages
    assert len({f.path for f in report.findings}) == 4  # the rival translation too
    # AND none of the invalid articles is published, while the rest of 411 is
    built = files(tmp_path / "out")
    for slug in ("orphan-translation", "second-teachers-translation", "broken"):
        assert not any(slug in name for name in built), slug
    assert "en/issues/411/teachers-win-smaller-classes/index.html" not in built
    assert "es/issues/411/docentes-ganan-cursos-mas-chicos/index.html" in built
    assert "en/issues/411/a-library-run-by-its-readers/index.html" in built


def test_a_rebuild_over_an_old_site_writes_exactly_a_fresh_builds_bytes(tmp_path: Path) -> None:
    """Pages are overwritten in place: one that gets shorter must not keep its old tail."""
    import shutil

    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    out = tmp_path / "out"
    build_site(content, out, now=NOW, workers=1)
    # GIVEN an article cut to one line and another deleted, and a file of someone else's
    source = content / "issues/412/dockworkers-vote-to-strike.md"
    head, _, _ = source.read_text().partition("\n---\n")
    source.write_text(head + "\n---\n\nShort now.\n")
    (content / "issues/411/teachers-win-smaller-classes.md").unlink()
    (out / "en/issues/412/notes.txt").write_text("mine")
    searched = {f for f in files(out) if "/search/pagefind/" in f}
    # WHEN the site is rebuilt over the old output
    report = build_site(content, out, now=NOW, workers=1)
    removed_search = len(searched - set(files(out)))
    # THEN it holds what a build into an empty folder holds, byte for byte, and the file
    # the build did not write is still there
    build_site(content, tmp_path / "fresh", now=NOW, workers=1)
    assert (out / "en/issues/412/notes.txt").read_text() == "mine"
    (out / "en/issues/412/notes.txt").unlink()
    assert files(out) == files(tmp_path / "fresh")
    # the deleted article's page, and the page and feed of the tag and the author only it
    # had; and the search index's files that changed (named by their bytes)
    assert report.removed - removed_search == 1 + 2 * 2
    assert not (out / "en/issues/411/teachers-win-smaller-classes").exists()
    page = (out / "en/issues/412/dockworkers-vote-to-strike/index.html").read_text()
    assert page.rstrip().endswith("</html>") and "Short now." in page


def test_the_article_cache_survives_a_damaged_shelf_and_forgets_deleted_articles(
    tmp_path: Path,
) -> None:
    import shutil

    content, cache = tmp_path / "content", tmp_path / "cache"
    shutil.copytree(CONTENT, content)
    build_site(content, tmp_path / "first", now=NOW, cache_dir=cache, workers=1)
    shelves = {p.name: p for p in cache.glob("articles-*/issue-*.json")}
    assert sorted(shelves) == ["issue-410.json", "issue-411.json", "issue-412.json"]
    # GIVEN one shelf damaged and one article deleted
    shelves["issue-411.json"].write_text("[not, a shelf")
    deleted = content / "issues/412/dockworkers-vote-to-strike.md"
    deleted_hash = hashlib.sha256(deleted.read_bytes()).hexdigest()
    assert deleted_hash in json.loads(shelves["issue-412.json"].read_text())
    deleted.unlink()
    # WHEN the site is built again
    report = build_site(content, tmp_path / "second", now=NOW, cache_dir=cache, workers=1)
    # THEN the damaged shelf is rebuilt, and the deleted article's entry is gone
    assert report.findings == []

    def articles(shelf: dict[str, object]) -> list[str]:  # beside them: photographs, words
        return [key for key in shelf if not key.startswith(("photo:", "text:"))]

    rebuilt = json.loads(shelves["issue-411.json"].read_text())
    assert len(articles(rebuilt)) == len(list((content / "issues/411").glob("*.md")))
    kept = json.loads(shelves["issue-412.json"].read_text())
    assert deleted_hash not in kept
    assert f"text:{deleted_hash}" not in kept
    assert len(articles(kept)) == len(list((content / "issues/412").glob("*.md")))
    assert (
        files(tmp_path / "second")["en/issues/411/index.html"]
        == files(tmp_path / "first")["en/issues/411/index.html"]
    )


def test_a_build_never_touches_a_folder_it_did_not_make(tmp_path: Path) -> None:
    import shutil

    from broadsheet.cli import main

    # GIVEN a clone: the content, a .git folder, a README
    clone = tmp_path / "clone"
    shutil.copytree(CONTENT, clone / "content")
    (clone / ".git").mkdir()
    (clone / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (clone / "README.md").write_text("mine")
    before = sorted(p.relative_to(clone) for p in clone.rglob("*"))
    # WHEN someone builds into it
    code = main(["build", "--content", str(clone / "content"), "--out", str(clone), "--quiet"])
    # THEN the build refuses in one line and nothing is touched
    assert code == 2
    assert sorted(p.relative_to(clone) for p in clone.rglob("*")) == before


def test_a_tampered_record_removes_nothing_outside_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_site(CONTENT, out, now=NOW, workers=1)
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    record = out / RECORD
    record.write_text(record.read_text() + "../precious.txt\n/etc/hostname\n")
    build_site(CONTENT, out, now=NOW, workers=1)
    assert victim.read_text() == "keep me"
