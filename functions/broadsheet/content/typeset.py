"""Typesetting the body: Markdown to safe HTML, and the checks an editor gets first.

One parse serves both: the checks walk its tokens, and only a clean body is rendered.
The renderer escapes raw HTML and neutralises unsafe links all the same, so a source
that somehow skipped the checks still renders safely.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

from broadsheet.content.findings import FindingSink
from broadsheet.content.photo import PhotoRef, alt_problem, src_problem

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")
# Typographic quotes per language: primary pair, then secondary pair.
QUOTES = {"en": "“”‘’", "es": "«»“”"}
SUMMARY_LENGTH = 300
# Limits no real article reaches, so that whatever passes renders in bounded time and
# memory (make bench prints the worst case they allow). Typographic quotes cost time that
# grows with the square of a paragraph's length, and a table's cells cost memory.
MAX_BODY = 100_000  # characters: about 15,000 words, twice the longest feature
MAX_BLOCK = 4_000  # characters in one paragraph, heading or table cell: about 700 words
MAX_CELLS = 2_000  # table cells in one article
# Bodies shorter than this are parsed once; longer ones are checked against the limits
# by the fast checker before the typesetter may spend its time on them.
CHECK_FIRST = 20_000


def link_scheme(url: str) -> str | None:
    """The scheme a browser would see, after undoing the tricks used to hide one."""
    cleaned = _CONTROL.sub("", unquote(url))
    match = _SCHEME.match(cleaned)
    return match.group(1).lower() if match else None


def is_safe_link(url: str) -> bool:
    scheme = link_scheme(url)
    return scheme is None or scheme in ALLOWED_SCHEMES


def _escape_html(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    # Unreachable for a validated article (raw HTML is a finding); a second line of defence.
    return escapeHtml(tokens[idx].content)


def _link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    if not is_safe_link(str(token.attrs.get("href", ""))):
        token.attrs["href"] = "#"
    return str(self.renderToken(tokens, idx, options, env))


def _image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    if not is_safe_link(str(token.attrs.get("src", ""))):
        token.attrs["src"] = ""
    token.attrs["loading"] = "lazy"
    return str(self.image(tokens, idx, options, env))


def outline(tokens: Sequence[Token]) -> None:
    """Body headings under the page's one h1 (the headline), with no level skipped: ``#``
    is an h2, and each heading goes at most one level deeper than the one before it, so
    a body that starts at ``###`` still reads h2, h3… to a screen reader's outline."""
    last = 1
    opened: list[Token] = []
    for token in tokens:
        if token.type == "heading_open":
            level = min(int(token.tag[1]) + 1, last + 1, 6)
            token.tag = f"h{level}"
            last = level
            opened.append(token)
        elif token.type == "heading_close" and opened:
            token.tag = opened.pop().tag


def _table_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    # A wrapper that scrolls keeps a wide table from widening the page on a phone.
    return '<div class="table-wrap">' + str(self.renderToken(tokens, idx, options, env))


def _table_close(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return str(self.renderToken(tokens, idx, options, env)) + "</div>"


def _cell_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    # The page's CSP allows no inline style, so column alignment becomes a class.
    token = tokens[idx]
    style = str(token.attrs.pop("style", ""))
    if style.startswith("text-align:"):
        token.attrs["class"] = "align-" + style.removeprefix("text-align:")
    return str(self.renderToken(tokens, idx, options, env))


@cache
def _checker() -> MarkdownIt:
    # Checking needs structure, links and raw HTML, not typography: about 20% faster.
    checker = MarkdownIt("commonmark", {"html": True})
    checker.enable(["table"])
    checker.use(footnote_plugin)
    checker.disable(["emphasis"])
    checker.validateLink = lambda url: True  # type: ignore[method-assign]
    return checker


@cache
def _typesetter(language: str) -> MarkdownIt:
    # Raw HTML is parsed so that a finding can name it, and every link is kept as written
    # so that the check sees it; rendering then escapes the one and neutralises the other.
    md = MarkdownIt("commonmark", {"html": True, "typographer": True, "quotes": QUOTES[language]})
    md.enable(["table", "strikethrough", "replacements", "smartquotes"])
    md.use(footnote_plugin)
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.add_render_rule("html_block", _escape_html)
    md.add_render_rule("html_inline", _escape_html)
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("image", _image)
    md.add_render_rule("photo", _photo)
    md.add_render_rule("table_open", _table_open)
    md.add_render_rule("table_close", _table_close)
    md.add_render_rule("th_open", _cell_open)
    md.add_render_rule("td_open", _cell_open)
    return md


@dataclass(frozen=True)
class Typeset:
    html: str  # empty when only checked
    excerpt: str  # the first paragraph as plain text, shortened for a summary
    photos: tuple[PhotoRef, ...] = ()  # the body's photographs, in order (``<!--photo N-->``)


def typeset(
    body: str, body_line: int, language: str, sink: FindingSink, *, render: bool = True
) -> Typeset | None:
    """Check the body and, when it is clean and ``render`` is set, turn it into HTML."""
    if not body.strip():
        sink.add(
            body_line, 1, None, "the article has no body: write the text below the closing '---'"
        )
        return None
    if len(body) > MAX_BODY:
        sink.add(
            body_line,
            1,
            None,
            f"the body is {len(body):,} characters; at most {MAX_BODY:,} (about 15,000 "
            "words) are allowed: split it into parts",
        )
        return None
    from broadsheet.content.linotype import linotype  # it builds on this module

    fast = linotype(body, language)
    if fast is not None:  # a plain body, which the checks below would pass
        html, words = fast
        return Typeset(html if render else "", shorten(words))
    before = len(sink.findings)
    if render and len(body) > CHECK_FIRST:
        _check_limits(_checker().parse(body), body_line, sink)
        if len(sink.findings) > before:
            return None
    md = _typesetter(language if language in QUOTES else "en") if render else _checker()
    tokens = md.parse(body)
    _check_limits(tokens, body_line, sink)
    _check(tokens, body_line, sink)
    if len(sink.findings) > before:
        return None
    photos = photographs(tokens, body_line)
    html = ""
    if render:
        outline(tokens)
        html = md.renderer.render(place_photographs(list(tokens)), md.options, {})
    return Typeset(html, shorten(first_paragraph_text(tokens)), photos)


def inline(
    text: str, line: int, column: int, language: str, sink: FindingSink, field: str
) -> str | None:
    """A short text in inline Markdown (a correction) as HTML: emphasis, links and quotes,
    checked like a body (no raw HTML, no unsafe link), never a block."""
    md = _typesetter(language if language in QUOTES else "en")
    tokens = md.parseInline(text, {})
    problems = FindingSink(sink.path)
    _check(tokens, line, problems)
    for finding in problems.findings:
        sink.add(finding.line, column, field, finding.message)
    if problems.findings:
        return None
    return str(md.renderer.render(tokens, md.options, {}))


def _block_line(token: Token, body_line: int) -> int:
    return body_line + (token.map[0] if token.map else 0)


def _inline_line(parent: Token, children: Sequence[Token], index: int, body_line: int) -> int:
    # Inline tokens carry no map; count the line breaks before the child.
    breaks = sum(1 for t in children[:index] if t.type in {"softbreak", "hardbreak"})
    return _block_line(parent, body_line) + breaks


def _snippet(content: str) -> str:
    first = content.strip().split("\n", 1)[0]
    return first if len(first) <= 40 else first[:39] + "…"


def _check_limits(tokens: Sequence[Token], body_line: int, sink: FindingSink) -> None:
    cells = 0
    line = body_line
    for token in tokens:
        if token.map:
            line = _block_line(token, body_line)  # a cell has no map: its row has
        if token.type in {"td_open", "th_open"}:
            cells += 1
            if cells == MAX_CELLS + 1:
                sink.add(
                    line,
                    1,
                    None,
                    f"more than {MAX_CELLS:,} table cells in one article: split the table "
                    "or link to the data",
                )
        elif token.type == "inline" and len(token.content) > MAX_BLOCK:
            sink.add(
                _block_line(token, body_line),
                1,
                None,
                f"a paragraph of {len(token.content):,} characters; at most {MAX_BLOCK:,} "
                "(about 700 words) are allowed: break it up",
            )


def _check(tokens: Sequence[Token], body_line: int, sink: FindingSink) -> None:
    for token in tokens:
        if token.type == "html_block":
            sink.add(
                _block_line(token, body_line),
                1,
                None,
                f"raw HTML is not allowed ({_snippet(token.content)}): write Markdown instead",
            )
            continue
        if token.type != "inline" or not token.children:
            continue
        children = token.children
        for index, child in enumerate(children):
            if child.type == "html_inline":
                problem = (
                    f"raw HTML is not allowed ({_snippet(child.content)}): write Markdown instead"
                )
            elif child.type == "image":
                src = str(child.attrs.get("src", ""))
                found = src_problem(src) or alt_problem(_alt(child), src)
                if found is None and not _alone(children):
                    found = (
                        "a photograph stands in a paragraph of its own: put an empty line "
                        "before and after it"
                    )
                if found is None:
                    continue
                problem = found
            elif child.type == "link_open":
                url = str(child.attrs.get("href", ""))
                scheme = link_scheme(url)
                if scheme is None or scheme in ALLOWED_SCHEMES:
                    continue
                problem = (
                    f"link '{_snippet(url)}' uses the scheme '{scheme}:'; only http, "
                    "https and mailto are allowed"
                )
            else:
                continue
            # Counted only for a finding: the line costs a walk over the children before.
            sink.add(_inline_line(token, children, index, body_line), 1, None, problem)


def _alt(image: Token) -> str:
    return "".join(c.content for c in image.children or []) or image.content


def _alone(children: Sequence[Token]) -> bool:
    meaningful = [c for c in children if not (c.type == "text" and not c.content.strip())]
    return len(meaningful) == 1 and meaningful[0].type == "image"


def photographs(tokens: Sequence[Token], body_line: int) -> tuple[PhotoRef, ...]:
    """The body's photographs: each image standing alone in its paragraph."""
    found = []
    for token in tokens:
        if token.type == "inline" and token.children and _alone(token.children):
            image = next(c for c in token.children if c.type == "image")
            found.append(
                PhotoRef(
                    src=str(image.attrs.get("src", "")),
                    alt=_alt(image).strip(),
                    caption=str(image.attrs.get("title") or ""),
                    line=_block_line(token, body_line),
                )
            )
    return tuple(found)


def place_photographs(tokens: list[Token]) -> list[Token]:
    """Each photograph's paragraph becomes a mark the page fills in with its figure (the
    variants' names are known only when the page is made)."""
    placed: list[Token] = []
    count = 0
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if (
            token.type == "paragraph_open"
            and index + 2 < len(tokens)
            and tokens[index + 1].children
            and _alone(tokens[index + 1].children or [])
        ):
            mark = Token("photo", "", 0)
            mark.meta = {"index": count}
            placed.append(mark)
            count += 1
            index += 3  # the paragraph's open, inline and close
            continue
        placed.append(token)
        index += 1
    return placed


def _photo(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return f"<!--photo {tokens[idx].meta['index']}-->\n"


def first_paragraph_text(tokens: Sequence[Token]) -> str:
    """The first paragraph with words in it (a photograph alone is not one)."""
    for index, token in enumerate(tokens):
        if token.type == "paragraph_open" and token.level == 0:
            parts = []
            for child in tokens[index + 1].children or []:
                if child.type in {"text", "code_inline"}:
                    parts.append(child.content)
                elif child.type in {"softbreak", "hardbreak"}:
                    parts.append(" ")
            text = " ".join("".join(parts).split())
            if text:
                return text
    return ""


def shorten(text: str, limit: int = SUMMARY_LENGTH) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:.—-") + "…"
