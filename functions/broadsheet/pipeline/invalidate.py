"""invalidate: what the reconciles replaced or deleted, cleared from the CDN.

Each reconcile sends the paths it replaced or deleted, named by their transitions
(``reconcile.transition``), before it saves its records. This stage takes them a batch
at a time (its event source gathers them for a second) and makes one invalidation of
the batch, named by its transitions: a batch delivered again, or a reconcile repeated
after a crash, is answered by CloudFront with the first. Nothing is kept: a failure
sends the batch back, and it dead-letters in time.

A batch of more than ``urls.invalidation_paths``'s limit clears everything (``/*``):
CloudFront counts a wildcard as one path, and allows 3,000 paths in progress.
"""

from __future__ import annotations

import hashlib
from typing import Any

from broadsheet.edition import urls
from broadsheet.pipeline.env import Env, put_json
from broadsheet.pipeline.messages import InvalidateJob, invalidation_key


def reference_of(jobs: list[InvalidateJob]) -> str:
    """The invalidation's name: its transitions (and its commit, when it has one)."""
    transitions = sorted({t for job in jobs for t in job.transitions})
    digest = hashlib.sha256("\n".join(transitions).encode()).hexdigest()
    commits = sorted({commit for job in jobs for commit in job.commits})
    named = commits[0] if len(commits) == 1 else f"{len(commits)}-commits"
    return f"broadsheet-{named}-{digest[:24]}"


def invalidate(env: Env, jobs: list[InvalidateJob]) -> dict[str, Any]:
    cleared = urls.invalidation_paths({p for job in jobs for p in job.paths})
    if not cleared:
        return {"paths": 0, "invalidation": None}
    reference = reference_of(jobs)
    invalidation = env.cdn.invalidate(cleared, reference=reference)
    at = env.now().isoformat()
    for commit in sorted({commit for job in jobs for commit in job.commits}):
        mine = urls.invalidation_paths(
            {p for job in jobs if commit in job.commits for p in job.paths}
        )
        put_json(
            env.sources,
            invalidation_key(commit, reference),
            {"at": at, "paths": mine, "invalidation": invalidation, "reference": reference},
        )
    return {"paths": len(cleared), "invalidation": invalidation}
