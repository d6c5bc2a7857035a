"""Pipeline figures: the cost of publishing one changed article into archives of several
sizes, the CDN paths it clears, and each handler's cold start."""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from broadsheet.adapters.aws import STAGES
from broadsheet.adapters.store import S3Store, Stored
from broadsheet.local.devstack import free_port
from broadsheet.pipeline.publisher import Git, publish
from broadsheet.pipeline.world import World

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _repository(content: Path) -> Path:
    """The archive committed to a git repository of its own (its parent folder)."""
    repo = content.parent
    if (repo / ".git").exists():
        return repo
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=Bench", "-c", "user.email=b@example.org", "commit", "-qm", "archive"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return repo


# The stages a commit waits for; the search index is rebuilt after them, once a batch,
# and measured on its own (benchmarks/search.py).
PUBLISHING = tuple(stage for stage in STAGES if stage != "search")


def _first_publish(content: Path, world: World) -> None:
    publish(Git.of(content), world.sources, say=lambda _: None)
    world.drain(stages=PUBLISHING)
    world.queues["search"].messages.clear()


@contextmanager
def _moto_server() -> Iterator[tuple[str, int]]:
    """moto's S3 in a process of its own, so its work is not charged to the publish:
    its endpoint, and its process id (what its CPU time is read by)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield endpoint, server.pid
    finally:
        server.terminate()
        server.wait(10)


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has spent (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def _seed_s3(endpoint: str, world: World) -> None:
    """Buckets in the moto server holding every object ``world`` holds in memory."""
    client = _s3_client(endpoint)
    for name, memory in (("sources", world.bucket), ("site", world.site)):
        client.create_bucket(Bucket=name)
        store = S3Store(client, name)
        with ThreadPoolExecutor(8) as pool:
            for _ in pool.map(partial(_copy, store), list(memory.objects.items())):
                pass


def _copy(store: S3Store, item: tuple[str, Stored]) -> None:
    store.put(item[0], item[1].body, metadata=item[1].metadata)


def one_article_commits(
    content: Path, runs: int, *, s3: bool = False, new: bool = False
) -> dict[str, Any]:
    """Publish ``runs`` one-article commits into an archive already published: each an
    edit of one article's body, or with ``new`` a new article in a section, with two
    tags and an author (so four listings across the archive change too).

    The figure is the CPU of the four stages alone (publishing is CI's work). With ``s3``
    the archive is in S3 (moto server, a process of its own) and the stages run in a
    fresh process that never held it, through boto3, as a Lambda container would: the
    CPU is that process's own, requests and all. Otherwise the in-memory adapters hold
    the whole archive in this process.
    """
    repo = _repository(content)
    # Every variant starts from the archive as generated: the commits of one would
    # otherwise be the next one's archive (62 new articles in one issue's section).
    subprocess.run(["git", "-C", str(repo), "clean", "-qfd"], check=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--max-parents=0", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[0]
    subprocess.run(["git", "-C", str(repo), "reset", "-q", "--hard", archive], check=True)
    world = World(clock=lambda: NOW)
    _first_publish(content, world)
    if not s3:
        return _commits(world, content, runs, new=new)
    with _moto_server() as (endpoint, _):
        _seed_s3(endpoint, world)
        del world
        measured = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.pipeline",
                endpoint,
                str(content),
                str(runs),
                "new" if new else "edit",
            ],
            check=False,
            capture_output=True,
            text=True,
        )
    if measured.returncode != 0:
        raise RuntimeError(f"the measuring process failed:\n{measured.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(measured.stdout)
    return figures


NEW = """---
title: "A new story, number {run}"
language: en
date: {date}
dateline: Genoa (Italy)
section: labour
authors: [Writer 7]
tags: {tags}
---

The night shift walked out at four, number {run}.
"""


def _commits(world: World, content: Path, runs: int, *, new: bool = False) -> dict[str, Any]:
    # Objects that live for the whole run (the in-memory archive, boto3's models) are
    # frozen out of the garbage collector, which would otherwise walk them on every
    # collection and charge the archive's size to each publish.
    gc.collect()
    gc.freeze()
    latest = max(int(p.name) for p in (content / "issues").iterdir())
    target = content / "issues" / str(latest) / f"story-{latest}-0.md"
    original = target.read_text()
    git = Git.of(content)
    # A new article is dated as the latest issue's articles, so it is the newest
    # everywhere, and in the target's tags, so no listing is new (a new one adds its
    # index page).
    date = re.search(r"^date: (.+)$", original, re.M).group(1)  # type: ignore[union-attr]
    tags = re.search(r"^tags: (.+)$", original, re.M).group(1)  # type: ignore[union-attr]
    cpu, requests, paths = [], [], []
    for run in range(runs):
        if new:
            text = NEW.format(run=run, date=date, tags=tags)
            target.with_name(f"new-{os.getpid()}-{run}.md").write_text(text)
        else:  # an edit of the last paragraph: the body changes, the summary does not
            target.write_text(original + f"\nA correction, number {run}.\n")
        subprocess.run(["git", "-C", str(git.repo), "add", "-A"], check=True)
        subprocess.run(
            [
                "git",
                "-C",
                str(git.repo),
                "-c",
                "user.name=B",
                "-c",
                "user.email=b@e.org",
                "commit",
                "-qm",
                f"run {run}",
            ],
            check=True,
        )
        publish(git, world.sources, say=lambda _: None)
        before = dict(world.cdn.invalidations)
        world.sources.requests = world.site.requests = 0
        started = time.process_time()
        world.drain(stages=PUBLISHING)
        world.queues["search"].messages.clear()
        cpu.append((time.process_time() - started) * 1000)
        requests.append(world.sources.requests + world.site.requests)
        fresh = [p for r, ps in world.cdn.invalidations.items() if r not in before for p in ps]
        paths.append(len(fresh))
    gc.unfreeze()
    # Issue 14's bound: 8 paths, and 2 for each section, tag and author the article has.
    bound = 8 + 2 * (2 + len(yaml.safe_load(tags))) if new else None
    return {
        # The least CPU of many runs is the steadiest estimate of a deterministic cost on
        # a shared machine; the median is given beside it.
        "cpu_ms_min": round(min(cpu), 1),
        "cpu_ms_median": round(statistics.median(cpu), 1),
        "s3_requests_median": statistics.median(requests),
        "cdn_paths_max": max(paths),
        "cdn_paths_median": statistics.median(paths),
        "cdn_paths_each": paths,  # which commits paid more than the steady figure
        "cdn_paths_bound": bound,
        "cdn_paths_over_bound": sum(p > bound for p in paths) if bound else None,
    }


def package_size(package: Path) -> float:
    return round(sum(p.stat().st_size for p in package.rglob("*") if p.is_file()) / 1e6, 2)


def compiled_copy(package: Path, folder: Path) -> Path:
    """The package as ``make build`` ships it when it can compile bytecode for the runtime.

    Lambda runs Python 3.12; this machine has only its own Python, so the copy is compiled
    by it: the same mechanism, measured with this interpreter's bytecode.
    """
    from broadsheet.local.package import compile_bytecode

    copy = folder / "package-compiled"
    shutil.copytree(package, copy)
    compile_bytecode(copy, sys.executable)
    return copy


# What Lambda's Python 3.12 runtime carries itself (with its bytecode), and the package
# now ships at the tested versions instead.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")


def without_runtime_sdk(package: Path, folder: Path) -> Path:
    """The package as it was before it shipped boto3: the SDK then comes from the
    interpreter's own site-packages, compiled, as the runtime's does."""
    copy = folder / "package-runtime-sdk"
    shutil.copytree(package, copy)
    for path in (copy / name for name in RUNTIME_PROVIDED):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    return copy


def cold_starts(runs: int, package: Path | None = None) -> dict[str, float]:
    env = {
        **os.environ,
        "SOURCE_BUCKET": "b",
        "SITE_BUCKET": "s",
        "VALIDATE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q",
        "DISTRIBUTION_ID": "E1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    if package is not None:
        # The package first on the path; as in Lambda, where /var/task is read-only, no
        # bytecode is written for it between cold starts: only what it ships is used.
        env["PYTHONPATH"] = str(package)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    figures = {}
    for stage in ("validate", "render", "index", "invalidate", "search"):
        # Where the code came from is asserted, so the figure is the package's own.
        origin = (
            "import os, broadsheet; "
            "assert broadsheet.__file__.startswith(os.environ['PYTHONPATH']); "
            if package is not None
            else ""
        )
        # Lambda's Python has no awscrt; only the index function gets it, from its layer.
        # (botocore imports it whenever it is found, as it is in this virtualenv.)
        no_crt = "import sys; sys.modules['awscrt'] = None; " if stage != "index" else ""
        code = (
            no_crt + "import time; t = time.perf_counter(); "
            f"import broadsheet.handlers.{stage}, broadsheet.pipeline.{stage}; "
            "from broadsheet.handlers.common import runtime; runtime().sources; "
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


if __name__ == "__main__":
    # The measuring half of one_article_commits(s3=True): a fresh process, as Lambda's.
    endpoint, content, runs = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    new = sys.argv[4] == "new"
    client = _s3_client(endpoint)
    world = World(
        clock=lambda: NOW,
        bucket=S3Store(client, "sources"),  # type: ignore[arg-type]
        site=S3Store(client, "site"),  # type: ignore[arg-type]
    )
    print(json.dumps(_commits(world, content, runs, new=new)))
