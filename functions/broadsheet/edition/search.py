"""What readers can search: one record per public article, and the page Pagefind reads.

The index itself is made by Pagefind's binary (``adapters.pagefind``), from pages this
module writes for it: not the article pages readers see, but one small page per record
holding exactly what should be found (title, dateline, summary, the body's text) and
the metadata a result shows. The full build and the pipeline's search stage make them
from the same records, so both index the same words.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import TypedDict

from broadsheet.content.site import Site
from broadsheet.edition import urls
from broadsheet.edition.dateline import long_date
from broadsheet.edition.index import IssueDoc


class SearchRecord(TypedDict):
    path: str  # /<lang>/issues/<n>/<slug>/: the result's link
    language: str
    title: str
    dateline: str
    date: str  # the dateline's date, written out in the record's language
    published: str  # UTC, YYYY-MM-DDTHH:MM:SSZ: the sort key, newest first
    section: str  # the section's name in the record's language, or ""
    issue: int
    summary: str
    text: str  # the body as plain text


# The words of a body, one space between blocks; a figure's caption is kept. Bodies are
# HTML our own typesetter wrote (every ``<`` in text and ``>`` in an attribute escaped),
# so a tag is ``<`` to the next ``>``, and a comment (a photograph's mark) holds no ``>``.
# Five times faster than walking it with html.parser, which the tests keep as the oracle.
_BLOCKS = frozenset("p li h1 h2 h3 h4 h5 h6 blockquote pre td th figcaption dt dd br tr".split())
_MARKUP = re.compile(r"<!--.*?-->|<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*>", re.DOTALL)


def _tag(match: re.Match[str]) -> str:
    name = match.group(2)
    return " " if name and name.lower() in _BLOCKS else ""


def text_of(body_html: str) -> str:
    return " ".join(html.unescape(_MARKUP.sub(_tag, body_html)).split())


# Words too common to find anything by, left out of the index. Pagefind closes an index
# chunk after the word that fills it, so a word found in nearly every article (``the``,
# ``de``) makes its chunk as large as its own postings, hundreds of kilobytes at 5,000
# articles, and every rarer word that sorts next to it is fetched with it. Without them
# a chunk stays near Pagefind's target (about 20-40 KB). The search page drops the same
# words from a reader's query (``stop_words``). Function words only: a word that is
# also a name or a subject (may, will, who, can; era, sin) stays findable.
STOP_WORDS = {
    "en": frozenset(
        """a about after an and are as at be been but by could did do does for from had
        has have he her him his how i if in into is it its of on or our she so than
        that the their them then there these they this those to was we were what when
        where which while with would you your""".split()
    ),
    "es": frozenset(
        """a al ante como con cual cuando de del desde donde durante e el ella ellas
        ellos en entre es esa ese eso esta estaba este esto fue ha han hasta hay la las
        le les lo los me mi muy nos o para pero por que quien se ser si sobre su sus
        te tu u un una unas uno unos y ya""".split()
    ),
}
_EDGES = re.compile(r"^\W+|\W+$")
_STOPPED: dict[str, dict[str, bool]] = {language: {} for language in STOP_WORDS}


def word_key(word: str) -> str:
    """A word as the stop lists hold it: lower case, without the punctuation around it
    (the search page's script does the same)."""
    return _EDGES.sub("", word.lower())


def indexed(text: str, language: str) -> str:
    """The words of ``text`` the index holds: all but the language's stop words."""
    if language not in STOP_WORDS:
        return text
    return " ".join([w for w in text.split() if not _stopped(w, language)])


def _stopped(word: str, language: str) -> bool:
    # Remembered per spelling: an archive's text repeats a few thousand spellings,
    # and a block's pages hold two million words (this was a quarter of its re-index).
    known = _STOPPED[language]
    found = known.get(word)
    if found is None:
        if len(known) > 200_000:  # a bound on the memory, whatever the vocabulary
            known.clear()
        found = known[word] = word_key(word) in STOP_WORDS[language]
    return found


def stop_words(language: str) -> str:
    return " ".join(sorted(STOP_WORDS.get(language, ())))


def records(site: Site, doc: IssueDoc, texts: Mapping[str, str]) -> list[SearchRecord]:
    """One record per public article of an issue document (``texts``: slug → the body's
    words, ``text_of`` its HTML)."""
    found = []
    for entry in doc["articles"]:
        language = entry["language"]
        section = site.section(entry["section"])
        found.append(
            SearchRecord(
                path=entry["path"],
                language=language,
                title=entry["title"],
                dateline=entry["dateline"],
                date=long_date(dt.date.fromisoformat(entry["date"]), language),
                published=entry["published"],
                section=section.names.get(language, "") if section else "",
                issue=doc["number"],
                summary=entry["summary"],
                text=texts[entry["slug"]],
            )
        )
    return found


def page_key(record: SearchRecord) -> str:
    """The file Pagefind reads for a record, relative to the folder it is given: its
    URL is the record's path, which is how results link to the article."""
    return record["path"].strip("/") + "/index.html"


def page(record: SearchRecord) -> bytes:
    """The page Pagefind indexes for one record. Metadata and filters sit in elements
    Pagefind is told not to index, so a section's name or an issue number does not
    match every article of it. The index gets the words less the stop words, so the
    excerpt a result shows reads without them; metadata is no place for the whole text,
    since Pagefind indexes metadata too."""
    e = html.escape
    language = record["language"]
    summary = record["summary"]
    if record["text"].startswith(summary.removesuffix("…")):
        summary = ""  # the lede, shortened, which the text holds already: not twice
    meta = {
        "title": record["title"],
        "dateline": record["dateline"],
        "date": record["date"],
    }
    hidden = "".join(
        f'<span data-pagefind-meta="{name}">{e(value)}</span>' for name, value in meta.items()
    )
    hidden += f'<span data-pagefind-sort="published">{e(record["published"])}</span>'
    if record["section"]:
        hidden += f'<span data-pagefind-filter="section">{e(record["section"])}</span>'
    hidden += f'<span data-pagefind-filter="issue">{record["issue"]}</span>'
    return (
        f'<!doctype html><html lang="{e(language)}"><head><meta charset="utf-8">'
        f"<title>{e(record['title'])}</title></head><body><main data-pagefind-body>"
        f"<div data-pagefind-ignore>{hidden}</div>"
        f"<h1>{e(indexed(record['title'], language))}</h1><p>{e(record['dateline'])}</p>"
        f"<p>{e(indexed(summary, language))}</p>"
        f"<p>{e(indexed(record['text'], language))}</p>"
        "</main></body></html>"
    ).encode()


def by_language(found: Iterable[SearchRecord]) -> dict[str, list[SearchRecord]]:
    """Records grouped by language, each group in one order (by path) whoever made it."""
    grouped: dict[str, list[SearchRecord]] = {}
    for record in sorted(found, key=lambda r: r["path"]):
        grouped.setdefault(record["language"], []).append(record)
    return grouped


def dumps(found: Iterable[SearchRecord]) -> bytes:
    return json.dumps(list(found), ensure_ascii=False, sort_keys=True).encode()


# A language's index is cut into blocks of issues by number, each a whole Pagefind
# bundle of its own, which the search page merges at query time (Pagefind's
# ``mergeIndex``). A commit re-indexes only the blocks whose records it changed, so its
# search work grows with the block, not with the archive. The cut is a trade, measured
# at 10,000 articles (``make bench``): a block costs a reader one index chunk per word
# of the query (Pagefind closes a chunk at about 20 KB, however small the index), and
# re-indexing a block costs about 1.8 s per 1,000 of its records on two cores.
ISSUES_PER_BLOCK = 100
BLOCKS = "blocks.json"  # a language's blocks, newest first: what the search page merges


def block_of(issue: int) -> str:
    """The block an issue's records are indexed in: its band of issue numbers, which
    never moves, so an older block is untouched by a new issue."""
    first = (issue - 1) // ISSUES_PER_BLOCK * ISSUES_PER_BLOCK + 1
    return f"{first}-{first + ISSUES_PER_BLOCK - 1}"


def block_issues(block: str) -> range:
    first, last = (int(n) for n in block.split("-"))
    return range(first, last + 1)


def by_block(found: Iterable[SearchRecord]) -> dict[tuple[str, str], list[SearchRecord]]:
    """Records grouped by language and block, each group in one order (by path)."""
    grouped: dict[tuple[str, str], list[SearchRecord]] = {}
    for record in sorted(found, key=lambda r: r["path"]):
        grouped.setdefault((record["language"], block_of(record["issue"])), []).append(record)
    return dict(sorted(grouped.items(), key=lambda item: (item[0][0], _first(item[0][1]))))


def _first(block: str) -> int:
    return int(block.split("-")[0])


def blocks_document(blocks: Iterable[str]) -> bytes:
    """The list the search page reads (``BLOCKS``): the first one named is the index
    Pagefind loads its script and WebAssembly from, the others are merged into it."""
    newest_first = sorted(set(blocks), key=_first, reverse=True)
    return json.dumps({"blocks": newest_first}, separators=(",", ":")).encode()


def bundle_key(language: str, block: str, name: str) -> str:
    """The site's key of one file of a block's bundle (``name``: relative to it)."""
    return f"{blocks_key(language).removesuffix(BLOCKS)}{block}/{name}"


def blocks_key(language: str) -> str:
    return urls.search_bundle(language).lstrip("/") + BLOCKS
