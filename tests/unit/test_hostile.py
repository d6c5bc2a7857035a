"""What a careless operator or a hostile contributor tries: control characters, limits,
unknown languages, symbolic links, deep headings. Each case here once got through."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import html5lib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broadsheet.build.archive import load_archive
from broadsheet.build.full import build_site
from broadsheet.content.article import parse_article
from broadsheet.content.findings import FindingSink
from broadsheet.content.issue import Issue
from broadsheet.content.reader import CONTROL
from broadsheet.content.site import Section, Site, parse_site
from broadsheet.content.typeset import MAX_BODY, typeset
from broadsheet.edition import feed, index, pages, sitemap
from tests.conftest import CONTENT, NOW

SITE = Site(
    {"en": "Paper", "es": "Papel"},
    "https://example.org",
    ("en", "es"),
    (Section("news", {"en": "News", "es": "Noticias"}),),
)
STRICT = html5lib.HTMLParser(strict=True)


def copy_content(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    return content


def findings(content: Path) -> list[str]:
    return [str(f) for f in load_archive(content, workers=1).findings]


def test_a_language_babel_does_not_know_is_refused(tmp_path: Path) -> None:
    sink = FindingSink("site.yml")
    data = (
        (CONTENT / "site.yml")
        .read_bytes()
        .replace(b"languages: [en, es]", b"languages: [en, es, zz]")
    )
    assert parse_site(data, sink) is None
    [finding] = sink.findings
    assert (finding.field, finding.line) == ("languages", 10)
    assert "'zz' is not a language Babel knows" in finding.message


@pytest.mark.parametrize(
    "where", ["issues/412/rent-strike-enters-third-month.md", "issues/412/issue.yml", "site.yml"]
)
def test_a_symbolic_link_is_refused_and_never_followed(tmp_path: Path, where: str) -> None:
    content = copy_content(tmp_path)
    secret = tmp_path / "secret.md"
    secret.write_bytes((content / where).read_bytes().replace(b"Rent", b"SECRET"))
    (content / where).unlink()
    os.symlink(secret, content / where)
    found = findings(content)
    assert any(
        f.endswith(f"{where}:1:1: is a symbolic link: commit the file itself") for f in found
    )
    out = tmp_path / "out"
    build_site(content, out, now=NOW, workers=1)
    assert all(b"SECRET" not in p.read_bytes() for p in out.rglob("*") if p.is_file())


def test_a_body_beyond_the_limit_is_refused_before_it_is_parsed() -> None:
    sink = FindingSink("big.md")
    assert typeset('"a" ' * (MAX_BODY // 4 + 1), 8, "en", sink) is None
    [finding] = sink.findings
    assert finding.line == 8 and "at most 100,000" in finding.message


def test_body_headings_never_skip_a_level() -> None:
    body = "### Starts deep\n\nText.\n\n##### Deeper still\n\nText.\n\n# Top again\n"
    html = typeset(body, 1, "en", FindingSink("x.md")).html  # type: ignore[union-attr]
    assert [line[:4] for line in html.splitlines() if line.startswith("<h")] == [
        "<h2>",
        "<h3>",
        "<h2>",
    ]


def test_a_control_character_that_slips_through_never_reaches_a_feed() -> None:
    article = parse_article(
        "a.md",
        b"---\ntitle: Fine\nlanguage: en\ndate: 2025-07-25\ndateline: X\n---\n\nBody.\n",
        1,
        "a",
        SITE,
        FindingSink("a.md"),
        render=True,
    )
    assert article is not None
    entry = {**index.entry(SITE, article), "title": "bad \x01 \x0b title\ufffe"}
    ET.fromstring(feed.render_feed(SITE, "en", [entry]))  # type: ignore[list-item]
    doc = index.issue_doc(SITE, Issue(1, dt.date(2025, 7, 25), {}), [entry])  # type: ignore[list-item]
    doc["urls"]["en"] += "\x02"
    ET.fromstring(sitemap.render_issue_sitemap(SITE, doc))


# --- the renderer fuzzed with what passes validation -------------------------------------

MARKDOWN = st.text(
    alphabet=st.sampled_from(
        [*"abc xyz\n\n#*_`>-+|[]()!\"'&<>.:/\\~^=1", "é", "«", "“", "\u2028", "\t", "日"]
    ),
    max_size=400,
)
WORDS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    min_size=1,
    max_size=60,
).filter(lambda s: s.strip() and not CONTROL.search(s))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=MARKDOWN, title=WORDS, dateline=WORDS, summary=WORDS, tag=WORDS)
def test_whatever_passes_validation_renders_into_pages_parsers_accept(
    body: str, title: str, dateline: str, summary: str, tag: str
) -> None:
    front = {
        "title": title,
        "language": "es",
        "date": "2025-07-25",
        "dateline": dateline,
        "summary": summary[:300],
        "tags": [tag[:50]],
        "section": "news",
    }
    source = "---\n" + "".join(f"{k}: {json.dumps(v)}\n" for k, v in front.items()) + "---\n\n"
    sink = FindingSink("f.md")
    article = parse_article("f.md", (source + body).encode(), 1, "f", SITE, sink, render=True)
    if article is None:
        assert sink.findings  # refused, and said why
        return
    doc = index.issue_doc(
        SITE, Issue(1, dt.date(2025, 7, 25), {"es": title}), [index.entry(SITE, article)]
    )
    issues = index.issues_doc(SITE, [index.issue_summary(doc, SITE)])
    for page in (
        pages.render_article(SITE, doc, "f", article.body_html),
        pages.render_issue(SITE, doc, "es"),
        pages.render_archive(SITE, issues, "es"),
    ):
        STRICT.parse(page)
    ET.fromstring(feed.render_feed(SITE, "es", doc["articles"]))
    ET.fromstring(sitemap.render_issue_sitemap(SITE, doc))
    ET.fromstring(sitemap.render_sitemap_index(SITE, issues))
    json.loads(index.dumps(doc))


def test_the_bad_input_corpus_through_the_pipeline_is_refused_as_validate_refuses_it(
    tmp_path: Path, in_repo: Path
) -> None:
    from broadsheet.pipeline.messages import report_key
    from broadsheet.pipeline.publisher import Git, publish
    from broadsheet.pipeline.world import World
    from tests.conftest import CORPUS
    from tests.support.gitrepo import Repo

    repo = Repo(tmp_path / "repo", source=CORPUS)
    world = World(clock=lambda: NOW)
    [commit] = publish(Git.of(repo.content), world.sources, say=lambda _: None)
    world.drain()
    assert all(not q.dead for q in world.queues.values()) and not world.failures
    reported: dict[str, set[tuple[int, str | None]]] = {}
    commit_report = json.loads(world.sources.get(report_key(commit)).body)  # type: ignore[union-attr]
    parts = [commit_report] + [
        json.loads(world.sources.get(report_key(commit, n)).body)  # type: ignore[union-attr]
        for n in commit_report["issues"]
    ]
    for part in parts:
        for finding in part["findings"]:
            reported.setdefault(finding["path"], set()).add((finding["line"], finding["field"]))
    expected: dict[str, set[tuple[int, str | None]]] = {}
    for line in (CORPUS / "expected.txt").read_text().splitlines():
        path, number, _column, rest = line.split(":", 3)
        field = (
            rest.split(":", 1)[0].strip() if rest.count(":") and not rest.startswith(" ") else None
        )
        expected.setdefault(path.removeprefix("tests/corpus/"), set()).add((int(number), field))
    # Every file validate refuses, the pipeline refuses too, on the same lines.
    assert {p for p in expected if p.endswith(".md")} == {p for p in reported if p.endswith(".md")}
    for path, found in reported.items():
        if path.endswith(".md"):
            assert {line for line, _ in found} == {line for line, _ in expected[path]}, path
    # And it publishes exactly what the full build publishes: the clean files alone.
    out = tmp_path / "built"
    build_site(repo.content, out, now=NOW, workers=1)
    built = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name[0] != "."}
    assert set(world.site.objects) == built


def test_a_paragraph_of_quotes_is_refused_before_the_typesetter_spends_its_time() -> None:
    # Smart quotes cost the square of a paragraph's length: 90 KB in one paragraph took
    # seconds; it is refused by the linear checker first, in the build as in validate.
    body = ("\"'x" * 30_000)[:90_000]
    sink = FindingSink("quotes.md")
    assert typeset(body, 8, "en", sink, render=True) is None
    [finding] = sink.findings
    assert "a paragraph of 90,000 characters; at most 4,000" in finding.message


def test_an_issue_document_names_no_slug_that_is_not_public() -> None:
    # GIVEN an issue whose order names a draft, and a published translation whose
    # original is still under embargo
    translation = parse_article(
        "t.md",
        b"---\ntitle: Traducida\nlanguage: es\ndate: 2025-07-25\ndateline: X\n"
        b"translation_of: secret-original\n---\n\nCuerpo.\n",
        1,
        "traducida",
        SITE,
        FindingSink("t.md"),
        render=True,
    )
    assert translation is not None
    issue = Issue(1, dt.date(2025, 7, 25), {}, ("secret-draft", "traducida"))
    # WHEN the public document is made from the public entries only
    doc = index.issue_doc(SITE, issue, [index.entry(SITE, translation)])
    text = index.dumps(doc)
    # THEN neither hidden slug appears, and the translation stands on its own
    assert b"secret-draft" not in text and b"secret-original" not in text
    assert doc["order"] == ["traducida"]
    assert doc["articles"][0]["translation_of"] is None
