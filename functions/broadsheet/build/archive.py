"""The archive on disk: ``content/site.yml``, ``content/issues/<n>/`` and their articles."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from broadsheet.build.cache import Shelf
from broadsheet.content.article import Article, check_slug, parse_article, source_hash
from broadsheet.content.findings import Finding, FindingSink, errors
from broadsheet.content.issue import (
    ISSUE_FOLDER,
    LINK_FOUND,
    SUBMODULE_FOUND,
    Issue,
    is_article_name,
    misplaced,
    order_findings,
    parse_issue,
)
from broadsheet.content.photo import Photo, examine
from broadsheet.content.site import Site, parse_site
from broadsheet.content.validation import Entry, Media, check_settled, in_no_site_language

PARALLEL_FROM = 400  # below this many articles a process pool costs more than it saves


@dataclass
class Archive:
    root: Path
    site: Site | None
    issues: dict[int, Issue] = field(default_factory=dict)
    articles: list[Article] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0


def label(path: Path) -> str:
    """How a path is shown to an editor: relative to where they stand when possible."""
    text = os.path.normpath(path)
    if not os.path.isabs(text):
        return text if not text.startswith("..") else str(Path(text).resolve())
    here = os.getcwd() + os.sep
    return text[len(here) :] if text.startswith(here) else text


@dataclass(frozen=True)
class IssueFolder:
    """An issue's folder as found: its number, its checked ``issue.yml``, its articles."""

    number: int
    issue: Issue | None
    files: tuple[Path, ...]
    where: str  # the folder as an editor is shown it
    media: dict[str, Path] = field(default_factory=dict)  # media/<name> -> its file

    def label(self, path: Path) -> str:
        return os.path.join(self.where, path.name)

    def photos(self, articles: Iterable[Article], shelf: Shelf | None = None) -> dict[str, Photo]:
        """The photographs the articles use that the folder holds, each examined."""
        found: dict[str, Photo] = {}
        for src in sorted({ref.src for a in articles for ref in a.photos}):
            path = self.media.get(src)
            if path is None:
                continue
            if path.is_symlink():
                found[src] = Photo(src, "", "", 0, 0, LINK)
                continue
            try:
                data = read_file(path)
            except OSError as error:
                found[src] = Photo(src, "", "", 0, 0, f"cannot be read: {error.strerror}")
                continue
            found[src] = shelf.photo(src, data) if shelf else examine(src, data)
        return found


def read_file(path: Path) -> bytes:
    """The file's bytes, in three system calls where ``Path.read_bytes`` makes seven.

    A build reads every source; on a virtual machine each call costs tens of µs.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_article(
    folder: IssueFolder,
    path: Path,
    site: Site,
    *,
    shelf: Shelf | None = None,
    keep_body: bool = True,
    now: dt.datetime | None = None,
) -> tuple[Article | None, list[Finding]]:
    """One article of ``folder`` checked on its own, with its findings.

    With a ``shelf`` it is typeset too, and kept there: a hit on the shelf skips the work.
    """
    where = folder.label(path)
    link = _link(path, where)
    if link is not None:
        return None, [link]
    sink = FindingSink(where)
    try:
        data = read_file(path)
    except OSError as error:
        return None, [Finding(where, 1, 1, None, f"cannot read the file: {error.strerror}")]
    slug = path.stem
    article = None
    if shelf is not None and check_slug(slug) is None:
        article = shelf.get(source_hash(data), where, slug)
    if article is None:
        article = parse_article(
            where, data, folder.number, slug, site, sink, render=shelf is not None, now=now
        )
        if article is not None and shelf is not None:
            shelf.put(article)
    if article is not None and not keep_body:
        article = article.without_bodies()
    return article, sink.findings


@dataclass(frozen=True)
class _Job:
    path: Path
    folder: IssueFolder
    site: Site
    keep_body: bool
    now: dt.datetime | None


def _read(job: _Job) -> tuple[Article | None, list[Finding]]:
    return read_article(job.folder, job.path, job.site, keep_body=job.keep_body, now=job.now)


def _map(jobs: list[_Job], workers: int | None) -> Iterator[tuple[Article | None, list[Finding]]]:
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers <= 1 or len(jobs) < PARALLEL_FROM:
        yield from map(_read, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_read, jobs, chunksize=max(16, len(jobs) // (workers * 8)))


def _article_files(folder: Path) -> tuple[Path, ...]:
    with os.scandir(folder) as found:  # the directory entry knows a file without a stat
        names = [
            e.name for e in found if is_article_name(e.name) and (e.is_symlink() or e.is_file())
        ]
    return tuple(folder / name for name in sorted(names))


def _media_files(folder: Path) -> dict[str, Path]:
    media = folder / "media"
    if not media.is_dir() or media.is_symlink():
        return {}
    with os.scandir(media) as found:
        return {f"media/{e.name}": media / e.name for e in found if not e.is_dir()}


LINK = LINK_FOUND


def _link(path: Path, where: str) -> Finding | None:
    """A symbolic link is refused wherever a source is read (``LINK_FOUND``)."""
    return Finding(where, 1, 1, None, LINK) if path.is_symlink() else None


def is_submodule(path: Path) -> bool:
    """A folder git keeps as another repository's commit: it holds a ``.git``."""
    return not path.is_symlink() and path.is_dir() and os.path.lexists(path / ".git")


def _misplaced(root: Path) -> list[Finding]:
    """A finding for each file under issues/ that looks meant to be read and will not
    be (``content.issue.misplaced``): the same rule the publisher applies."""
    found = {}
    for folder, dirs, files in os.walk(root / "issues"):
        relative = Path(folder).relative_to(root).as_posix()
        if is_submodule(Path(folder)):  # read as nothing, as the pipeline reads a gitlink
            found[(relative, SUBMODULE_FOUND)] = Finding(
                label(Path(folder)), 1, 1, None, SUBMODULE_FOUND
            )
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            stray = misplaced(f"{relative}/{name}")
            if stray:
                found[stray] = Finding(label(root / stray[0]), 1, 1, None, stray[1])
    return [found[k] for k in sorted(found)]


def open_archive(root: Path) -> tuple[Archive, list[IssueFolder]]:
    """``site.yml`` and every ``issue.yml`` read and checked; the articles only found."""
    site_path = root / "site.yml"
    archive = Archive(root, None)
    sink = FindingSink(label(site_path))
    try:
        if site_path.is_symlink():
            sink.add(1, 1, None, LINK)
        elif is_submodule(site_path):
            sink.add(1, 1, None, SUBMODULE_FOUND)
        else:
            archive.site = parse_site(site_path.read_bytes(), sink)
    except FileNotFoundError:
        sink.add(
            1,
            1,
            None,
            "site.yml is missing: the publication's names, languages and sections live there",
        )
    archive.files_checked += 1
    archive.findings.extend(sink.findings)
    site = archive.site
    if site is None:
        return archive, []

    issues_dir = root / "issues"
    archive.findings.extend(_misplaced(root))
    folders: list[IssueFolder] = []
    for folder in sorted(issues_dir.iterdir() if issues_dir.is_dir() else []):
        if folder.name.startswith("."):
            continue
        if folder.is_symlink():
            archive.findings.append(Finding(label(folder), 1, 1, None, LINK))
            continue
        if not folder.is_dir() or is_submodule(folder):
            continue  # a submodule: said by _misplaced
        if not ISSUE_FOLDER.fullmatch(folder.name):
            continue  # said by _misplaced
        number = int(folder.name)
        issue_file = folder / "issue.yml"
        issue_sink = FindingSink(label(issue_file))
        issue = None
        if issue_file.is_symlink():
            issue_sink.add(1, 1, None, LINK)
        elif issue_file.is_file():
            issue = parse_issue(issue_file.read_bytes(), issue_sink, number, site)
            if issue is not None:
                archive.issues[number] = issue
            archive.files_checked += 1
        else:
            issue_sink.add(
                1, 1, None, f"issue {number} has no issue.yml: add one with its number and date"
            )
        archive.findings.extend(issue_sink.findings)
        articles = _article_files(folder)
        if issue is not None:
            names = (path.name for path in articles)
            archive.findings.extend(order_findings(issue, label(issue_file), names))
        folders.append(IssueFolder(number, issue, articles, label(folder), _media_files(folder)))
    return archive, folders


def settle(archive: Archive, broken: list[tuple[int, str]], media: Media) -> None:
    """Check the articles read against each other and their photographs, then keep only
    the valid ones."""
    entries = [Entry.of(a) for a in archive.articles]
    gone = in_no_site_language(archive.findings)
    archive.findings.extend(check_settled(archive.articles, entries, broken, media, gone))
    archive.findings.sort()
    invalid = {f.path for f in errors(archive.findings)}
    archive.articles = [
        a for a in archive.articles if a.path not in invalid and a.issue in archive.issues
    ]


def load_archive(
    root: Path,
    *,
    keep_bodies: bool = True,
    workers: int | None = None,
    now: dt.datetime | None = None,
) -> Archive:
    """Read and check every source under ``root``; findings cover every file.

    ``keep_bodies=False`` returns the articles without their Markdown, which is all a
    check needs and keeps what workers send back small.
    """
    archive, folders = open_archive(root)
    if archive.site is None:
        return archive
    jobs = [
        _Job(path, folder, archive.site, keep_bodies, now)
        for folder in folders
        for path in folder.files
    ]
    broken = []
    for job, (article, findings) in zip(jobs, _map(jobs, workers), strict=True):
        archive.files_checked += 1
        archive.findings.extend(findings)
        if article is None:
            broken.append((job.folder.number, job.path.stem))
        else:
            archive.articles.append(article)
    media = {
        folder.number: folder.photos(a for a in archive.articles if a.issue == folder.number)
        for folder in folders
    }
    settle(archive, broken, media)
    return archive
