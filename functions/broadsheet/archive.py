"""The archive on disk: ``content/site.yml``, ``content/issues/<n>/`` and their articles."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .article import Article, check_slug, parse_article, source_hash
from .articlecache import ArticleCache
from .findings import Finding, FindingSink
from .issue import Issue, parse_issue
from .site import Site, parse_site
from .validation import Entry, check_archive

_ISSUE_FOLDER = re.compile(r"[1-9][0-9]{0,5}")
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
class _Job:
    path: Path
    issue: int
    slug: str
    site: Site
    keep_body: bool
    render: bool
    cache: ArticleCache | None


def _read(job: _Job) -> tuple[Article | None, list[Finding]]:
    where = label(job.path)
    sink = FindingSink(where)
    try:
        data = job.path.read_bytes()
    except OSError as error:
        return None, [Finding(where, 1, 1, None, f"cannot read the file: {error.strerror}")]
    article = None
    if job.cache is not None and check_slug(job.slug) is None:
        article = job.cache.get(source_hash(data), where, job.issue, job.slug)
        if article is not None and job.render and not article.body_html:
            article = None
    if article is None:
        article = parse_article(where, data, job.issue, job.slug, job.site, sink, render=job.render)
        if article is not None and job.cache is not None and job.render:
            job.cache.put(article)
    if article is not None and not job.keep_body:
        # What travels back from a worker process stays small: bodies stay in the cache.
        article = dataclasses.replace(article, body="", body_html="")
    return article, sink.findings


def _map(jobs: list[_Job], workers: int | None) -> Iterator[tuple[Article | None, list[Finding]]]:
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers <= 1 or len(jobs) < PARALLEL_FROM:
        yield from map(_read, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_read, jobs, chunksize=max(16, len(jobs) // (workers * 8)))


def _article_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix == ".md" and p.is_file() and not p.name.startswith(".")
    )


def load_archive(
    root: Path,
    *,
    keep_bodies: bool = True,
    render: bool = False,
    cache: ArticleCache | None = None,
    workers: int | None = None,
    on_progress: Callable[[], object] | None = None,
) -> Archive:
    """Read and check every source under ``root``; findings cover every file.

    With ``render`` each valid article is typeset and put in ``cache`` (a hit skips the
    work); ``keep_bodies=False`` leaves bodies there instead of returning them.
    """
    site_path = root / "site.yml"
    archive = Archive(root, None)
    sink = FindingSink(label(site_path))
    try:
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
        return archive

    issues_dir = root / "issues"
    jobs: list[_Job] = []
    for folder in sorted(issues_dir.iterdir() if issues_dir.is_dir() else []):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        if not _ISSUE_FOLDER.fullmatch(folder.name):
            archive.findings.append(
                Finding(
                    label(folder),
                    1,
                    1,
                    None,
                    f"issue folder '{folder.name}' is not an issue "
                    "number (1, 2, … without leading zeros)",
                )
            )
            continue
        number = int(folder.name)
        issue_file = folder / "issue.yml"
        issue_sink = FindingSink(label(issue_file))
        if issue_file.is_file():
            issue = parse_issue(issue_file.read_bytes(), issue_sink, number, site)
            if issue is not None:
                archive.issues[number] = issue
            archive.files_checked += 1
        else:
            issue_sink.add(
                1, 1, None, f"issue {number} has no issue.yml: add one with its number and date"
            )
        archive.findings.extend(issue_sink.findings)
        jobs.extend(
            _Job(path, number, path.stem, site, keep_bodies, render, cache)
            for path in _article_files(folder)
        )

    broken = []
    for job, (article, findings) in zip(jobs, _map(jobs, workers), strict=True):
        archive.files_checked += 1
        archive.findings.extend(findings)
        if article is None:
            broken.append((job.issue, job.slug))
        else:
            archive.articles.append(article)
        if on_progress is not None:
            on_progress()
    archive.findings.extend(
        check_archive(archive.articles, [Entry.of(a) for a in archive.articles], broken)
    )
    archive.findings.sort()
    invalid = {f.path for f in archive.findings}
    archive.articles = [
        a for a in archive.articles if a.path not in invalid and a.issue in archive.issues
    ]
    return archive
