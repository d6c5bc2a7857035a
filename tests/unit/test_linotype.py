"""The fast typesetter (markdown-it.rs) against the reference (markdown-it-py): for any
body, in any language, ``typeset`` gives the same HTML, excerpt, photographs and findings
with it as without it. The fast one declines what it cannot be sure of; these tests are
what makes "sure" true: the demo, the bad-input corpus, and fuzzed bodies built from
everything an article may hold (and what it may not).

In make test the fuzzing is derandomized (the same bodies every run, so CI never fails
by chance); to look further, run it at random for longer:

    FUZZ_EXAMPLES=50000 FUZZ_RANDOM=1 .venv/bin/pytest tests/unit/test_linotype.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broadsheet.content import linotype
from broadsheet.content.findings import FindingSink
from broadsheet.content.typeset import Typeset, typeset
from tests.conftest import CONTENT, CORPUS
from tests.unit.test_hostile import MARKDOWN

LANGUAGES = ["en", "es", "fr"]  # fr: a language with no quotes of its own (English ones)


def both(body: str, language: str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    def run() -> tuple[Typeset | None, list[object]]:
        sink = FindingSink("f.md")
        return typeset(body, 7, language, sink), sink.findings

    monkeypatch.setenv(linotype.CHOICE, linotype.REFERENCE)
    reference = run()
    monkeypatch.delenv(linotype.CHOICE)
    return run(), reference


def bodies(folder: Path) -> list[str]:
    found = []
    for source in sorted(folder.rglob("*.md")):
        text = source.read_text(errors="replace")
        if text.count("---\n") >= 2:
            found.append(text.split("---\n", 2)[2])
    return found


def test_the_demo_and_the_corpus_typeset_the_same_with_either_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accepted = 0
    for body in [*bodies(CONTENT), *bodies(CORPUS)]:
        for language in LANGUAGES:
            fast, reference = both(body, language, monkeypatch)
            assert fast == reference, body[:200]
            accepted += linotype.linotype(body, language) is not None
    assert accepted >= 100  # most of them on the fast path: this is not a test of nothing


# Pieces of articles: words in both languages, every kind of quote and apostrophe, the
# typographer's replacements, entities, emphasis, links (and links that must be refused),
# code, tables, lists, quotes, headings, line breaks, and what the fast one declines.
WORD = st.sampled_from(
    [
        "huelga",
        "workers",
        "año",
        "it's",
        "l'union",
        "workers'",
        "'90s",
        "rock'n'roll",
        '1"',
        "d'Hondt",
        "Ñandú",
        "niño",
        "x",
        "42",
    ]
)
PUNCT = st.sampled_from(
    [
        " ",
        " ",
        ", ",
        ". ",
        "'",
        '"',
        " '",
        "' ",
        ' "',
        '" ',
        "(",
        ")",
        "...",
        " -- ",
        "---",
        "(c)",
        "+-",
        "?!",
        "&amp;",
        "&copy;",
        "&#58;",
        "&nbsp;",
        "&ldquo;",
        "&#8217;",
        "&quot;",
        "&#39;",
        '\\"',
        "\\'",
        "\\*",
        "*",
        "**",
        "_",
        "~~",
        "`",
        "  \n",
        "\\\n",
        "\n",
        "—",
        "«",
        "“",
        "’",
        "|",
        ":",
        "<",
        ">",
    ]
)
INLINE = st.lists(st.one_of(WORD, PUNCT, WORD), min_size=1, max_size=14).map("".join)
LINK = st.builds(
    lambda text, url, title: f"[{text}]({url}{title})",
    INLINE,
    st.sampled_from(
        [
            "https://example.org/a",
            "http://x.org/q?a=1&b=2",
            "mailto:a@example.org",
            "/es/issues/1/",
            "#notes",
            "javascript:alert(1)",
            "JaVaScRiPt&#58;alert(1)",
            "java%0ascript:x",
            "data:text/html,x",
            "ftp://x.org",
            "https://ñandú.example/año",
            "<https://x.org/a b>",
        ]
    ),
    st.sampled_from(["", ' "a title"', " 'single'", ' "it\'s"']),
)
SPAN = st.one_of(
    INLINE, LINK, st.builds(lambda t: f"*{t}*", INLINE), st.builds(lambda t: f"**{t}**", INLINE)
)
LINE = st.lists(SPAN, min_size=1, max_size=5).map(" ".join)
BLOCK = st.one_of(
    LINE,
    LINE,
    st.builds(lambda n, t: "#" * n + " " + t, st.integers(1, 6), LINE),
    st.builds(lambda a, b: f"{a}\n{b}", LINE, LINE),
    st.builds(
        lambda items: "\n".join(f"- {i}" for i in items), st.lists(LINE, min_size=1, max_size=3)
    ),
    st.builds(
        lambda items: "\n\n".join(f"1. {i}" for i in items), st.lists(LINE, min_size=1, max_size=3)
    ),
    st.builds(lambda t: "> " + t, LINE),
    st.builds(lambda t: f"```\n{t}\n```", LINE),
    st.builds(lambda t: "    " + t, LINE),
    st.builds(
        lambda a, b, c, align: f"| {a} | {b} |\n|{align}|---|\n| {c} | x |",
        INLINE,
        INLINE,
        INLINE,
        st.sampled_from([":--", "--:", ":-:", "---"]),
    ),
    st.builds(
        lambda label, url: f"[{label}]: {url}\n\nSee [{label}].",
        WORD,
        st.sampled_from(["https://x.org", "javascript:x", "data:x"]),
    ),
    st.just('![A gate at dawn](media/gate.jpg "The gate")'),
    st.just("Said[^1].\n\n[^1]: A note."),
    st.just("<b>bold</b>"),
    st.just("---"),
)
BODY = st.lists(BLOCK, min_size=1, max_size=8).map("\n\n".join)
# The same without what the fast engine declines outright, so most of these take it.
PLAIN = BODY.map(lambda body: re.sub("[<`“’«]", "", body.replace("![", "[").replace("[^", "[")))


FUZZING = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "500")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    database=None,
)


@FUZZING
@given(body=st.one_of(BODY, PLAIN), language=st.sampled_from(LANGUAGES))
def test_any_article_typesets_the_same_with_either_engine(body: str, language: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, reference = both(body, language, monkeypatch)
    assert fast == reference


@FUZZING
@given(body=MARKDOWN, language=st.sampled_from(LANGUAGES))
def test_any_characters_typeset_the_same_with_either_engine(body: str, language: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, reference = both(body, language, monkeypatch)
    assert fast == reference


@pytest.mark.parametrize(
    ("body", "language"),
    [
        # markdown-it.rs sets quotes inside code; the reference does not
        ("Said `it's 'here'` today", "en"),
        # markdown-it.rs left this opening quote straight (because of the next block)
        ("## from 'we go'\n\n## a *and* b", "en"),
        # footnotes: markdown-it.rs lays out the note's item differently
        ("Said[^1].\n\n[^1]: A note.", "en"),
        # a link markdown-it.rs would not make, which the reference refuses
        ("[x](javascript&#58;alert(1))", "en"),
        # markdown-it.rs panics on this (index out of bounds): never the article's fault
        ("huelga [`](https://example.org/a)", "en"),
        ("Say `it's 'here'` today", "en"),
        # an address with an accent: the reference writes its host in punycode
        ("[huelga](https://ñandú.example/año)", "en"),
        # an empty list item can't interrupt a paragraph; markdown-it.rs lets it
        ("huelga\n\n> *\\\n*", "en"),
        # a row begun with '>' under a table's first line: markdown-it.rs reads a table
        ("| huelga |   \n>| |\n|:--|---|\n| huelga | x |", "en"),
        # an inline footnote, which only the reference's footnote plugin reads
        ("^[]", "en"),
        # a table with no pipe at all, which only markdown-it.rs makes
        ("1\n:-", "en"),
        # quotes written as entities: the reference leaves them as they are
        ("Dijo &ldquo;ya&rdquo; hoy", "es"),
        ("Dijo &#8220;ya&#8221; hoy", "es"),
        # Spanish typographic quotes written by the editor
        ("Dijo «basta» y ‘ya’", "es"),
    ],
)
def test_what_the_fast_engine_cannot_be_sure_of_it_leaves_to_the_reference(
    body: str, language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert linotype.linotype(body, language) is None
    fast, reference = both(body, language, monkeypatch)
    assert fast == reference


def test_spanish_quotes_pair_as_the_reference_pairs_them(monkeypatch: pytest.MonkeyPatch) -> None:
    body = "Dijo \"basta\" y 'ya' — it's the workers' 'union' of l'année"
    accepted = linotype.linotype(body, "es")
    assert accepted is not None
    assert "«basta»" in accepted[0] and "“ya”" in accepted[0] and "it’s" in accepted[0]
    fast, reference = both(body, "es", monkeypatch)
    assert fast == reference


def test_a_panic_in_the_fast_engine_leaves_the_body_to_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a body markdown-it.rs panics on, past the checks that keep such bodies away
    monkeypatch.setattr(linotype, "_plain", lambda body, language: True)
    # THEN the fast engine declines it, and nothing escapes to the build
    assert linotype.linotype("[`](https://example.org/a)", "en") is None
