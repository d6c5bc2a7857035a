"""Typesetting the body: Markdown to safe HTML, and the checks an editor gets first.

Two parsers share one rule set. The checking parser sees raw HTML and every link as
written, so it can name what is refused; the rendering parser escapes raw HTML and drops
any link it would not follow, so even a source that skipped validation renders safely.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

from .findings import FindingSink

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


def _parser(*, html: bool, language: str = "en") -> MarkdownIt:
    md = MarkdownIt(
        "commonmark",
        {
            "html": html,
            "typographer": True,
            "quotes": QUOTES.get(language, QUOTES["en"]),
        },
    )
    md.enable(["table", "strikethrough", "replacements", "smartquotes"])
    md.use(footnote_plugin)
    return md


@cache
def _checker() -> MarkdownIt:
    md = _parser(html=True)
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    # Checking needs structure, links and HTML, not typography.
    md.disable(["replacements", "smartquotes"])
    return md


def _block_line(token: Token, body_line: int) -> int:
    return body_line + (token.map[0] if token.map else 0)


def _inline_line(parent: Token, child_index: int, children: Sequence[Token], body_line: int) -> int:
    # Inline tokens carry no map; count the soft and hard breaks before the child.
    breaks = sum(1 for t in children[:child_index] if t.type in {"softbreak", "hardbreak"})
    return _block_line(parent, body_line) + breaks


def _html_snippet(content: str) -> str:
    first = content.strip().split("\n", 1)[0]
    return first if len(first) <= 40 else first[:39] + "…"


def check_body(body: str, body_line: int, sink: FindingSink) -> None:
    if not body.strip():
        sink.add(
            body_line, 1, None, "the article has no body: write the text below the closing '---'"
        )
        return
    tokens = _checker().parse(body)
    for token in tokens:
        if token.type == "html_block":
            sink.add(
                _block_line(token, body_line),
                1,
                None,
                f"raw HTML is not allowed ({_html_snippet(token.content)}): write Markdown instead",
            )
        elif token.type == "inline" and token.children:
            children = token.children
            for index, child in enumerate(children):
                if child.type == "html_inline":
                    sink.add(
                        _inline_line(token, index, children, body_line),
                        1,
                        None,
                        f"raw HTML is not allowed ({_html_snippet(child.content)}): "
                        "write Markdown instead",
                    )
                elif child.type in {"link_open", "image"}:
                    attr = "href" if child.type == "link_open" else "src"
                    url = str(child.attrs.get(attr, ""))
                    scheme = link_scheme(url)
                    if scheme is not None and scheme not in ALLOWED_SCHEMES:
                        what = "link" if child.type == "link_open" else "image"
                        sink.add(
                            _inline_line(token, index, children, body_line),
                            1,
                            None,
                            f"{what} '{_html_snippet(url)}' uses the scheme "
                            f"'{scheme}:'; only http, https and mailto are allowed",
                        )


def _demote_heading(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    # The headline is the page's only h1, so body headings start at h2.
    token = tokens[idx]
    level = min(6, int(token.tag[1]) + 1)
    token.tag = f"h{level}"
    return str(self.renderToken(tokens, idx, options, env))


def _table_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    # A wrapper that scrolls keeps a wide table from widening the page on a phone.
    return '<div class="table-wrap">' + str(self.renderToken(tokens, idx, options, env))


def _table_close(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return str(self.renderToken(tokens, idx, options, env)) + "</div>"


@cache
def _renderer(language: str) -> MarkdownIt:
    md = _parser(html=False, language=language)
    md.validateLink = is_safe_link  # type: ignore[method-assign]
    for rule in ("heading_open", "heading_close"):
        md.add_render_rule(rule, _demote_heading)
    md.add_render_rule("table_open", _table_open)
    md.add_render_rule("table_close", _table_close)
    return md


def first_paragraph_text(tokens: Sequence[Token]) -> str:
    for index, token in enumerate(tokens):
        if token.type == "paragraph_open" and token.level == 0:
            inline = tokens[index + 1]
            parts = []
            for child in inline.children or []:
                if child.type in {"text", "code_inline"}:
                    parts.append(child.content)
                elif child.type in {"softbreak", "hardbreak"}:
                    parts.append(" ")
            return " ".join("".join(parts).split())
    return ""


def shorten(text: str, limit: int = SUMMARY_LENGTH) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:.—-")
    return cut + "…"


def render_body(body: str, language: str) -> tuple[str, str]:
    """(HTML of the body, plain-text first paragraph for the default summary)."""
    md = _renderer(language)
    tokens = md.parse(body)
    return md.renderer.render(tokens, md.options, {}), shorten(first_paragraph_text(tokens))
