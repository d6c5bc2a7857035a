"""The whole site into a folder: what the site bucket would hold after publishing it all.

A full build is the incremental plan taken from an empty state, so it renders exactly
what the pipeline would, byte for byte. It runs one issue at a time, in parallel: a
worker reads, checks and typesets an issue's articles, then renders the pages that
depend on that issue alone (its articles, front pages, index JSON and sitemap) while the
bodies are still in its memory. Only the small issue documents come back; the few
site-wide listings are rendered from them at the end.

Whether an article is valid depends on its own issue only (slugs and translations never
cross issues), so a worker can decide what to publish before the whole archive is read.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from broadsheet import __version__
from broadsheet.adapters.pagefind import build_bundle, bundle_version
from broadsheet.build.archive import (
    PARALLEL_FROM,
    Archive,
    IssueFolder,
    open_archive,
    read_article,
    read_file,
    settle,
)
from broadsheet.build.cache import ArticleCache, BundleCache, Shelf
from broadsheet.content.article import Article
from broadsheet.content.findings import Finding, errors
from broadsheet.content.issue import Issue
from broadsheet.content.photo import Photo, variants
from broadsheet.content.site import Site
from broadsheet.content.validation import Entry, check_settled, in_no_site_language
from broadsheet.edition import beats, index, pages, search
from broadsheet.edition.index import IssueDoc
from broadsheet.edition.plan import State, issue_inputs, render_issue_output, site_wide, with_issues
from broadsheet.edition.search import SearchRecord
from broadsheet.errors import CommandError

Progress = Callable[[str, int], Callable[[], object]]
# Search blocks indexed at once: Pagefind runs threads of its own, but part of each run
# is one thread (reading, writing), which a second run beside it fills.
SEARCH_WORKERS = 2


@dataclass
class BuildReport:
    articles: int = 0
    pages: int = 0
    removed: int = 0
    findings: list[Finding] = field(default_factory=list)
    skipped: int = 0  # valid, but drafts or under embargo


def issue_doc(
    site: Site,
    issue: Issue,
    articles: Iterable[Article],
    now: dt.datetime,
    media: Mapping[str, Photo] | None = None,
) -> IssueDoc:
    """The index document publishing every public article of one issue would leave."""
    public = [index.entry(site, a, media) for a in articles if a.is_public(now)]
    return index.issue_doc(site, issue, public)


def published_state(site: Site, archive: Archive, now: dt.datetime) -> State:
    """The state publishing every public article of the archive would leave."""
    by_issue: dict[int, list[Article]] = {}
    for article in archive.articles:
        by_issue.setdefault(article.issue, []).append(article)
    return with_issues(
        site,
        (issue_doc(site, archive.issues[n], a, now) for n, a in by_issue.items()),
        index.utc(now),
    )


@dataclass
class _Job:
    """What every worker needs; forked workers inherit it instead of unpickling it."""

    site: Site
    cache: ArticleCache
    out: Path
    now: dt.datetime
    made: set[str] = field(default_factory=set)

    def write(self, key: str, data: bytes) -> None:
        folder = key.rpartition("/")[0]
        if folder not in self.made:
            os.makedirs(f"{self.out}/{folder}", exist_ok=True)
            self.made.add(folder)
        # A rebuild overwrites each page in place and then cuts it to length: truncating
        # first frees and reallocates every block, five times slower on this file system,
        # and Path.write_bytes makes twice the system calls. A build writes 10,000 pages.
        fd = os.open(f"{self.out}/{key}", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)


@dataclass
class _IssueBuilt:
    number: int
    articles: list[Article]  # without bodies: only what the archive-wide checks need
    findings: list[Finding]
    broken: list[tuple[int, str]]
    doc: IssueDoc | None
    written: list[str]
    media: dict[str, Photo]
    search: list[SearchRecord] = field(default_factory=list)


_job: _Job | None = None


def _build_issue(folder: IssueFolder) -> _IssueBuilt:
    job = _job
    assert job is not None
    shelf = job.cache.shelf(folder.number)
    built = _issue_with(job, folder, shelf)
    # Once, at the end: it keeps exactly the entries this build used, so a save before
    # the search words were asked for would drop them.
    shelf.save()
    return built


def _issue_with(job: _Job, folder: IssueFolder, shelf: Shelf) -> _IssueBuilt:
    site = job.site
    articles: list[Article] = []
    findings: list[Finding] = []
    broken: list[tuple[int, str]] = []
    for path in folder.files:
        article, found = read_article(folder, path, site, shelf=shelf, now=job.now)
        findings.extend(found)
        if article is None:
            broken.append((folder.number, path.stem))
        else:
            articles.append(article)
    media = folder.photos(articles, shelf)
    built = _IssueBuilt(
        folder.number, [a.without_bodies() for a in articles], findings, broken, None, [], media
    )
    if folder.issue is None:
        return built
    invalid = {f.path for f in errors(findings)}
    entries = [Entry.of(a) for a in articles]
    gone = in_no_site_language(findings)
    checked = check_settled(articles, entries, broken, {folder.number: media}, gone)
    invalid.update(f.path for f in errors(checked))
    valid = [a for a in articles if a.path not in invalid]
    doc = issue_doc(site, folder.issue, valid, job.now, media)
    if not doc["articles"]:
        return built
    built.doc = doc
    bodies = {a.slug: a.body_html for a in valid}
    built.search = search.records(site, doc, {a.slug: shelf.search_text(a) for a in valid})
    made = _Variants(folder, media)
    for output, made_from in issue_inputs(site, doc).items():
        if output.kind == "photo" and os.path.isfile(f"{job.out}/{output.key}"):
            pass  # named by its bytes: the file there is this very variant
        else:
            body = lambda _n, slug: bodies[slug]  # noqa: E731
            data = render_issue_output(site, output, made_from, body, made.file)
            job.write(output.key, data)
        built.written.append(output.key)
    return built


class _Variants:
    """A folder's photographs made into variants, each photograph once, when asked."""

    def __init__(self, folder: IssueFolder, media: dict[str, Photo]) -> None:
        self.folder = folder
        # By name and bytes: one photograph committed under two names has variants of each.
        self.photos = {(p.stem, p.digest): p for p in media.values() if p.problem is None}
        self.made: dict[str, bytes] = {}

    def file(self, number: int, name: str) -> bytes:
        if name not in self.made:
            stem, digest = name.split(".")[:2]
            photo = self.photos[(stem, digest)]
            data = read_file(self.folder.media[photo.name])
            self.made.update(variants(photo, data))
        return self.made[name]


def _search_files(
    grouped: Mapping[tuple[str, str], list[SearchRecord]], cache: BundleCache, workers: int
) -> dict[str, bytes]:
    """Each block's search bundle, from the cache or from Pagefind (``workers`` blocks
    side by side, each a process of its own), and each language's list of its blocks:
    the site's keys and bytes."""
    made: dict[tuple[str, str], dict[str, bytes]] = {}
    todo = {}
    for part, records in grouped.items():
        dumped = search.dumps(records)
        cached = cache.get(*part, dumped)
        if cached is None:
            todo[part] = (records, dumped)
        else:
            made[part] = cached
    with ThreadPoolExecutor(max(1, min(workers, len(todo)))) as pool:
        running = {
            part: pool.submit(build_bundle, part[0], recs) for part, (recs, _) in todo.items()
        }
        for part, future in running.items():
            made[part] = future.result()
            cache.put(*part, todo[part][1], made[part])
    files: dict[str, bytes] = {}
    listed: dict[str, list[str]] = {}
    for (language, block), bundle in sorted(made.items()):
        for name, data in bundle.items():
            files[search.bundle_key(language, block, name)] = data
        if bundle:  # a block with nothing to find has no bundle
            listed.setdefault(language, []).append(block)
    for language, blocks in listed.items():
        files[search.blocks_key(language)] = search.blocks_document(blocks)
    return files


def _built(folders: list[IssueFolder], workers: int, parallel: bool) -> Iterator[_IssueBuilt]:
    if not parallel:
        yield from map(_build_issue, folders)
        return
    pages.prepare()
    with ProcessPoolExecutor(workers, mp_context=_FORK) as pool:
        yield from pool.map(_build_issue, folders)


_FORK = multiprocessing.get_context("fork")
_beats: list[tuple[beats.Beat, list[beats.Item]]] = []  # what forked workers render


def _render_beats(chosen: list[int]) -> dict[str, bytes]:
    job = _job
    assert job is not None
    files: dict[str, bytes] = {}
    for number in chosen:
        beat, items = _beats[number]
        files.update(beats.beat_files(job.site, beat, items))
    return files


@contextmanager
def _beat_files(
    every: Mapping[beats.Beat, list[beats.Item]], workers: int, parallel: bool
) -> Iterator[Iterator[dict[str, bytes]]]:
    """Every beat's pages and feed, rendered side by side: the section, tag and author
    listings are a fifth of a build, and the parent would render them alone. The
    workers are forked on entering, before any thread is started beside them."""
    global _beats
    _beats = sorted(every.items())
    if not parallel:
        yield map(_render_beats, ([n] for n in range(len(_beats))))
        return
    # The longest beats first, dealt out in turn, so no worker is left with the largest.
    heaviest = sorted(range(len(_beats)), key=lambda n: -len(_beats[n][1]))
    shares = workers * 4
    chunks = [heaviest[start::shares] for start in range(shares)]
    try:
        with ProcessPoolExecutor(workers, mp_context=_FORK) as pool:
            yield pool.map(_render_beats, [c for c in chunks if c])
    finally:
        _beats = []


@contextmanager
def _cache_folder(cache_dir: Path | None) -> Iterator[Path]:
    if cache_dir is not None:
        yield cache_dir
        return
    with tempfile.TemporaryDirectory(prefix="broadsheet-build-") as folder:
        yield Path(folder)


RECORD = ".broadsheet-build"  # in the output folder: every file the last build wrote


def _previous(out: Path) -> set[str]:
    """What the last build into ``out`` wrote; raises when ``out`` holds anything else.

    A build removes only files it wrote itself: the record says which. A folder that is
    not empty and has no record was not made by a build (a clone, a home folder), and
    nothing in it is touched.
    """
    if not out.exists():
        return set()
    if not out.is_dir():
        raise CommandError(f"{out} is a file, not a folder: choose another --out", 2)
    record = out / RECORD
    if not record.is_file():
        if any(out.iterdir()):
            raise CommandError(
                f"{out}/ is not empty and was not made by broadsheet build: "
                "choose an empty or new folder for --out",
                2,
            )
        return set()
    lines = record.read_text(encoding="utf-8").splitlines()
    return {line for line in lines[1:] if _inside(line)}


def _inside(key: str) -> bool:
    # A record is a file anyone can edit: only plain relative paths inside the folder.
    parts = key.split("/")
    return bool(key) and not key.startswith("/") and ".." not in parts and "" not in parts


def _remove(out: Path, key: str) -> bool:
    path = out / key
    if path.is_symlink() or not path.is_file():
        return False
    path.unlink()
    folder = path.parent
    while folder != out and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
    return True


def _keep_record(out: Path, written: set[str]) -> None:
    partial = out / f"{RECORD}.{os.getpid()}.tmp"
    lines = [
        f"# files written by broadsheet build {__version__}; it removes only these",
        *sorted(written),
    ]
    partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    partial.replace(out / RECORD)


def build_site(
    content: Path,
    out: Path,
    *,
    now: dt.datetime | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    search_index: bool = True,
) -> BuildReport:
    """The whole site into ``out``; without ``search_index``, no Pagefind bundles (a
    quicker preview, whose search page finds nothing)."""
    now = now or dt.datetime.now(dt.UTC)
    workers = workers or os.cpu_count() or 1
    archive, folders = open_archive(content)
    if archive.site is None:
        return BuildReport(findings=archive.findings)
    before = _previous(out)
    out.mkdir(parents=True, exist_ok=True)
    written: set[str] = set()
    opened = (archive, folders)
    try:
        return _build_into(
            content, opened, out, now, cache_dir, workers, progress, before, written, search_index
        )
    except BaseException:
        # Cut short: the folder is still this build's, so the next build may use it.
        _keep_record(out, before | written)
        raise


def _build_into(
    content: Path,
    opened: tuple[Archive, list[IssueFolder]],
    out: Path,
    now: dt.datetime,
    cache_dir: Path | None,
    workers: int,
    progress: Progress | None,
    before: set[str],
    written: set[str],
    search_index: bool = True,
) -> BuildReport:
    global _job
    site_config = (content / "site.yml").read_bytes() if (content / "site.yml").is_file() else b""
    archive, folders = opened
    report = BuildReport(findings=archive.findings)
    site = archive.site
    assert site is not None
    docs: dict[int, IssueDoc] = {}
    broken: list[tuple[int, str]] = []
    media: dict[int, dict[str, Photo]] = {}
    found: list[SearchRecord] = []
    total = sum(len(f.files) for f in folders)
    tick = progress("building", total) if progress else None
    with _cache_folder(cache_dir) as folder:
        _job = job = _Job(site, ArticleCache(folder, site_config), out, now)
        try:
            parallel = workers > 1 and total >= PARALLEL_FROM
            for built in _built(folders, workers, parallel):
                media[built.number] = built.media
                archive.articles.extend(built.articles)
                archive.findings.extend(built.findings)
                broken.extend(built.broken)
                written.update(built.written)
                found.extend(built.search)
                if built.doc is not None:
                    docs[built.number] = built.doc
                for _ in range(len(built.articles) + len(built.broken) if tick else 0):
                    tick()  # type: ignore[misc]
            settle(archive, broken, media)
            # Only the listings across issues, the site's own files and search are left.
            public = {e["path"] for d in docs.values() for e in d["articles"]}
            grouped = search.by_block(r for r in found if r["path"] in public)
            if not search_index:
                grouped = {}
            cache = BundleCache(folder, bundle_version())
            every = beats.archive_beats(site, docs.values())
            # Pagefind runs beside the listings (much of its run is one thread); the
            # listings' workers are forked before its thread starts.
            with _beat_files(every, workers, parallel) as rendered, ThreadPoolExecutor(1) as aside:
                indexing = aside.submit(_search_files, grouped, cache, SEARCH_WORKERS)
                whole = with_issues(site, docs.values(), index.utc(now))
                files = {**site_wide(site, whole), **beats.index_files(site, every)}
                for chunk in rendered:
                    files.update(chunk)
                for key, data in files.items():
                    job.write(key, data)
                for key, data in indexing.result().items():
                    job.write(key, data)
                    written.add(key)
            written.update(files)
        finally:
            _job = None
    report.articles = sum(1 for a in archive.articles if a.is_public(now))
    report.skipped = len(archive.articles) - report.articles
    report.pages = len(written)
    for stale in sorted(before - written):
        report.removed += _remove(out, stale)
    _keep_record(out, written)
    return report
