"""The whole site into a folder: what the site bucket would hold after publishing it all.

A full build is the incremental plan taken from an empty state, so it renders exactly
what the pipeline would, byte for byte. Both passes run in parallel: the first checks
and typesets every article into the article cache, the second renders pages from the
issue indexes and the cached bodies, so no body is ever sent between processes.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import index
from .archive import Archive, load_archive
from .article import Article
from .articlecache import ArticleCache
from .findings import Finding
from .plan import Output, State, make_plan, render, site_files
from .site import Site

Progress = Callable[[str, int], Callable[[], object]]
PARALLEL_FROM = 400


@dataclass
class BuildReport:
    articles: int = 0
    pages: int = 0
    removed: int = 0
    findings: list[Finding] = field(default_factory=list)
    skipped: int = 0  # valid, but drafts or under embargo


def published_state(site: Site, archive: Archive, now: dt.datetime) -> State:
    """The state publishing every public article of the archive would leave."""
    docs: dict[int, index.Doc] = {}
    by_issue: dict[int, list[Article]] = {}
    for article in archive.articles:
        if article.is_public(now):
            by_issue.setdefault(article.issue, []).append(article)
    for number, articles in by_issue.items():
        empty = index.empty(site, archive.issues[number])
        docs[number] = index.apply(site, empty, [index.entry(site, a) for a in articles])
    issues = index.issues_doc(site, [index.issue_summary(d, site) for d in docs.values()])
    return State(issues, docs)


@dataclass
class _Pass:
    """What the rendering workers need; forked workers inherit it instead of unpickling."""

    site: Site
    state: State
    cache: ArticleCache
    out: Path
    made: set[Path] = field(default_factory=set)

    def write(self, key: str, data: bytes) -> None:
        path = self.out / key
        if path.parent not in self.made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.made.add(path.parent)
        path.write_bytes(data)


_current: _Pass | None = None


def _render_chunk(outputs: list[Output]) -> int:
    job = _current
    assert job is not None
    hashes = {
        (number, e["slug"]): e["source_sha256"]
        for number in {o.number for o in outputs if o.kind == "article"}
        for e in job.state.docs[number]["articles"]
    }
    for output in outputs:
        data = render(job.site, job.state, output, lambda n, s: job.cache.body_html(hashes[(n, s)]))
        job.write(output.key, data)
    return len(outputs)


def _count(done: Iterable[int], tick: Callable[[], object] | None) -> None:
    for count in done:
        for _ in range(count if tick else 0):
            tick()  # type: ignore[misc]


@contextmanager
def _cache_folder(cache_dir: Path | None) -> Iterator[Path]:
    if cache_dir is not None:
        yield cache_dir
        return
    with tempfile.TemporaryDirectory(prefix="broadsheet-build-") as folder:
        yield Path(folder)


def build_site(
    content: Path,
    out: Path,
    *,
    now: dt.datetime | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    global _current
    now = now or dt.datetime.now(dt.UTC)
    workers = workers or os.cpu_count() or 1
    site_config = (content / "site.yml").read_bytes() if (content / "site.yml").is_file() else b""
    with _cache_folder(cache_dir) as folder:
        cache = ArticleCache(folder, site_config)
        total = sum(1 for _ in content.glob("issues/*/*.md"))
        archive = load_archive(
            content,
            keep_bodies=False,
            render=True,
            cache=cache,
            workers=workers,
            on_progress=progress("reading", total) if progress else None,
        )
        report = BuildReport(findings=archive.findings)
        site = archive.site
        if site is None:
            return report
        state = published_state(site, archive, now)
        plan = make_plan(site, State(None), state, state.docs)
        report.articles = sum(1 for a in archive.articles if a.is_public(now))
        report.skipped = len(archive.articles) - report.articles

        out.mkdir(parents=True, exist_ok=True)
        before = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
        _current = job = _Pass(site, state, cache, out)
        written = set()
        for path, data in site_files(site).items():
            job.write(path.lstrip("/"), data)
            written.add(path.lstrip("/"))
        tick = progress("writing", len(plan.write)) if progress else None
        size = 100
        chunks = [plan.write[i : i + size] for i in range(0, len(plan.write), size)]
        try:
            if workers > 1 and len(plan.write) >= PARALLEL_FROM:
                context = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(workers, mp_context=context) as pool:
                    _count(pool.map(_render_chunk, chunks), tick)
            else:
                _count(map(_render_chunk, chunks), tick)
        finally:
            _current = None
    written.update(o.key for o in plan.write)
    report.pages = len(written)
    for stale in sorted(before - written):
        (out / stale).unlink()
        report.removed += 1
    return report
