"""The publication itself: its names, languages, sections and address (``site.yml``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from broadsheet.content import fields
from broadsheet.content.findings import FindingSink
from broadsheet.content.folding import fold
from broadsheet.content.reader import YMap, read_yaml_file

_LANGUAGE = re.compile(r"[a-z]{2}")
_SECTION_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _known(language: str) -> bool:
    # Babel's CLDR data, which writes every date and language name a page shows. A
    # deployment package keeps only the locales it was built with (make build LANGUAGES=).
    from babel import localedata

    return bool(localedata.exists(language))


@dataclass(frozen=True)
class Section:
    id: str
    names: dict[str, str]


@dataclass(frozen=True)
class Author:
    """A writer described once in site.yml: articles name them by slug or by name."""

    slug: str
    name: str
    bios: dict[str, str] = field(default_factory=dict)  # language -> a line about them
    url: str | None = None  # their own page elsewhere, if they have one


@dataclass(frozen=True)
class Site:
    names: dict[str, str]
    base_url: str
    languages: tuple[str, ...]
    sections: tuple[Section, ...] = ()
    descriptions: dict[str, str] = field(default_factory=dict)
    authors: tuple[Author, ...] = ()

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def section(self, section_id: str | None) -> Section | None:
        return next((s for s in self.sections if s.id == section_id), None)

    def author(self, name: str) -> Author | None:
        """The described author an article names, by slug or by name (folded)."""
        key = fold(name)
        return next((a for a in self.authors if key in (a.slug, fold(a.name))), None)

    def section_rank(self, section_id: str | None) -> int:
        ids = [s.id for s in self.sections]
        return ids.index(section_id) if section_id in ids else len(ids)


SITE_KEYS = ("name", "description", "base_url", "languages", "sections", "authors")
AUTHOR_KEYS = ("name", "bio", "url")


def parse_site(data: bytes, sink: FindingSink) -> Site | None:
    root = read_yaml_file(data, sink)
    if root is None:
        return None
    fields.check_keys(root, SITE_KEYS, ("name", "base_url", "languages"), sink, what="site.yml")
    entries = root.entries
    languages: list[str] = []
    if "languages" in entries:
        node = entries["languages"][1]
        languages = fields.text_list(node, sink, "languages") or []
        for lang in languages:
            if not _LANGUAGE.fullmatch(lang):
                sink.add(
                    node.line,
                    node.column,
                    "languages",
                    f"'{lang}' is not a two-letter language code such as en or es",
                )
            elif not _known(lang):
                sink.add(
                    node.line,
                    node.column,
                    "languages",
                    f"'{lang}' is not a language Babel knows: dates and names could not be "
                    "written in it (use an ISO 639-1 code such as en, es, fr)",
                )
        if not languages:
            sink.add(node.line, node.column, "languages", "list at least one language")
    names = (
        fields.per_language(entries["name"][1], sink, "name", languages)
        if "name" in entries
        else None
    )
    descriptions = (
        fields.per_language(entries["description"][1], sink, "description", languages, max_len=300)
        if "description" in entries
        else {}
    )
    base_url = None
    if "base_url" in entries:
        node = entries["base_url"][1]
        base_url = fields.text(node, sink, "base_url")
        if base_url and not re.fullmatch(r"https?://[^/\s]+(/[^\s]*)?", base_url):
            sink.add(
                node.line,
                node.column,
                "base_url",
                f"'{base_url}' is not an http(s) address such as https://example.org",
            )
            base_url = None
    sections: list[Section] = []
    if "sections" in entries:
        sections = _parse_sections(entries["sections"][1], sink, languages)
    authors: list[Author] = []
    if "authors" in entries:
        authors = _parse_authors(entries["authors"][1], sink, languages)
    if sink or names is None or base_url is None or descriptions is None:
        return None
    for lang in languages:
        if lang not in names:
            sink.add(entries["name"][1].line, 1, "name", f"no name given for language '{lang}'")
    if sink:
        return None
    return Site(
        names,
        base_url.rstrip("/"),
        tuple(languages),
        tuple(sections),
        descriptions,
        tuple(authors),
    )


def _parse_sections(node: object, sink: FindingSink, languages: list[str]) -> list[Section]:
    if not isinstance(node, YMap):
        line, col = getattr(node, "line", 1), getattr(node, "column", 1)
        sink.add(line, col, "sections", "expected a mapping of section id to names per language")
        return []
    sections = []
    for section_id, (key, value) in node.entries.items():
        if not _SECTION_ID.fullmatch(section_id):
            sink.add(
                key.line,
                key.column,
                "sections",
                f"'{section_id}' is not a valid section id (lowercase words and hyphens)",
            )
            continue
        names = fields.per_language(value, sink, f"sections.{section_id}", languages)
        if names is not None:
            sections.append(Section(section_id, names))
    return sections


def _parse_authors(node: object, sink: FindingSink, languages: list[str]) -> list[Author]:
    if not isinstance(node, YMap):
        line, col = getattr(node, "line", 1), getattr(node, "column", 1)
        sink.add(line, col, "authors", "expected a mapping of author slug to name, bio and url")
        return []
    authors = []
    for slug, (key, value) in node.entries.items():
        field_ = f"authors.{slug}"
        if not _SECTION_ID.fullmatch(slug):
            sink.add(key.line, key.column, "authors", f"'{slug}' is not a slug (a-z, 0-9, hyphens)")
            continue
        if not isinstance(value, YMap):
            sink.add(value.line, value.column, field_, "expected name (and bio, url)")
            continue
        fields.check_keys(value, AUTHOR_KEYS, ("name",), sink, what=field_)
        entries = value.entries
        name = (
            fields.text(entries["name"][1], sink, f"{field_}.name", max_len=100)
            if "name" in entries
            else None
        )
        bios = {}
        if "bio" in entries:
            bios = (
                fields.per_language(
                    entries["bio"][1], sink, f"{field_}.bio", languages, max_len=300
                )
                or {}
            )
        url = None
        if "url" in entries:
            url = fields.text(entries["url"][1], sink, f"{field_}.url")
            if url and not re.fullmatch(r"https?://[^\s]+", url):
                where = entries["url"][1]
                sink.add(
                    where.line, where.column, f"{field_}.url", f"'{url}' is not an http(s) address"
                )
                url = None
        if name is not None:
            authors.append(Author(slug, name, bios, url))
    return authors
