"""The copy desk: an issue folder's files read and checked, each verdict kept by what it
depends on (the bytes, the code, the languages of site.yml) so that no stage reads a file
twice; its section is checked against site.yml where the verdict is used.

validate checks the files a commit brings; index decides the folder from those verdicts
and the ones it kept, and reads anew only what it has no verdict for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, replace

from broadsheet.content.article import Article, parse_article, section_problem
from broadsheet.content.findings import Finding, FindingSink
from broadsheet.content.issue import (
    LINK_FOUND,
    SUBMODULE_FOUND,
    Issue,
    order_findings,
    parse_issue,
)
from broadsheet.content.photo import SPEC, Photo, examine
from broadsheet.content.site import Site
from broadsheet.content.validation import Verdict, judge_issue
from broadsheet.content.version import code_version
from broadsheet.pipeline.manifest import ISSUE_FILE, SUBMODULE, SYMLINK, Tree
from broadsheet.pipeline.messages import Checked, Examined

Read = Callable[[str], bytes]  # a blob's bytes by its id


def checked_against(site: Site) -> Site:
    """The part of site.yml an article is checked against, its languages: all the checker
    is given, so a verdict cannot depend on more than its version. The section is
    checked where the verdict is used (``judged``)."""
    return Site(names={}, base_url="", languages=site.languages, sections=())


def verdict_version(site: Site) -> str:
    """What a file's verdict depends on besides its bytes: the code, and the part of
    site.yml it is checked against. A site.yml edit that renames the paper, describes an
    author or adds a section re-checks nothing."""
    part = json.dumps(checked_against(site).languages)
    return hashlib.sha256(f"{code_version()}\0{part}".encode()).hexdigest()[:16]


def judged(verdicts: Iterable[Checked], site: Site) -> list[Checked]:
    """``judge`` for each verdict."""
    return [judge(checked, site) for checked in verdicts]


def judge(checked: Checked, site: Site) -> Checked:
    """The verdict as site.yml's sections see it: a file whose section site.yml lacks is
    refused, with the finding ``parse_article`` would have given it."""
    if checked.section is None:
        return checked
    value, line, column = checked.section
    problem = section_problem(value, site)
    if problem is None:
        return checked
    finding = Finding(checked.path, line, column, "section", problem)
    return replace(checked, facts=None, findings=[*checked.findings, asdict(finding)])


def _link_finding(path: str, mode: str) -> Finding:
    return Finding(path, 1, 1, None, LINK_FOUND if mode == SYMLINK else SUBMODULE_FOUND)


def check_article(
    path: str,
    mode: str,
    blob: str,
    read: Read,
    number: int,
    site: Site,
    version: str,
    *,
    typeset: bool = False,
    now: dt.datetime | None = None,
) -> tuple[Checked, str | None]:
    """One article file checked on its own, as ``broadsheet validate`` checks it; with
    ``typeset`` its body's HTML comes back too."""
    if mode in (SYMLINK, SUBMODULE):
        return Checked(path, blob, version, None, [asdict(_link_finding(path, mode))]), None
    sink = FindingSink(path)
    slug = path.rsplit("/", 1)[1].removesuffix(".md")
    against = checked_against(site)
    placed: list[tuple[str, int, int]] = []
    article = parse_article(
        path, read(blob), number, slug, against, sink, render=typeset, now=now, section_at=placed
    )
    section = list(placed[0]) if placed else None
    if article is None or sink.findings:
        findings = [asdict(f) for f in sink.findings]
        return Checked(path, blob, version, None, findings, section=section), None
    facts = article.facts()
    html = facts.pop("body_html")
    return Checked(path, blob, version, facts, [], typeset, section), html if typeset else None


def article_of(checked: Checked, number: int) -> Article | None:
    if checked.facts is None:
        return None
    slug = checked.path.rsplit("/", 1)[1].removesuffix(".md")
    return Article.from_facts(checked.facts, checked.path, number, slug)


def findings_of(checked: Checked) -> list[Finding]:
    return [Finding(**f) for f in checked.findings]


def issue_file(
    tree: Tree | None, number: int, site: Site, read: Read
) -> tuple[Issue | None, str | None, list[Finding]]:
    """The folder's issue.yml: the issue, its blob, and its findings."""
    path = f"issues/{number}/{ISSUE_FILE}"
    entry = tree.files.get(ISSUE_FILE) if tree else None
    if entry is None:
        missing = Finding(
            path, 1, 1, None, f"issue {number} has no issue.yml: add one with its number and date"
        )
        return None, None, [missing]
    mode, blob = entry
    if mode in (SYMLINK, SUBMODULE):
        return None, blob, [_link_finding(path, mode)]
    sink = FindingSink(path)
    issue = parse_issue(read(blob), sink, number, site)
    found = order_findings(issue, path, tree.articles()) if issue and tree else []
    return issue, blob, sink.findings + found


def _by_key(known: Iterable[Checked]) -> dict[tuple[str, str, str], Checked]:
    cache: dict[tuple[str, str, str], Checked] = {}
    for checked in known:  # a verdict of the typesetter is worth more than the checker's
        key = (checked.path, checked.blob, checked.version)
        if key not in cache or checked.typeset:
            cache[key] = checked
    return cache


def unread(
    tree: Tree | None, number: int, version: str, known: Iterable[Checked] = ()
) -> list[str]:
    """The blobs ``check_folder`` will read: the article files no verdict is known for."""
    cache = _by_key(known)
    return [
        blob
        for name, (mode, blob) in (tree.articles() if tree else {}).items()
        if mode not in (SYMLINK, SUBMODULE)
        and (f"issues/{number}/{name}", blob, version) not in cache
    ]


def check_folder(
    tree: Tree | None,
    number: int,
    site: Site,
    version: str,
    read: Read,
    known: Iterable[Checked] = (),
    now: dt.datetime | None = None,
) -> list[Checked]:
    """A verdict for every article file of the folder, reusing those already known."""
    cache = _by_key(known)
    verdicts = []
    for name, (mode, blob) in sorted((tree.articles() if tree else {}).items()):
        path = f"issues/{number}/{name}"
        found = cache.get((path, blob, version))
        if found is None:
            found = check_article(path, mode, blob, read, number, site, version, now=now)[0]
        verdicts.append(found)
    return verdicts


def decide(
    number: int,
    verdicts: Iterable[Checked],
    accepted: Mapping[str, Article],
    media: Mapping[str, Photo] | None = None,
    published_media: Mapping[str, Photo] | None = None,
    successors: Mapping[str, str] | None = None,
) -> Verdict:
    """The folder decided from its files' verdicts, its photographs, and what was
    accepted before (the articles, the photographs they used, and where the renames of
    those the folder no longer holds lead)."""
    committed = []
    for checked in verdicts:
        slug = checked.path.rsplit("/", 1)[1].removesuffix(".md")
        committed.append((slug, article_of(checked, number), findings_of(checked)))
    return judge_issue(number, committed, accepted, media, published_media, successors)


def examine_media(
    tree: Tree | None,
    wanted: Iterable[str],
    read: Read,
    known: Iterable[Examined] = (),
) -> list[Examined]:
    """Each photograph the articles ask for that the folder holds, examined (or known)."""
    cache = {(e.name, e.blob): e for e in known if e.spec == SPEC}
    found = []
    for src in sorted(set(wanted)):
        entry = tree.files.get(src) if tree else None
        if entry is None:
            continue
        mode, blob = entry
        examined = cache.get((src, blob))
        if examined is None:
            if mode in (SYMLINK, SUBMODULE):
                photo = Photo(src, "", "", 0, 0, "is a symbolic link: commit the file itself")
            else:
                photo = examine(src, read(blob))
            examined = Examined(src, blob, SPEC, photo.facts())
        found.append(examined)
    return found


def photos(examined: Iterable[Examined]) -> dict[str, Photo]:
    return {e.name: Photo.from_facts(e.facts) for e in examined}


def published_photos(
    examined: Iterable[Examined], accepted: Iterable[Checked]
) -> dict[str, Examined]:
    """The photographs the accepted articles use, as they were examined: what a commit
    that deletes or breaks one of them holds back."""
    used = wanted(accepted)
    return {e.name: e for e in examined if e.name in used}


def wanted(verdicts: Iterable[Checked], accepted: Iterable[Checked] = ()) -> set[str]:
    """The photographs the articles of a folder use (held-back versions included)."""
    found = set()
    for checked in [*verdicts, *accepted]:
        for ref in (checked.facts or {}).get("photos", []):
            found.add(ref["src"])
    return found
