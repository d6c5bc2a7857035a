"""The fast typesetter: markdown-it.rs (Rust, through markdown-it-pyrs) for the plain
bodies most articles are, with exactly the HTML, excerpt and verdict of ``typeset``'s
markdown-it-py, which stays the reference.

It accepts a body only when it can be sure of that, and declines (None) otherwise, for
the reference to do the work: so every finding still comes from the reference, and a
body this module accepts is one the reference's checks pass. It declines:

- raw HTML and autolinks (any ``<``), footnotes (``[^``, inline ``^[``), photographs
  (``![``), and
  code spans (a backtick left open inside brackets makes markdown-it.rs panic);
- a link whose destination is not http, https or mailto (markdown-it.rs would not make
  it a link at all, where the reference makes it a finding);
- a block or a table that might reach the reference's limits;
- code together with straight quotes (markdown-it.rs puts typographic quotes inside
  code, the reference does not), and any straight quote it left unconverted;
- in Spanish, any apostrophe or typographic quote in the source: markdown-it.rs only
  knows English quotes, and only double quotes map to « » without doubt.

What markdown-it.rs renders as markdown-it-py does, it keeps; the rest (heading levels,
tables in a scrolling wrapper with classes for alignment, Spanish quotes) is rewritten
in the HTML, which is safe because every ``<`` of the text is escaped in it. The tests
hold both engines to the same output on the demo, the bad-input corpus and fuzzed
bodies (tests/unit/test_linotype.py).
"""

from __future__ import annotations

import html
import os
import re
from functools import cache
from typing import Any

from markdown_it.common.utils import isMdAsciiPunct, isPunctChar, isWhiteSpace

from broadsheet.content.typeset import MAX_BLOCK, MAX_CELLS, QUOTES, is_safe_link

try:  # an optional speed-up: without it, the reference typesets everything
    import markdown_it_pyrs
except ImportError:  # pragma: no cover - installed with the package
    markdown_it_pyrs = None  # type: ignore[assignment]

VERSION = getattr(markdown_it_pyrs, "__version__", "absent")
# BROADSHEET_TYPESETTER=markdown-it-py typesets everything with the reference alone.
CHOICE, REFERENCE = "BROADSHEET_TYPESETTER", "markdown-it-py"

_BLANK = re.compile(r"\n[ \t]*\n")
# Wherever a link's destination may follow (inline, or a reference's definition, also
# inside a quote or a list): prose matched by mistake only makes it decline more.
_DESTINATION = re.compile(r"\]\(\s*([^\s)]*)|\]:\s*(\S*)")
_HREF = re.compile(r' href="([^"]*)"')
_HEADING = re.compile(r"<(/?)h([1-6])>")
_ALIGN = re.compile(r' style="text-align:(left|right|center)"')
_NESTING = re.compile(r"<(/?)(p|blockquote|ul|ol|table|li)\b[^>]*>")
_TAG = re.compile(r"<[^>]*>")
_TYPOGRAPHIC_QUOTES = "“”‘’«»"
_EVENTS = re.compile(r"<(/?)([a-z0-9]+)[^>]*>|[‘’“”]")
_TAG_NAME = re.compile(r"</?([a-z0-9]+)")
# Inline tags raise the quotes' level (their closing tags lower it); a line break ends
# the look for a neighbour; any other tag is another block.
_INLINE = frozenset({"em", "strong", "s", "a"})
_DELIMITER = frozenset("|:- \t")
_QUOTED_PIPE = re.compile(r"^[ \t]*>.*\|", re.MULTILINE)
_EMPTY_ITEM = re.compile(r"^[ \t>]*(?:[*+-]|\d+[.)])[ \t]*$", re.MULTILINE)
# White space but a space, a tab or a newline (each looked for alone: a C loop each).
_OTHER_SPACES = tuple(c for c in map(chr, range(0x3001)) if c.isspace() and c not in " \t\n")
_TURNED = re.compile("[‘’“”]")
ENGLISH = QUOTES["en"]  # what markdown-it.rs sets, whatever the language
_STRAIGHT = {"‘": "'", "’": "'", "“": '"', "”": '"'}


@cache
def _engine() -> Any:
    md = markdown_it_pyrs.MarkdownIt("commonmark")
    return md.enable_many(
        ["table", "strikethrough", "replacements", "smartquotes", "html_block", "html_inline"]
    )


def _has_code(body: str) -> bool:
    # A fence or an indented line (a list's continuation too: declining more).
    return "~~~" in body or "\n    " in body or "\n\t" in body or body.startswith(("    ", "\t"))


def _loose_table(body: str) -> bool:
    """A line that could be a table's delimiter row (``:-``, ``|---|``), where it or the
    line above has no pipe."""
    if ":-" not in body and "-:" not in body and "|" not in body:
        return False
    lines = body.split("\n")
    for index, line in enumerate(lines):
        if "-" in line and set(line) <= _DELIMITER and (":" in line or "|" in line):
            above = lines[index - 1] if index else ""
            if "|" not in line or "|" not in above:
                return True
    return False


def _plain(body: str, language: str) -> bool:
    """Whether the source is one this module can typeset exactly as the reference."""
    if "<" in body or "[^" in body or "^[" in body or "![" in body:
        return False
    if "`" in body:
        return False  # a backtick left open inside brackets makes markdown-it.rs panic
    if "|" in body and _QUOTED_PIPE.search(body):
        return False  # a table's row begun with '>': markdown-it.rs reads another table
    if _loose_table(body):
        return False  # markdown-it.rs makes a table of rows with no pipe; the reference not
    if _EMPTY_ITEM.search(body):
        return False  # an empty list item after a paragraph: markdown-it.rs starts a list
    if any(space in body for space in _OTHER_SPACES):
        return False  # the reference strips Unicode spaces where markdown-it.rs keeps them
    if any(len(block) > MAX_BLOCK for block in _BLANK.split(body)):
        return False
    lines = body.split("\n")
    if "|" in body and len(lines) * (max(line.count("|") for line in lines) + 1) > MAX_CELLS:
        return False  # a row has as many cells as its table's header
    quoted = "'" in body or '"' in body
    if quoted and _has_code(body):
        return False
    if any(quote in body for quote in _TYPOGRAPHIC_QUOTES):
        return False  # the quotes in the HTML must all be ones smartquotes made
    if "&" in body and any(quote in html.unescape(body) for quote in _TYPOGRAPHIC_QUOTES):
        return False  # nor written as entities (&ldquo; &#8217;)
    for match in _DESTINATION.finditer(body):
        destination = html.unescape(match.group(1) or match.group(2) or "")
        if not is_safe_link(destination):
            return False
        if not destination.isascii():
            return False  # the reference writes a host in punycode, markdown-it.rs in %
    return True


def _kind(char: str) -> tuple[bool, bool]:
    """Whether a quote's neighbour is white space, and whether it is punctuation, as
    markdown-it's smartquotes sees it (the ends of a line count as a space)."""
    code = ord(char)
    return isWhiteSpace(code), isMdAsciiPunct(code) or isPunctChar(char)


def _quotes(rendered: str, language: str) -> str | None:
    """The quotes as the reference sets them: markdown-it's smartquotes replayed over
    markdown-it.rs's English ones, every one of which stands where the source had a
    straight quote. None where the reference leaves one straight."""
    marks = QUOTES.get(language, ENGLISH)

    def beside(at: int, step: int) -> str:
        # The neighbouring character, past inline tags; another tag ends the line.
        at += step
        while 0 <= at < len(rendered):
            char = rendered[at]
            if char in "<>":  # text has neither: this is a tag's edge
                edge = rendered.rfind("<", 0, at) if step < 0 else at
                name = _TAG_NAME.match(rendered, edge)
                if name is None or name.group(1) not in _INLINE:
                    return " "
                at = edge - 1 if step < 0 else rendered.index(">", at) + 1
                continue
            return _STRAIGHT.get(char, char)
        return " "

    wanted: dict[int, str] = {}  # position -> the reference's quote
    stack: list[tuple[int, bool, int]] = []  # (position, single, level) of open quotes
    level = 0
    for event in _EVENTS.finditer(rendered):
        name = event.group(2)
        if name is not None:
            if name in _INLINE:
                level += -1 if event.group(1) else 1
                stack = [entry for entry in stack if entry[2] <= level]
            elif name != "br":
                stack, level = [], 0
            continue
        at = event.start()
        single = event.group(0) in "‘’"
        last, after = beside(at, -1), beside(at, 1)
        last_space, last_punct = _kind(last)
        next_space, next_punct = _kind(after)
        can_open = not next_space and (not next_punct or last_space or last_punct)
        can_close = not last_space and (not last_punct or next_space or next_punct)
        if not single and after == '"' and last.isdigit() and last.isascii():
            can_open = can_close = False  # 1"" : an inch
        if can_open and can_close:
            can_open, can_close = last_punct, next_punct
        # Neither: an apostrophe, or a double quote left straight.
        wanted[at] = "’" if single else '"'
        if not can_open and not can_close:
            continue
        if can_close and _close(stack, at, single, level, wanted, marks):
            continue
        if can_open:  # straight, unless a later quote closes it
            stack.append((at, single, level))
            wanted[at] = "'" if single else '"'
    if any(quote in "'\"" for quote in wanted.values()):
        return None  # the reference leaves a quote straight that markdown-it.rs turned
    # Every quote is now the reference's (its language's, paired as it pairs them).
    if all(rendered[at] == quote for at, quote in wanted.items()):
        return rendered
    text = list(rendered)
    for at, quote in wanted.items():
        text[at] = quote
    return "".join(text)


def _close(
    stack: list[tuple[int, bool, int]],
    at: int,
    single: bool,
    level: int,
    wanted: dict[int, str],
    marks: str,
) -> bool:
    """Close the innermost open quote of the kind at the level, as smartquotes does
    (an opener at a lower level stops the search; those above the match are dropped)."""
    for j in range(len(stack) - 1, -1, -1):
        if stack[j][2] < level:
            return False
        if stack[j][1] == single and stack[j][2] == level:
            opening, closing = (marks[2], marks[3]) if single else (marks[0], marks[1])
            wanted[stack[j][0]] = opening
            wanted[at] = closing
            del stack[j:]
            return True
    return False


def _outline(rendered: str) -> str:
    """``typeset.outline`` on the HTML: ``#`` is an h2, and no level is skipped."""
    last = 1
    opened: list[int] = []

    def level(match: re.Match[str]) -> str:
        nonlocal last
        if match.group(1):
            return f"</h{opened.pop() if opened else match.group(2)}>"
        new = min(int(match.group(2)) + 1, last + 1, 6)
        last = new
        opened.append(new)
        return f"<h{new}>"

    return _HEADING.sub(level, rendered)


def _tables(rendered: str) -> str:
    if "<table>" not in rendered:
        return rendered
    rendered = rendered.replace("<table>", '<div class="table-wrap"><table>')
    rendered = rendered.replace("</table>\n", "</table>\n</div>")
    return _ALIGN.sub(r' class="align-\1"', rendered)


def _excerpt(rendered: str) -> str:
    """``typeset.first_paragraph_text`` on the HTML: the first paragraph outside any
    quote, list or table with words in it."""
    depth = 0
    start = -1
    for match in _NESTING.finditer(rendered):
        closing, name = match.group(1), match.group(2)
        if name == "p":
            if not closing and depth == 0:
                start = match.end()
            elif closing and start >= 0:
                text = html.unescape(_TAG.sub("", rendered[start : match.start()]))
                words = " ".join(text.split())
                if words:
                    return words
                start = -1
            continue
        depth += -1 if closing else 1
    return ""


def linotype(body: str, language: str) -> tuple[str, str] | None:
    """The body's HTML and first paragraph's words as the reference would make them, or
    None when this module cannot be sure of that."""
    if markdown_it_pyrs is None or os.environ.get(CHOICE) == REFERENCE:
        return None
    if not _plain(body, language):
        return None
    try:
        rendered: str = _engine().render(body)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # a panic in Rust (pyo3's PanicException is a BaseException)
        return None  # e.g. a lone backtick as a link's text (markdown-it-pyrs 0.4.0)
    if "'" in rendered or "&quot;" in rendered:
        return None  # a straight quote left: the reference may have turned it
    if "](" in rendered or "]:" in rendered:
        return None  # link syntax left as text: a destination markdown-it.rs refused
    for href in _HREF.findall(rendered):
        if not is_safe_link(html.unescape(href)):
            return None
    if _TURNED.search(rendered):
        quoted = _quotes(rendered, language)
        if quoted is None:
            return None
        rendered = quoted
    # Where the two differ in layout alone (the fuzzing test found these).
    rendered = rendered.replace("<blockquote>\n</blockquote>", "<blockquote></blockquote>")
    rendered = _tables(_outline(rendered))
    return rendered, _excerpt(rendered)
