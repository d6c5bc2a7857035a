"""Pipeline figures: the cost of publishing one changed article into archives of several
sizes, the CDN paths it clears, and each handler's cold start."""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from broadsheet.adapters.cdn import MemoryCDN
from broadsheet.adapters.store import MemoryStore
from broadsheet.manifest import Change, Manifest, blob_key
from broadsheet.pipeline import Buckets, publish_through

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _blob(store: MemoryStore, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    store.put(blob_key(digest), data)
    return digest


def _first_publish(content: Path, buckets: Buckets) -> None:
    store = buckets.sources
    assert isinstance(store, MemoryStore)
    changes = [
        Change("A", str(p.relative_to(content)), _blob(store, p.read_bytes()))
        for p in sorted(content.rglob("*"))
        if p.is_file()
    ]
    manifest = Manifest("0" * 40, 1, None, "bench", NOW.isoformat(), tuple(changes))
    publish_through(manifest, buckets, MemoryCDN(), NOW)


def one_article_commits(content: Path, runs: int) -> dict[str, Any]:
    buckets = Buckets(MemoryStore(), MemoryStore())
    _first_publish(content, buckets)
    # The in-memory buckets hold the whole archive in this process; in Lambda it lives in
    # S3. Frozen, the garbage collector stops walking it on every collection, which would
    # otherwise charge the archive's size to each publish.
    gc.collect()
    gc.freeze()
    latest = max(int(p.name) for p in (content / "issues").iterdir())
    target = content / "issues" / str(latest) / f"story-{latest}-0.md"
    original = target.read_text()
    cpu, requests, paths = [], [], []
    for run in range(runs):
        # An edit of the last paragraph: the body changes, the summary does not.
        data = (original + f"\nA correction, number {run}.\n").encode()
        store = buckets.sources
        assert isinstance(store, MemoryStore) and isinstance(buckets.site, MemoryStore)
        change = Change("M", str(target.relative_to(content)), _blob(store, data))
        context = {
            "site.yml": _blob(store, (content / "site.yml").read_bytes()),
            f"issues/{latest}/issue.yml": _blob(
                store, (content / "issues" / str(latest) / "issue.yml").read_bytes()
            ),
        }
        manifest = Manifest(
            f"{run + 1:040d}", run + 2, None, "bench", NOW.isoformat(), (change,), context
        )
        cdn = MemoryCDN()
        store.requests = buckets.site.requests = 0
        started = time.process_time()
        publish_through(manifest, buckets, cdn, NOW)
        cpu.append((time.process_time() - started) * 1000)
        requests.append(store.requests + buckets.site.requests)
        paths.append(sum(len(p) for p in cdn.invalidations.values()))
    gc.unfreeze()
    return {
        # The least CPU of many runs is the steadiest estimate of a deterministic cost on
        # a shared machine; the median is given beside it.
        "cpu_ms_min": round(min(cpu), 1),
        "cpu_ms_median": round(statistics.median(cpu), 1),
        "s3_requests_median": statistics.median(requests),
        "cdn_paths_max": max(paths),
    }


def package_size(package: Path) -> float:
    return round(sum(p.stat().st_size for p in package.rglob("*") if p.is_file()) / 1e6, 2)


def cold_starts(runs: int, package: Path | None = None) -> dict[str, float]:
    env = {
        **os.environ,
        "SOURCE_BUCKET": "b",
        "SITE_BUCKET": "s",
        "IDEMPOTENCY_TABLE": "t",
        "NEXT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q",
        "DISTRIBUTION_ID": "E1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    if package is not None:
        # The package first on the path; as in Lambda, where /var/task is read-only, no
        # bytecode is cached for it between cold starts.
        env["PYTHONPATH"] = str(package)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    figures = {}
    for stage in ("validate", "render", "index", "invalidate"):
        # Where the code came from is asserted, so the figure is the package's own.
        origin = (
            "import os, broadsheet; "
            "assert broadsheet.__file__.startswith(os.environ['PYTHONPATH']); "
            if package is not None
            else ""
        )
        code = (
            "import time; t = time.perf_counter(); "
            f"import broadsheet.handlers.{stage} as h; h.runtime().buckets; "
            "print((time.perf_counter() - t) * 1000); " + origin
        )
        samples = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(runs)
        ]
        figures[stage] = round(statistics.median(samples), 1)
    return figures
