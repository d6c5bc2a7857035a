"""The whole site into a folder: what the site bucket would hold after publishing it all.

A full build is the incremental plan taken from an empty state, so it renders exactly
what the pipeline would, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import index
from .archive import Archive, load_archive
from .article import Article
from .bodycache import BodyCache
from .findings import Finding
from .plan import Output, State, make_plan, render, site_files
from .site import Site

Progress = Callable[[str, int], Callable[[], object]]


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


def _write(out: Path, key: str, data: bytes) -> None:
    path = out / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# A forked worker inherits the state and bodies from the parent instead of unpickling them.
_shared: dict[str, object] = {}


def _render_chunk(outputs: list[Output]) -> int:
    site, state, bodies, out = (_shared[k] for k in ("site", "state", "bodies", "out"))
    assert isinstance(site, Site) and isinstance(state, State) and isinstance(out, Path)
    assert isinstance(bodies, dict)
    for output in outputs:
        _write(out, output.key, render(site, state, output, lambda n, s: bodies[(n, s)]))
    return len(outputs)


def build_site(
    content: Path,
    out: Path,
    *,
    now: dt.datetime | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    now = now or dt.datetime.now(dt.UTC)
    workers = workers or os.cpu_count() or 1
    total = sum(1 for _ in content.glob("issues/*/*.md"))
    tick = progress("reading", total) if progress else None
    archive = load_archive(
        content,
        render=True,
        cache=BodyCache(cache_dir) if cache_dir else None,
        workers=workers,
        on_progress=tick,
    )
    report = BuildReport(findings=archive.findings)
    site = archive.site
    if site is None:
        return report
    state = published_state(site, archive, now)
    plan = make_plan(site, State(None), state, state.docs)
    public = {(a.issue, a.slug): a.body_html for a in archive.articles if a.is_public(now)}
    report.articles = len(public)
    report.skipped = len(archive.articles) - len(public)

    out.mkdir(parents=True, exist_ok=True)
    before = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    written: set[str] = set()
    for path, data in site_files(site).items():
        key = path.lstrip("/")
        _write(out, key, data)
        written.add(key)
    _shared.update(site=site, state=state, bodies=public, out=out)
    chunks = [plan.write[i : i + 200] for i in range(0, len(plan.write), 200)]
    tick = progress("writing", len(plan.write)) if progress else None
    if workers > 1 and len(plan.write) > 400:
        import multiprocessing

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            for done in pool.map(_render_chunk, chunks):
                for _ in range(done):
                    if tick:
                        tick()
    else:
        for chunk in chunks:
            for _ in range(_render_chunk(chunk)):
                if tick:
                    tick()
    _shared.clear()
    written.update(o.key for o in plan.write)
    report.pages = len(written)
    for stale in sorted(before - written):
        (out / stale).unlink()
        report.removed += 1
    return report
