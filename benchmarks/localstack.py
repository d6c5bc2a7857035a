"""`make run` figures: from start to the first page served, and from a one-article commit
to the changed page served, with the real pipeline on loopback."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from broadsheet.adapters.aws import STAGES
from broadsheet.local.devstack import free_port
from broadsheet.pipeline.operations import dead_letters

ROOT = Path(__file__).resolve().parent.parent


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def _fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _until(check: Any, timeout: float = 90) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if check():
            return time.perf_counter() - started
        time.sleep(0.05)
    raise SystemExit("bench: the local stack did not answer in time")


def one_run(work: Path) -> tuple[float, float]:
    repo = work / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    shutil.copytree(ROOT / "content", repo / "content")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "user.name=Bench", "-c", "user.email=b@example.org", "add", "-A")
    _git(repo, "-c", "user.name=Bench", "-c", "user.email=b@example.org", "commit", "-qm", "c")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "broadsheet.cli",
            "run",
            "--content",
            str(repo / "content"),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        first_page = _until(lambda: (_fetch(url + "/") or "").startswith("<!doctype html>"))
        article = repo / "content/issues/412/dockworkers-vote-to-strike.md"
        article.write_text(
            article.read_text().replace(
                "the cranes do not move without us", "nothing moves without us"
            )
        )
        _git(
            repo,
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=b@example.org",
            "commit",
            "-qam",
            "edit",
        )
        page = url + "/en/issues/412/dockworkers-vote-to-strike/"
        commit_to_page = _until(lambda: "nothing moves without us" in (_fetch(page) or ""))
    finally:
        process.terminate()
        process.wait(timeout=30)
    return first_page, commit_to_page


def local_stack(work: Path, runs: int) -> dict[str, Any]:
    samples = [one_run(work) for _ in range(runs)]
    first, commit = [s[0] for s in samples], [s[1] for s in samples]
    return {
        "start_to_first_page_s": round(statistics.median(first), 2),
        "commit_to_page_s": round(statistics.median(commit), 2),
        "runs": [[round(a, 2), round(b, 2)] for a, b in samples],
    }


def first_publish(work: Path, articles: int) -> dict[str, Any]:
    """The first publish of a generated archive through the local stack: the template in
    moto (as a server on loopback), the real handlers fed by the local event source; then
    two site-wide changes on it (the paper's name in site.yml edited; a section added).

    Wall time, what each function spent (in all, and in its longest invocation), the
    largest message, and what that predicts on Lambda: index's message groups side by
    side, at most its ``MaximumConcurrency`` at once, the other stages beside it. moto
    runs in a process of its own, as S3 is another machine: its work is not charged to
    the functions, and their requests in flight at once overlap.
    """
    import logging

    import boto3

    from benchmarks.archive import generate
    from benchmarks.pipeline import _moto_server, cpu_seconds
    from broadsheet.adapters.aws import AwsEnv
    from broadsheet.local.devstack import QUIET, REGION, deploy_local, event_source
    from broadsheet.pipeline.publisher import Git, publish

    content = generate(work / f"first-{articles}" / "content", articles)
    repo = content.parent
    # The yardstick of a site-wide change: the full build of the same archive, cold.
    build = [sys.executable, "-m", "broadsheet.cli", "build", "--quiet", "--no-cache"]
    build += ["--content", str(content), "--out", str(work / "first-built")]
    builds = []
    for _ in range(3):
        shutil.rmtree(work / "first-built", ignore_errors=True)
        began = time.perf_counter()
        subprocess.run(build, check=True)
        builds.append(time.perf_counter() - began)
    built = statistics.median(builds)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=B", "-c", "user.email=b@example.org", "commit", "-qm", "all")
    for noisy in ("werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    moto = ExitStack()
    endpoint, moto_pid = moto.enter_context(_moto_server())
    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "BROADSHEET_MAX_DELAY": "1",
        }
    )
    try:
        session = boto3.session.Session(region_name=REGION)
        deployed, resolver = deploy_local(session, endpoint)
        runner = event_source(
            deployed,
            resolver,
            session.client("sqs", endpoint_url=endpoint),
            side_by_side=True,
            overrides=QUIET,
        )
        moto.callback(runner.close)
        env = AwsEnv.from_outputs(deployed.outputs, endpoint)
        started, moto_began = time.perf_counter(), cpu_seconds(moto_pid)
        publish(Git.of(content), env.sources, say=lambda _: None)
        published = time.perf_counter() - started
        runner.drain(rounds=100_000, patience=600)
        wall = time.perf_counter() - started
        moto_first = cpu_seconds(moto_pid) - moto_began
        issues = sum(1 for _ in env.site.keys("api/v1/issues/"))
        index_name = next(k for k in runner.busy if "Index" in k)

        def by_stage(seconds: dict[str, float], since: dict[str, float] | None = None) -> Any:
            return {_stage(k): round(v - (since or {}).get(k, 0.0), 1) for k, v in seconds.items()}

        def estimate(groups: dict[str, float], cpu: dict[str, float]) -> tuple[float, float]:
            """What the work predicts on Lambda, from CPU time (side by side on two cores,
            an invocation's duration is mostly waiting for the others): index's issue
            groups side by side (ten at once), its shared group in turn; validate and
            render beside it (their longest invocation); search after. The bucket's
            answers come on top."""
            index = on_lambda({g: t for g, t in groups.items() if t > 0}, INDEX_CONCURRENCY)
            others = max(
                (
                    v
                    for k, v in runner.slowest_cpu.items()
                    if "Index" not in k and "Search" not in k
                ),
                default=0.0,
            )
            search = sum(v for k, v in cpu.items() if "Search" in k)
            return index, index + others + search

        index, first_estimate = estimate(runner.by_group[index_name], runner.cpu)
        first = {
            "busy_s": by_stage(runner.busy),
            "cpu_s": by_stage(runner.cpu),
            "slowest_invocation_s": by_stage(runner.slowest),
            "slowest_invocation_cpu_s": by_stage(runner.slowest_cpu),
            "peak_rss_mb": {_stage(k): round(v) for k, v in runner.peak_mb.items()},
        }
        # Then two site-wide changes on it, each touching every page: the paper's name
        # edited (nothing an article is checked against), then a section added (what
        # every article is checked against, so each is checked and typeset again).
        site_yml = content / "site.yml"

        def site_wide(old: str, new: str) -> dict[str, Any]:
            busy, cpu = dict(runner.busy), dict(runner.cpu)
            groups_before = dict(runner.by_group[index_name])
            runner.slowest_cpu.clear()  # the longest invocations of this change alone
            site_yml.write_text(site_yml.read_text().replace(old, new, 1))
            _git(repo, "-c", "user.name=B", "-c", "user.email=b@example.org", "commit", "-qam", "s")
            edited, moto_began = time.perf_counter(), cpu_seconds(moto_pid)
            publish(Git.of(content), env.sources, say=lambda _: None)
            runner.drain(rounds=100_000, patience=600)
            wall = time.perf_counter() - edited
            moto_cpu = cpu_seconds(moto_pid) - moto_began
            groups = {
                g: t - groups_before.get(g, 0.0) for g, t in runner.by_group[index_name].items()
            }
            spent = {k: v - cpu.get(k, 0.0) for k, v in runner.cpu.items()}
            index, estimated = estimate(groups, spent)
            return {
                "wall_s": round(wall, 1),
                "wall_vs_build": round(wall / built, 1),
                "busy_s": by_stage(runner.busy, busy),
                "cpu_s": by_stage(runner.cpu, cpu),
                "moto_cpu_s": round(moto_cpu, 1),
                "index_on_lambda_s": round(index, 1),
                "lambda_estimate_s": round(estimated, 1),
                "lambda_vs_build": round(estimated / built, 1),
            }

        shared_first = runner.by_group[index_name].get("shared", 0.0)
        renamed = site_wide("Benchmark Broadsheet", "Benchmark Paper")
        sectioned = site_wide("sections:\n", "sections:\n  science: {en: Science, es: Ciencia}\n")
        return {
            "articles": articles,
            "issue_documents": issues,
            "build_no_cache_s": round(built, 1),
            "site_yml_edit": {"name": renamed, "section added": sectioned},
            "wall_s": round(wall, 1),
            "publish_s": round(published, 1),
            **first,
            "moto_cpu_s": round(moto_first, 1),
            "largest_message_bytes": runner.largest,
            "failures": runner.failures,
            # Counted after the site.yml edits too: what all three left unfinished.
            "dead_lettered": len(dead_letters(env)),
            "throttled": sum(runner.throttled.values()),
            "index_on_lambda_s": round(index, 1),
            "index_shared_group_s": round(shared_first, 1),
            "lambda_estimate_s": round(first_estimate, 1),
        }
    finally:
        moto.close()
        os.environ.clear()
        os.environ.update(saved)


INDEX_CONCURRENCY = 10  # the template's MaximumConcurrency for index


def on_lambda(by_group: dict[str, float], concurrency: int) -> float:
    """How long index's work takes when its message groups run side by side, at most
    ``concurrency`` at once, each group's in turn, the shared group's among them: no less
    than the longest group, nor than the whole spread over the invocations allowed."""
    if not by_group:
        return 0.0
    return max(max(by_group.values()), sum(by_group.values()) / concurrency)


def _stage(function: str) -> str:
    return next(s for s in STAGES if s.capitalize() in function)
