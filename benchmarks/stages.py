"""The worst unit of work the limits allow: one issue of 500 full-length articles (the
most an issue may hold) published at once, stage by stage. Its slowest invocation and
its peak memory are what each function's timeout and memory in the template are set from.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchmarks.archive import generate
from broadsheet.content.validation import MAX_ARTICLES_PER_ISSUE
from broadsheet.pipeline.publisher import Git, publish
from broadsheet.pipeline.stages import handle
from broadsheet.pipeline.world import World

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _world(work: Path, memory: bool) -> tuple[World, dict[str, float]]:
    content = work / "content"
    world = World(clock=lambda: NOW)
    publish(Git.of(content), world.sources, say=lambda _: None)
    worst: dict[str, float] = {}
    while world.waiting():
        stage, envelope = world.waiting()[0]
        message = world.queues[stage].receive(envelope)
        assert message is not None
        if memory:
            tracemalloc.start()
        started = time.process_time()
        handle(stage, message, world)
        took = time.process_time() - started
        if memory:
            value = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
        else:
            value = took
        world.queues[stage].delete(envelope)
        worst[stage] = max(worst.get(stage, 0.0), value)
    return world, worst


def worst_issue(work: Path, articles: int = MAX_ARTICLES_PER_ISSUE) -> dict[str, Any]:
    content = generate(work / "worst" / "content", articles, per_issue=articles)
    repo = content.parent
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=B", "-c", "user.email=b@example.org", "commit", "-qm", "one issue"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    world, seconds = _world(repo, memory=False)
    _, megabytes = _world(repo, memory=True)
    return {
        "articles": articles,
        "cpu_s_slowest": {s: round(v, 2) for s, v in seconds.items()},
        "allocated_mb_peak": {s: round(v, 1) for s, v in megabytes.items()},
        "largest_message_bytes": max(q.largest for q in world.queues.values()),
    }
