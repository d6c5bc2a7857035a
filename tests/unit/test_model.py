"""The content model: reading front matter, typed fields, embargo, archive-wide checks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadsheet.build.archive import load_archive
from broadsheet.cli import main
from broadsheet.content.article import Article, parse_article
from broadsheet.content.findings import FindingSink
from broadsheet.content.reader import YMap, read_front_matter
from broadsheet.content.site import parse_site
from broadsheet.content.validation import Entry, check_archive
from tests.conftest import CONTENT, CORPUS, NOW

SITE = parse_site((CORPUS / "site.yml").read_bytes(), FindingSink("site.yml"))
GOOD = (
    b"---\ntitle: A headline\nlanguage: en\ndate: 2025-07-25\ndateline: Lyon (France)\n"
    b"---\n\nBody.\n"
)


def parse(data: bytes, slug: str = "a-story") -> tuple[Article | None, list[str]]:
    sink = FindingSink("a.md")
    assert SITE is not None
    article = parse_article("a.md", data, 900, slug, SITE, sink)
    return article, [str(f) for f in sink.findings]


def test_front_matter_values_keep_their_file_lines() -> None:
    sink = FindingSink("a.md")
    front = read_front_matter(GOOD.decode(), sink)
    assert front is not None and not sink
    assert isinstance(front.fields, YMap)
    assert front.fields.entries["date"][0].line + front.yaml_line - 1 == 4
    assert front.body_line == 7


@pytest.mark.parametrize(
    ("front", "where", "says"),
    [
        # A tab indenting a line, and a tab where a list item should start
        ("title: A\n\tlanguage: en\n", "a.md:3:1", "a tab character: YAML indents with spaces"),
        ("title: A\ntags:\n\t- strike\n", "a.md:4:1", "a tab character"),
        # A quote never closed: shown where it opens, not at the end of the text
        ('title: "A headline\nlanguage: en\ndate: 2025-07-25\n', "a.md:2:8", "never closed"),
        ("dateline: 'Lyon\ntitle: A\n", "a.md:2:11", "opened here with ' is never closed"),
    ],
)
def test_a_yaml_mistake_is_named_as_an_editor_would_and_where_it_is(
    front: str, where: str, says: str
) -> None:
    _article, findings = parse(f"---\n{front}---\n\nBody.\n".encode())
    assert len(findings) == 1 and findings[0].startswith(where + ": YAML syntax error: ")
    assert says in findings[0]


def test_a_good_article_parses_into_the_model() -> None:
    article, findings = parse(GOOD)
    assert findings == []
    assert article is not None
    assert (article.title, article.language, article.date) == (
        "A headline",
        "en",
        dt.date(2025, 7, 25),
    )
    assert article.lines["dateline"] == 5
    assert article.status == "published" and article.authors == ()


def test_crlf_and_bom_are_normalised() -> None:
    article, findings = parse(b"\xef\xbb\xbf" + GOOD.replace(b"\n", b"\r\n"))
    assert findings == [] and article is not None
    assert "\r" not in article.body


@pytest.mark.parametrize(
    ("status", "publish_at", "public"),
    [
        ("published", None, True),
        ("draft", None, False),
        ("published", "2026-01-01T00:00:01+00:00", False),
        ("published", "2026-01-01T01:00:00+02:00", True),  # 23:00 UTC the day before
    ],
)
def test_drafts_and_embargoes_are_not_public(
    status: str, publish_at: str | None, public: bool
) -> None:
    extra = f"status: {status}\n" + (f"publish_at: {publish_at}\n" if publish_at else "")
    article, findings = parse(GOOD.replace(b"---\n\n", extra.encode() + b"---\n\n"))
    assert findings == [] and article is not None
    assert article.is_public(NOW) is public


def entry(
    slug: str, language: str = "en", translation_of: str | None = None, issue: int = 900
) -> Entry:
    return Entry(issue, slug, language, translation_of, f"issues/{issue}/{slug}.md")


def test_a_slug_clash_with_the_published_archive_is_reported() -> None:
    # The pipeline's view: the archive entry comes from an index, with another source path.
    article, _ = parse(GOOD, slug="original-story")
    assert article is not None
    published = Entry(900, "original-story", "es", None, "issues/900/Original-Story.md")
    findings = check_archive([article], [published])
    assert [f.message for f in findings] == [
        "slug 'original-story' is already used in issue 900 by issues/900/Original-Story.md: "
        "rename one of them"
    ]


def test_an_edit_replaces_its_own_archive_entry() -> None:
    article, _ = parse(GOOD, slug="original-story")
    assert article is not None
    findings = check_archive([article], [Entry(900, "original-story", "en", None, "a.md")])
    assert findings == []


def test_translation_checks_use_only_archive_facts() -> None:
    article, _ = parse(GOOD.replace(b"language: en", b"language: es\ntranslation_of: origin"))
    assert article is not None
    assert check_archive([article], [entry("origin")]) == []
    chain = check_archive([article], [entry("origin", "fr", translation_of="root")])
    assert "is itself a translation of 'root'" in chain[0].message
    assert chain[0].line == 4


def test_new_article_writes_a_skeleton_that_validates(tmp_path: Path, capsys) -> None:
    (tmp_path / "site.yml").write_bytes((CONTENT / "site.yml").read_bytes())
    (tmp_path / "issues" / "5").mkdir(parents=True)
    (tmp_path / "issues" / "5" / "issue.yml").write_text("number: 5\ndate: 2025-01-01\n")
    assert (
        main(
            [
                "new-article",
                "--content",
                str(tmp_path),
                "--issue",
                "5",
                "--slug",
                "new-story",
                "--language",
                "es",
            ]
        )
        == 0
    )
    assert (tmp_path / "issues" / "5" / "new-story.md").is_file()
    assert main(["validate", "--content", str(tmp_path)]) == 0
    assert (
        main(["new-article", "--content", str(tmp_path), "--issue", "5", "--slug", "Bad Slug"]) == 2
    )


def test_the_demo_archive_has_what_the_brief_asks_for() -> None:
    archive = load_archive(CONTENT)
    assert archive.findings == []
    articles = archive.articles
    assert len(archive.issues) >= 3 and len(articles) >= 12
    assert {a.language for a in articles} == {"en", "es"}
    assert sum(1 for a in articles if a.translation_of) >= 3
    assert any(a.status == "draft" for a in articles)
    assert any(a.publish_at and not a.is_public(NOW) for a in articles)
    bodies = "\n".join(a.body for a in articles)
    for mark in ("\n> ", "*", "](http", "\n- ", "\n1. ", "|---|"):
        assert mark in bodies


# --- random input never raises -------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(data: bytes) -> None:
    article, findings = parse(data)
    assert article is not None or findings


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_inside_front_matter_never_raise(data: bytes) -> None:
    article, findings = parse(b"---\n" + data + b"\n---\n\nBody.\n")
    assert article is not None or findings


yaml_scalars = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.sampled_from(["2025-13-40", "2025-07-25", "~", "&a x", "*a", "!!binary x", "- -", "{", "]"]),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def to_yaml(value: object, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(value, dict):
        return (
            "".join(f"{pad}{k!s}:\n{to_yaml(v, indent + 2)}" for k, v in value.items())
            or f"{pad}{{}}\n"
        )
    if isinstance(value, list):
        return "".join(f"{pad}-\n{to_yaml(v, indent + 2)}" for v in value) or f"{pad}[]\n"
    return f"{pad}{value}\n"


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "title",
                "language",
                "date",
                "dateline",
                "tags",
                "authors",
                "summary",
                "publish_at",
                "status",
                "translation_of",
                "section",
                "x",
            ]
        ),
        yaml_values,
        max_size=8,
    )
)
def test_random_yaml_front_matter_never_raises(front: dict[str, object]) -> None:
    text = "---\n" + to_yaml(front) + "---\n\nBody [x](javascript:y) <b>\n"
    article, findings = parse(text.encode("utf-8", "surrogatepass"))
    assert article is not None or findings


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("issues/412/strike.md", None),
        ("issues/412/.strike.md", None),  # an editor's hidden file
        ("issues/412/media/dockers.jpg", None),
        ("issues/412/notes.txt", None),
        ("issues/412/Strike.MD", ("issues/412/Strike.MD", "name it strike.md")),
        ("issues/412/strike.markdown", ("issues/412/strike.markdown", "name it strike.md")),
        ("issues/412/strike.md ", ("issues/412/strike.md ", "name it strike.md")),
        ("issues/412/drafts/strike.md", ("issues/412/drafts/strike.md", "not in a subfolder")),
        ("issues/412/media/notes.md", ("issues/412/media/notes.md", "not in a subfolder")),
        ("issues/strike.md", ("issues/strike.md", "move it to issues/<number>/")),
        ("issues/0412/strike.md", ("issues/0412", "is not an issue number")),
    ],
)
def test_a_file_in_the_wrong_place_is_named_with_what_to_do(
    path: str, found: tuple[str, str] | None
) -> None:
    from broadsheet.content.issue import misplaced

    result = misplaced(path)
    if found is None:
        assert result is None
    else:
        assert result is not None and result[0] == found[0] and found[1] in result[1]


def english_only(content: Path) -> None:
    """The demo's site.yml with Spanish removed, and its es: lines."""
    import re

    site = (content / "site.yml").read_text()
    site = site.replace("languages: [en, es]", "languages: [en]")
    site = "\n".join(line for line in site.split("\n") if not re.match(r"\s*es:", line))
    (content / "site.yml").write_text(site)


def test_a_title_in_a_language_removed_from_site_yml_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from broadsheet.content.findings import format_github
    from broadsheet.content.issue import parse_issue

    # GIVEN the demo with Spanish removed from site.yml (and its es: lines)
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    english_only(content)
    site = parse_site((content / "site.yml").read_bytes(), FindingSink("site.yml"))
    assert site is not None
    # WHEN issue 412's issue.yml, which still has a Spanish title, is read
    sink = FindingSink("issues/412/issue.yml")
    issue = parse_issue((content / "issues/412/issue.yml").read_bytes(), sink, 412, site)
    # THEN the issue still counts, with its English title alone, and the Spanish one is
    # a warning on its line: said, refusing nothing
    assert issue is not None and issue.titles == {"en": "Resistance spreads"}
    [warning] = sink.findings
    assert not sink and warning.severity == "warning"
    assert str(warning).startswith("issues/412/issue.yml:5:3: warning: title.es: 'es' is not")
    assert format_github([warning]).startswith("::warning file=issues/412/issue.yml,line=5,")
    # AND the build publishes every issue in English, each English translation of a
    # Spanish original on its own (a warning), and no Spanish page
    archive = load_archive(content, workers=1)
    assert sorted(archive.issues) == [410, 411, 412]
    english = {a.slug for a in archive.articles}
    assert {"bus-drivers-reclaim-the-timetable", "rent-strike-enters-third-month"} <= english
    assert all(a.language == "en" for a in archive.articles)
    warned = {
        (f.path.rsplit("/", 1)[1], f.field) for f in archive.findings if f.severity == "warning"
    }
    assert ("rent-strike-enters-third-month.md", "translation_of") in warned
    # AND validate says so, counting the warnings apart from the problems
    assert main(["validate", "--content", str(content)]) == 1  # the Spanish articles
    err = capsys.readouterr().err
    assert "problem(s), 5 warning(s)" in err
