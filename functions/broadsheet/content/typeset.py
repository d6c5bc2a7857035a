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

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")
# Typographic quotes per language: primary pair, then secondary pair.
QUOTES = {"en": "“”‘’", "es": "«»“”"}
SUMMARY_LENGTH = 300


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


def _demote_heading(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    # The headline is the page's only h1, so body headings start at h2.
    token = tokens[idx]
    token.tag = f"h{min(6, int(token.tag[1]) + 1)}"
    return str(self.renderToken(tokens, idx, options, env))


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
    md.add_render_rule("heading_open", _demote_heading)
    md.add_render_rule("heading_close", _demote_heading)
    md.add_render_rule("table_open", _table_open)
    md.add_render_rule("table_close", _table_close)
    md.add_render_rule("th_open", _cell_open)
    md.add_render_rule("td_open", _cell_open)
    return md


@dataclass(frozen=True)
class Typeset:
    html: str  # empty when only checked
    excerpt: str  # the first paragraph as plain text, shortened for a summary


def typeset(
    body: str, body_line: int, language: str, sink: FindingSink, *, render: bool = True
) -> Typeset | None:
    """Check the body and, when it is clean and ``render`` is set, turn it into HTML."""
    if not body.strip():
        sink.add(
            body_line, 1, None, "the article has no body: write the text below the closing '---'"
        )
        return None
    md = _typesetter(language if language in QUOTES else "en") if render else _checker()
    tokens = md.parse(body)
    before = len(sink.findings)
    _check(tokens, body_line, sink)
    if len(sink.findings) > before:
        return None
    html = md.renderer.render(tokens, md.options, {}) if render else ""
    return Typeset(html, shorten(first_paragraph_text(tokens)))


def _block_line(token: Token, body_line: int) -> int:
    return body_line + (token.map[0] if token.map else 0)


def _inline_line(parent: Token, children: Sequence[Token], index: int, body_line: int) -> int:
    # Inline tokens carry no map; count the line breaks before the child.
    breaks = sum(1 for t in children[:index] if t.type in {"softbreak", "hardbreak"})
    return _block_line(parent, body_line) + breaks


def _snippet(content: str) -> str:
    first = content.strip().split("\n", 1)[0]
    return first if len(first) <= 40 else first[:39] + "…"


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
            elif child.type in {"link_open", "image"}:
                what, attr = ("link", "href") if child.type == "link_open" else ("image", "src")
                url = str(child.attrs.get(attr, ""))
                scheme = link_scheme(url)
                if scheme is None or scheme in ALLOWED_SCHEMES:
                    continue
                problem = (
                    f"{what} '{_snippet(url)}' uses the scheme '{scheme}:'; only http, "
                    "https and mailto are allowed"
                )
            else:
                continue
            # Counted only for a finding: the line costs a walk over the children before.
            sink.add(_inline_line(token, children, index, body_line), 1, None, problem)


def first_paragraph_text(tokens: Sequence[Token]) -> str:
    for index, token in enumerate(tokens):
        if token.type == "paragraph_open" and token.level == 0:
            parts = []
            for child in tokens[index + 1].children or []:
                if child.type in {"text", "code_inline"}:
                    parts.append(child.content)
                elif child.type in {"softbreak", "hardbreak"}:
                    parts.append(" ")
            return " ".join("".join(parts).split())
    return ""


def shorten(text: str, limit: int = SUMMARY_LENGTH) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:.—-") + "…"
