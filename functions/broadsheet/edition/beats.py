"""Listings across issues: a section, a tag, an author, the corrections. Readers follow a
beat through the whole archive, newest first.

A beat's pages are fixed blocks of at most ``PAGE`` items filled from the oldest, a
moment's items kept together (``blocks``), so an article added on top leaves every older
page as it was: the first page (``/<lang>/tags/<tag>/``)
shows the newest ``PAGE``, and ``page/<k>/`` the k-th block from the oldest. While the
newest block is not full, the first page also shows the newest of the block before,
and its "older" link leads into that block's page at the first article it did not
show. Everything here is a function of the issue documents alone: the full build
renders a beat from all of them, the pipeline from the beat's own blocks, and the bytes
are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from broadsheet.content.folding import fold
from broadsheet.content.site import Site
from broadsheet.edition import urls
from broadsheet.edition.index import ArticleEntry, IssueDoc

PAGE = 50
KINDS = ("section", "tag", "author", "correction")
FOLDERS = {"section": "sections", "tag": "tags", "author": "authors"}
Item = dict[str, Any]  # one line of a beat: an article, or one correction of it


@dataclass(frozen=True, order=True)
class Beat:
    kind: str  # section, tag, author, correction
    language: str
    key: str  # the section's id, the tag's or author's slug; "all" for corrections

    @property
    def ident(self) -> str:
        return f"{self.language}/{self.kind}/{self.key}"

    @classmethod
    def from_ident(cls, ident: str) -> Beat:
        language, kind, key = ident.split("/", 2)
        return cls(kind, language, key)

    @property
    def path(self) -> str:
        if self.kind == "correction":
            return f"/{self.language}/corrections/"
        return f"/{self.language}/{FOLDERS[self.kind]}/{self.key}/"

    def page_path(self, number: int) -> str:
        """Page 0 is the beat's own address (the newest); page k the k-th block."""
        return self.path if number == 0 else f"{self.path}page/{number}/"

    @property
    def feed_path(self) -> str | None:
        return None if self.kind == "correction" else f"{self.path}feed.xml"


def sort_key(item: Item) -> tuple[str, str, int]:
    return item["sort"][0], item["sort"][1], item["sort"][2]


def author_key(site: Site, name: str) -> tuple[str, str]:
    """An author's page slug and the name it shows."""
    described = site.author(name)
    return (described.slug, described.name) if described else (fold(name), name)


def items_of(site: Site, doc: IssueDoc) -> dict[Beat, list[Item]]:
    """Every beat the issue's articles appear in, with the issue's lines of each."""
    found: dict[Beat, list[Item]] = {}
    for entry in doc["articles"]:
        language = entry["language"]
        base = {
            "sort": [entry["published"], entry["path"], 0],
            "issue": doc["number"],
            "path": entry["path"],
            "title": entry["title"],
            "summary": entry["summary"],
            "date": entry["date"],
            "dateline": entry["dateline"],
            "language": language,
            "authors": entry["authors"],
            "published": entry["published"],
            "updated": entry.get("updated"),
        }
        named: list[tuple[Beat, str]] = []
        if entry["section"]:
            named.append((Beat("section", language, entry["section"]), entry["section"]))
        named += [(Beat("tag", language, fold(tag)), tag) for tag in entry["tags"]]
        for author in entry["authors"]:
            slug, name = author_key(site, author)
            named.append((Beat("author", language, slug), name))
        for beat, name in named:
            found.setdefault(beat, []).append({**base, "name": name})
        for index, correction in enumerate(entry.get("corrections", [])):
            item = {
                **base,
                "sort": [correction["date"], entry["path"], index],
                "name": "",
                "correction_date": correction["date"],
                "correction": correction["html"],
            }
            found.setdefault(Beat("correction", language, "all"), []).append(item)
    return found


def all_items(site: Site, docs: Iterable[IssueDoc]) -> dict[Beat, list[Item]]:
    """Every beat of an archive, each oldest first (what a full build renders)."""
    found: dict[Beat, list[Item]] = {}
    for doc in docs:
        for beat, items in items_of(site, doc).items():
            found.setdefault(beat, []).extend(items)
    for items in found.values():
        items.sort(key=sort_key)
    return found


def moment(item: Item) -> str:
    """When an item was published: an issue's articles mostly share theirs."""
    return str(item["sort"][0])


def blocks(items: list[Item]) -> list[list[Item]]:
    """The beat's items (oldest first) in blocks of at most PAGE, filled from the oldest
    with whole moments: items published at one moment share a block unless there are
    more than PAGE of them (then they fill blocks of their own, from their oldest). So
    the newest issue's articles sit in the newest block, and one added to them changes
    that block alone, wherever its path sorts among them."""
    found: list[list[Item]] = []
    current: list[Item] = []
    for _, run in groupby(items, key=moment):
        group = list(run)
        if len(current) + len(group) <= PAGE:
            current += group
            continue
        if current:
            found.append(current)
        while len(group) > PAGE:
            found.append(group[:PAGE])
            group = group[PAGE:]
        current = group
    if current:
        found.append(current)
    return found


def display_name(site: Site, beat: Beat, newest: Item | None) -> str:
    """What the beat is called on its pages, in its language: a section by site.yml, a
    described author by site.yml, any other by its newest item's spelling."""
    if beat.kind == "section":
        section = site.section(beat.key)
        return section.names.get(beat.language, beat.key) if section else beat.key
    if beat.kind == "author":
        described = next((a for a in site.authors if a.slug == beat.key), None)
        if described:
            return described.name
    if beat.kind == "correction":
        return ""
    return str(newest["name"]) if newest else beat.key


def page_numbers(sizes: Sequence[int]) -> range:
    """The pages of a beat whose blocks hold ``sizes`` items: 0, the newest, then
    ``page/k/`` for the k-th block from the oldest, all but the newest block (which the
    first page shows)."""
    return range(max(len(sizes), 1))


def page_items(block: Callable[[int], list[Item]], sizes: Sequence[int], number: int) -> list[Item]:
    """Page ``number``'s items, newest first; ``block(i)`` gives the i-th block (0-based)."""
    count = len(sizes)
    if number == 0:
        newest = [*(block(count - 2) if count >= 2 else []), *(block(count - 1) if count else [])]
        return list(reversed(newest[-PAGE:]))
    return list(reversed(block(number - 1)))


def anchor(item: Item) -> str:
    """An item's id on its page: where a reader paging back continues."""
    number, slug = item["path"].strip("/").split("/")[-2:]
    return f"{number}-{slug}" + (f"-{item['sort'][2]}" if "correction" in item else "")


def continues(block: Callable[[int], list[Item]], sizes: Sequence[int]) -> str:
    """Where the first page's "older" link leads: the next page, at the first article the
    first page did not show (the pages are fixed, so the first page may show the newest
    of the next one too)."""
    count = len(sizes)
    if count < 2:
        return ""
    shown = min(PAGE - sizes[-1], sizes[-2])  # of the block before the newest
    return "" if shown == 0 else "#" + anchor(block(count - 2)[sizes[-2] - shown - 1])


def feed_key(beat: Beat) -> str | None:
    return urls.object_key(beat.feed_path) if beat.feed_path else None


def page_files(
    site: Site,
    beat: Beat,
    name: str,
    sizes: Sequence[int],
    block: Callable[[int], list[Item]],
    numbers: Iterable[int],
) -> dict[str, bytes]:
    """Some pages of a beat by object key, and with page 0 its feed (the newest PAGE)."""
    from broadsheet.edition import feed
    from broadsheet.edition import pages as html

    files = {}
    last = len(page_numbers(sizes)) - 1
    for number in numbers:
        shown = page_items(block, sizes, number)
        older = last if number == 0 else number - 1
        key = urls.object_key(beat.page_path(number))
        at = continues(block, sizes) if number == 0 else ""
        files[key] = html.render_beat(site, beat, name, number, shown, older, at)
        if number == 0 and beat.feed_path is not None:
            files[urls.object_key(beat.feed_path)] = feed.render_beat_feed(site, beat, name, shown)
    return files


def beat_files(site: Site, beat: Beat, items: list[Item]) -> dict[str, bytes]:
    """Every file of one beat (its pages and feed) by object key, from its items."""
    split = blocks(items)
    name = display_name(site, beat, items[-1] if items else None)
    sizes = [len(b) for b in split]
    return page_files(site, beat, name, sizes, split.__getitem__, page_numbers(sizes))


INDEXED = ("section", "tag")  # the kinds with a page listing them all


def index_key(language: str, kind: str) -> str:
    return urls.object_key(f"/{language}/{FOLDERS[kind]}/")


def index_file(site: Site, language: str, kind: str, names: Mapping[str, str]) -> bytes:
    """/<lang>/sections/ or /<lang>/tags/: ``names`` maps each key with articles in the
    language to the name it shows."""
    from broadsheet.edition import pages as html

    # By the folded key: accents and capitals do not send Ñandú or Ærø after z.
    present = sorted(
        names.items(),
        key=lambda pair: (site.section_rank(pair[0]) if kind == "section" else 0, pair[0]),
    )
    return html.render_beat_index(site, language, kind, present)


def archive_beats(site: Site, docs: Iterable[IssueDoc]) -> dict[Beat, list[Item]]:
    """Every beat a full build renders, with its items: each language's corrections page
    too, which says so when it is empty."""
    beats = all_items(site, docs)
    for language in site.languages:
        beats.setdefault(Beat("correction", language, "all"), [])
    return beats


def index_files(site: Site, beats: Mapping[Beat, list[Item]]) -> dict[str, bytes]:
    """Each language's pages listing its sections and its tags."""
    names: dict[tuple[str, str], dict[str, str]] = {}
    for beat, items in beats.items():
        if beat.kind in INDEXED and items:
            names.setdefault((beat.language, beat.kind), {})[beat.key] = display_name(
                site, beat, items[-1]
            )
    return {
        index_key(language, kind): index_file(site, language, kind, names.get((language, kind), {}))
        for language in site.languages
        for kind in INDEXED
    }


def entry_beats(site: Site, entry: ArticleEntry) -> dict[str, Any]:
    """The links an article page shows to its section, tags and authors."""
    language = entry["language"]
    section = None
    if entry["section"]:
        beat = Beat("section", language, entry["section"])
        section = {"path": beat.path, "name": display_name(site, beat, None)}
    tags = [{"name": t, "path": Beat("tag", language, fold(t)).path} for t in entry["tags"]]
    authors = []
    for author in entry["authors"]:
        slug, name = author_key(site, author)
        authors.append({"name": name, "path": Beat("author", language, slug).path})
    return {"section": section, "tags": tags, "authors": authors}
