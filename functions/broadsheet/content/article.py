"""An article: one Markdown file with YAML front matter, named by its slug."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from broadsheet.content import fields
from broadsheet.content.findings import FindingSink
from broadsheet.content.folding import fold
from broadsheet.content.issue import MAX_SLUG, SLUG
from broadsheet.content.photo import PhotoRef, alt_problem, src_problem
from broadsheet.content.reader import YMap, YNode, YSeq, decode_source, read_front_matter
from broadsheet.content.site import Site

ARTICLE_KEYS = (
    "title",
    "language",
    "date",
    "dateline",
    "section",
    "authors",
    "summary",
    "translation_of",
    "tags",
    "status",
    "publish_at",
    "image",
    "updated",
    "corrections",
)
IMAGE_KEYS = ("src", "alt", "caption", "credit")
CORRECTION_KEYS = ("date", "text")
MAX_CORRECTION = 500
MAX_CORRECTIONS = 20
# A date a little ahead of the clock is a time zone, not a mistake.
SKEW = dt.timedelta(days=1)


@dataclass(frozen=True)
class Correction:
    """A correction printed on the article: its date, and its text as written and as HTML."""

    date: dt.date
    text: str
    html: str


MAX_CAPTION = 300
REQUIRED_KEYS = ("title", "language", "date", "dateline")
STATUSES = ("published", "draft")
MAX_TITLE = 200
MAX_SUMMARY = 300
MAX_DATELINE = 100
MAX_AUTHORS = 20  # names in one byline
MAX_TAGS = 20
MAX_NAME = 100  # characters of one author's name
MAX_TAG = 50


@dataclass(frozen=True)
class Article:
    path: str
    issue: int
    slug: str
    title: str
    language: str
    date: dt.date
    dateline: str
    body: str
    body_line: int
    source_hash: str
    section: str | None = None
    authors: tuple[str, ...] = ()
    summary: str | None = None
    translation_of: str | None = None
    tags: tuple[str, ...] = ()
    status: str = "published"
    body_html: str = field(default="", compare=False, repr=False)
    publish_at: dt.datetime | None = None
    # its photographs: the lead image (if any) first, then the body's, in order
    photos: tuple[PhotoRef, ...] = ()
    updated: dt.datetime | None = None  # the last significant change, if any
    corrections: tuple[Correction, ...] = ()
    # file line of each front-matter key, so archive-wide checks can point at it
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> tuple[int, str]:
        return self.issue, self.slug

    @property
    def published_at(self) -> dt.datetime:
        """When readers may see it: the embargo, or midnight UTC of its date."""
        if self.publish_at is not None:
            return self.publish_at.astimezone(dt.UTC)
        return dt.datetime.combine(self.date, dt.time(0, 0), tzinfo=dt.UTC)

    def is_public(self, now: dt.datetime) -> bool:
        return self.status == "published" and self.published_at <= now

    def without_bodies(self) -> Article:
        """The article as facts alone: cheap to send between processes."""
        return dataclasses.replace(self, body="", body_html="")

    def facts(self) -> dict[str, Any]:
        """What was learnt by reading the source, as JSON: everything but the Markdown
        and where the file is (a cache entry or a message names those itself)."""
        return {
            "title": self.title,
            "language": self.language,
            "date": self.date.isoformat(),
            "dateline": self.dateline,
            "body_line": self.body_line,
            "source_hash": self.source_hash,
            "section": self.section,
            "authors": list(self.authors),
            "summary": self.summary,
            "translation_of": self.translation_of,
            "tags": list(self.tags),
            "status": self.status,
            "publish_at": self.publish_at.isoformat() if self.publish_at else None,
            "lines": dict(self.lines),
            "photos": [p.facts() for p in self.photos],
            "updated": self.updated.isoformat() if self.updated else None,
            "corrections": [
                {"date": c.date.isoformat(), "text": c.text, "html": c.html}
                for c in self.corrections
            ],
            "body_html": self.body_html,
        }

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any], path: str, issue: int, slug: str) -> Article:
        publish_at = facts["publish_at"]
        return cls(
            path=path,
            issue=issue,
            slug=slug,
            title=facts["title"],
            language=facts["language"],
            date=dt.date.fromisoformat(facts["date"]),
            dateline=facts["dateline"],
            body="",
            body_line=facts["body_line"],
            source_hash=facts["source_hash"],
            section=facts["section"],
            authors=tuple(facts["authors"]),
            summary=facts["summary"],
            translation_of=facts["translation_of"],
            tags=tuple(facts["tags"]),
            status=facts["status"],
            publish_at=dt.datetime.fromisoformat(publish_at) if publish_at else None,
            lines=dict(facts["lines"]),
            photos=tuple(PhotoRef(**p) for p in facts.get("photos", [])),
            updated=dt.datetime.fromisoformat(facts["updated"]) if facts.get("updated") else None,
            corrections=tuple(
                Correction(dt.date.fromisoformat(c["date"]), c["text"], c["html"])
                for c in facts.get("corrections", [])
            ),
            body_html=facts.get("body_html", ""),
        )

    @property
    def lead(self) -> PhotoRef | None:
        return self.photos[0] if self.photos and self.photos[0].lead else None


def check_slug(slug: str) -> str | None:
    """Why a file name is not a slug, or None when it is one."""
    if len(slug) > MAX_SLUG:
        return f"file name '{slug}' is {len(slug)} characters; a slug has at most {MAX_SLUG}"
    if not SLUG.fullmatch(slug):
        return (
            f"file name '{slug}' is not a valid slug: use lowercase a-z, 0-9 and single "
            "hyphens, e.g. port-workers-strike.md"
        )
    return None


def _lead_image(node: YNode, sink: FindingSink) -> PhotoRef | None:
    """``image: {src, alt, caption, credit}``: the lead photograph."""
    if not isinstance(node, YMap):
        sink.add(
            node.line,
            node.column,
            "image",
            f"expected src and alt (and a caption and credit if you like), got "
            f"{fields.describe(node)}",
        )
        return None
    before = len(sink.findings)
    fields.check_keys(node, IMAGE_KEYS, ("src", "alt"), sink, what="image")
    entries = node.entries
    src = fields.text(entries["src"][1], sink, "image.src") if "src" in entries else None
    alt = fields.text(entries["alt"][1], sink, "image.alt", min_len=0) if "alt" in entries else None
    caption = credit = ""
    if "caption" in entries:
        caption = (
            fields.text(entries["caption"][1], sink, "image.caption", max_len=MAX_CAPTION) or ""
        )
    if "credit" in entries:
        credit = fields.text(entries["credit"][1], sink, "image.credit", max_len=MAX_NAME) or ""
    if src is not None:
        problem = src_problem(src)
        if problem:
            where = entries["src"][1]
            sink.add(where.line, where.column, "image.src", problem)
    if src is not None and alt is not None:
        problem = alt_problem(alt, src)
        if problem:
            where = entries["alt"][1]
            sink.add(where.line, where.column, "image.alt", problem)
    if len(sink.findings) > before or src is None or alt is None:
        return None
    where = entries["src"][1]
    line = where.line + sink.line_offset  # the file's line, as the issue's checks report it
    return PhotoRef(src, alt.strip(), caption, credit, True, line, where.column)


def _distinct(names: list[str], node: YNode, sink: FindingSink, field: str) -> bool:
    """Whether no two names make the same page (``Huelga`` and ``huelga!``), nor none."""
    seen: dict[str, str] = {}
    for name in names:
        key = fold(name)
        if not key:
            sink.add(
                node.line, node.column, field, f"'{name}' has no letter or digit to name a page by"
            )
            return False
        if key in seen:
            sink.add(
                node.line,
                node.column,
                field,
                f"'{seen[key]}' and '{name}' would share one page (/{key}/): "
                "write them the same way",
            )
            return False
        seen[key] = name
    return True


def _when(
    day: dt.date,
    first: dt.date | None,
    now: dt.datetime | None,
    node: YNode,
    sink: FindingSink,
    field: str,
) -> bool:
    """A change's date lies between the article's and now."""
    if first is not None and day < first:
        sink.add(node.line, node.column, field, f"{day} is before the article's date, {first}")
        return False
    if now is not None and dt.datetime.combine(day, dt.time(), dt.UTC) > now + SKEW:
        sink.add(
            node.line, node.column, field, f"{day} is in the future: date a change when it is made"
        )
        return False
    return True


def _corrections(
    node: YNode, sink: FindingSink, first: dt.date | None, now: dt.datetime | None, language: str
) -> tuple[Correction, ...] | None:
    """``corrections: [{date, text}]``, newest last as written."""
    if not isinstance(node, YSeq):
        sink.add(
            node.line, node.column, "corrections", "expected a list of '- date: …' / '  text: …'"
        )
        return None
    if len(node.items) > MAX_CORRECTIONS:
        sink.add(
            node.line,
            node.column,
            "corrections",
            f"lists {len(node.items)}; at most {MAX_CORRECTIONS}",
        )
        return None
    from broadsheet.content.typeset import inline

    found: list[Correction] = []
    before = len(sink.findings)
    for item in node.items:
        if not isinstance(item, YMap):
            sink.add(
                item.line, item.column, "corrections", "each correction needs a date and a text"
            )
            continue
        fields.check_keys(item, CORRECTION_KEYS, CORRECTION_KEYS, sink, what="a correction")
        entries = item.entries
        day = (
            fields.date(entries["date"][1], sink, "corrections.date") if "date" in entries else None
        )
        if day is not None and not _when(
            day, first, now, entries["date"][1], sink, "corrections.date"
        ):
            day = None
        text = None
        if "text" in entries:
            where = entries["text"][1]
            text = fields.text(where, sink, "corrections.text", max_len=MAX_CORRECTION)
            html = (
                inline(
                    text,
                    where.line,
                    where.column,
                    language,
                    sink,
                    "corrections.text",
                )
                if text is not None
                else None
            )
        if day is not None and text is not None and html is not None:
            found.append(Correction(day, text, html))
    return None if len(sink.findings) > before else tuple(found)


def section_problem(value: str, site: Site) -> str | None:
    """Why an article's ``section`` is not one of site.yml's, or None."""
    ids = [section.id for section in site.sections]
    return fields.choice_problem(value, ids, where="the sections in site.yml")


def source_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_article(
    path: str,
    data: bytes,
    issue: int,
    slug: str,
    site: Site,
    sink: FindingSink,
    *,
    render: bool = False,
    now: dt.datetime | None = None,
    section_at: list[tuple[str, int, int]] | None = None,
) -> Article | None:
    """Check one article on its own; every problem found goes to ``sink``.

    Given ``section_at``, the section is not checked against site.yml: its value and
    place (line, column) are appended there for the caller to check with
    ``section_problem``, so that what comes back does not depend on the sections.

    With ``render`` the body's HTML comes back too. ``now`` is the clock dates of
    changes are checked against (none may lie ahead of it): the time of the commit in
    the pipeline, the time of the check or the build here.
    """
    problem = check_slug(slug)
    if problem:
        sink.add(1, 1, None, problem)
    text = decode_source(data, sink)
    if text is None:
        return None
    front = read_front_matter(text, sink)
    if front is None:
        return None
    entries = front.fields.entries
    offset = front.yaml_line - 1
    local = FindingSink(path, line_offset=offset)
    fields.check_keys(front.fields, ARTICLE_KEYS, REQUIRED_KEYS, local, what="front matter")
    values: dict[str, object] = {}

    def take(key: str, read: object) -> None:
        if key in entries:
            values[key] = read

    node = {key: value for key, (_k, value) in entries.items()}
    if "title" in node:
        take("title", fields.text(node["title"], local, "title", max_len=MAX_TITLE))
    if "language" in node:
        take(
            "language",
            fields.choice(
                node["language"],
                local,
                "language",
                site.languages,
                where="the languages in site.yml",
            ),
        )
    if "date" in node:
        take("date", fields.date(node["date"], local, "date"))
    if "dateline" in node:
        take("dateline", fields.text(node["dateline"], local, "dateline", max_len=MAX_DATELINE))
    if "section" in node:
        n = node["section"]
        section = fields.text(n, local, "section")
        if section is not None and section_at is not None:
            section_at.append((section, n.line + offset, n.column))
        elif section is not None and (problem := section_problem(section, site)):
            local.add(n.line, n.column, "section", problem)
            section = None
        take("section", section)
    if "authors" in node:
        authors = fields.text_list(
            node["authors"], local, "authors", max_len=MAX_NAME, max_items=MAX_AUTHORS
        )
        if authors is not None and not _distinct(authors, node["authors"], local, "authors"):
            authors = None
        take("authors", tuple(authors) if authors is not None else None)
    if "summary" in node:
        take("summary", fields.text(node["summary"], local, "summary", max_len=MAX_SUMMARY))
    if "translation_of" in node:
        target = fields.text(node["translation_of"], local, "translation_of")
        if target is not None and check_slug(target):
            n = node["translation_of"]
            local.add(
                n.line,
                n.column,
                "translation_of",
                f"'{target}' is not a slug: give the other article's file name without .md",
            )
            target = None
        take("translation_of", target)
    if "tags" in node:
        tags = fields.text_list(node["tags"], local, "tags", max_len=MAX_TAG, max_items=MAX_TAGS)
        if tags is not None and not _distinct(tags, node["tags"], local, "tags"):
            tags = None
        take("tags", tuple(tags) if tags is not None else None)
    if "status" in node:
        take(
            "status", fields.choice(node["status"], local, "status", STATUSES, where="the statuses")
        )
    if "publish_at" in node:
        take("publish_at", fields.datetime_with_offset(node["publish_at"], local, "publish_at"))
    lead = _lead_image(node["image"], local) if "image" in node else None
    day = values.get("date")
    first = day if isinstance(day, dt.date) else None
    language = str(values.get("language") or site.default_language)
    if "updated" in node:
        updated = fields.datetime_with_offset(node["updated"], local, "updated")
        if updated is not None and not _when(
            updated.date(), first, now, node["updated"], local, "updated"
        ):
            updated = None
        take("updated", updated)
    if "corrections" in node:
        take("corrections", _corrections(node["corrections"], local, first, now, language))
    if values.get("translation_of") == slug:
        n = node["translation_of"]
        local.add(n.line, n.column, "translation_of", "an article cannot translate itself")
    sink.findings.extend(local.findings)
    # Imported here: markdown-it is for the stages that typeset, not for every cold start.
    from broadsheet.content.typeset import typeset

    body = typeset(front.body, front.body_line, language, sink, render=render)
    if (
        sink
        or body is None
        or any(value is None for value in values.values())
        or any(key not in values for key in REQUIRED_KEYS)
    ):
        return None
    values.setdefault("summary", body.excerpt)
    if "image" in node:
        if lead is None:
            return None
        values["photos"] = (lead, *body.photos)
    else:
        values["photos"] = body.photos
    lines = {key: key_node.line + offset for key, (key_node, _v) in entries.items()}
    return Article(
        path=path,
        issue=issue,
        slug=slug,
        body=front.body,
        body_line=front.body_line,
        source_hash=source_hash(data),
        lines=lines,
        body_html=body.html,
        **values,  # type: ignore[arg-type]
    )
