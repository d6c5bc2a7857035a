"""An issue of the newspaper: its number, date, optional titles and article order."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from broadsheet.content import fields
from broadsheet.content.findings import Finding, FindingSink
from broadsheet.content.reader import YScalar, YSeq, read_yaml_file
from broadsheet.content.site import Site

ISSUE_KEYS = ("number", "date", "title", "order")
# Where things live: issues/<number>/<slug>.md, issues/<number>/issue.yml and
# issues/<number>/media/<file>. Hidden files (editors' swap and lock files) are skipped.
ISSUE_FOLDER = re.compile(r"[1-9][0-9]{0,5}")
MARKDOWN = {"md", "markdown", "mdown", "mkd", "mkdn"}
FOLDER = "is not an issue number (1, 2, … without leading zeros)"
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_SLUG = 80


@dataclass(frozen=True)
class Issue:
    number: int
    date: dt.date
    titles: dict[str, str]
    order: tuple[str, ...] = ()
    # Where each slug of ``order`` is written (line, column), for findings about it.
    order_at: tuple[tuple[int, int], ...] = field(default=(), compare=False, repr=False)


def parse_issue(data: bytes, sink: FindingSink, folder_number: int, site: Site) -> Issue | None:
    root = read_yaml_file(data, sink)
    if root is None:
        return None
    fields.check_keys(root, ISSUE_KEYS, ("number", "date"), sink, what="issue.yml")
    entries = root.entries
    number = None
    if "number" in entries:
        node = entries["number"][1]
        if (
            isinstance(node, YScalar)
            and node.kind == "int"
            and isinstance(node.value, int)
            and node.value > 0
        ):
            number = node.value
            if number != folder_number:
                sink.add(
                    node.line,
                    node.column,
                    "number",
                    f"{number} does not match its folder issues/{folder_number}/",
                )
                number = None
        else:
            sink.add(
                node.line,
                node.column,
                "number",
                f"expected a whole number above 0, got {fields.describe(node)}",
            )
    date = fields.date(entries["date"][1], sink, "date") if "date" in entries else None
    titles: dict[str, str] | None = {}
    if "title" in entries:
        # A title in a language site.yml no longer has (a language removed) is ignored
        # with a warning: one edit to site.yml must not withdraw every issue.
        titles = fields.per_language(
            entries["title"][1], sink, "title", site.languages, other_languages_warn=True
        )
    order: list[str] | None = []
    order_at: tuple[tuple[int, int], ...] = ()
    if "order" in entries:
        node = entries["order"][1]
        if isinstance(node, YSeq):
            order_at = tuple((item.line, item.column) for item in node.items)
        order = fields.text_list(node, sink, "order")
        for slug in order or []:
            if not SLUG.fullmatch(slug):
                sink.add(node.line, node.column, "order", f"'{slug}' is not a valid slug")
    if sink or number is None or date is None or titles is None or order is None:
        return None
    return Issue(number, date, titles, tuple(order), order_at)


def order_findings(issue: Issue, path: str, names: Iterable[str]) -> list[Finding]:
    """``order`` naming no article file of the folder (``names``, the file names): a
    finding with the nearest slug, though the issue still publishes (a slug unknown
    leads nothing, so deleting an article that leads never takes its issue down)."""
    slugs = {name.removesuffix(".md") for name in names if name.endswith(".md")}
    found = []
    for rank, slug in enumerate(issue.order):
        if slug not in slugs:
            line, column = issue.order_at[rank] if rank < len(issue.order_at) else (1, 1)
            found.append(
                Finding(
                    path,
                    line,
                    column,
                    "order",
                    f"no article '{slug}' in issues/{issue.number}/: give an article's file "
                    f"name without .md{fields.did_you_mean(slug, sorted(slugs))}",
                )
            )
    return found


def is_article_name(name: str) -> bool:
    """Whether a file name inside an issue folder is read as an article."""
    return name.endswith(".md") and not name.startswith(".") and "/" not in name


# A symbolic link is refused wherever a source is read: followed, it could publish any
# file of the machine; published, it would be its target's name, not its text.
LINK_FOUND = "is a symbolic link: commit the file itself"
# A git submodule holds another repository's commit, not files of this one: neither the
# build (which sees a folder with a .git in it) nor the pipeline (which sees a gitlink)
# reads anything from it, and both say so on its path in these words.
SUBMODULE_FOUND = "is a git submodule: nothing in it is read; commit its files here instead"


def misplaced(path: str) -> tuple[str, str] | None:
    """Why a file under ``issues/`` (a content-relative path) that looks meant to be
    published will not be, as (where, message); None for what is read or plainly not
    an article. An editor who names a file ``Strike.MD`` or puts it one folder too deep
    hears so, instead of seeing it silently left out."""
    parts = path.split("/")
    if parts[0] != "issues" or len(parts) < 2 or any(p.startswith(".") for p in parts):
        return None
    if len(parts) >= 3 and not ISSUE_FOLDER.fullmatch(parts[1]):
        return "/".join(parts[:2]), f"issue folder '{parts[1]}' {FOLDER}"
    stem, dot, extension = parts[-1].rpartition(".")
    if not dot or extension.strip().lower() not in MARKDOWN:  # "x.md " is meant too
        return None
    if len(parts) == 2:
        return path, "an article lives in its issue's folder: move it to issues/<number>/"
    if len(parts) > 3:
        return path, (
            f"is not read: articles sit directly in issues/{parts[1]}/, not in a subfolder"
        )
    if extension != "md":
        return path, f"is not read as an article: name it {stem.strip().lower()}.md"
    return None
