"""Which stage takes which message: ``handle`` is the one place a message meets its
stage; the Lambda handlers and the in-memory pipeline (``world``) both call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broadsheet.errors import Permanent
from broadsheet.pipeline.env import Env
from broadsheet.pipeline.messages import (
    CommitJob,
    InvalidateJob,
    IssueJob,
    ReleaseJob,
    SearchJob,
    job_from_json,
)


def handle(stage: str, message: Mapping[str, Any], env: Env) -> dict[str, Any]:
    """Run the stage a message is for. NotYet, Retryable and Permanent pass through.

    Each stage's module is imported here, when its first message comes: a function pays
    at cold start only for its own stage (invalidate never loads a template engine).
    """
    job = job_from_json(message)
    if stage == "validate" and isinstance(job, CommitJob | IssueJob):
        from broadsheet.pipeline.validate import validate_commit, validate_issue

        if isinstance(job, CommitJob):
            return validate_commit(job, env)
        return validate_issue(job, env)
    if stage == "render" and isinstance(job, IssueJob):
        from broadsheet.pipeline.render import render_issue

        return render_issue(job, env)
    if stage == "index" and isinstance(job, IssueJob | ReleaseJob):
        from broadsheet.pipeline.index import index_issue, release

        if isinstance(job, IssueJob):
            return index_issue(job, env)
        return release(job, env)
    if stage == "invalidate" and isinstance(job, InvalidateJob):
        from broadsheet.pipeline.invalidate import invalidate_commit

        return invalidate_commit(job, env)
    if stage == "search" and isinstance(job, SearchJob):
        return search_archive(env, verify=job.verify)
    raise Permanent(f"the {stage} stage takes no {type(job).__name__}")


def search_archive(env: Env, *, verify: bool = False) -> dict[str, Any]:
    """The search stage: every language's index made to match the records (one rebuild
    serves any number of jobs, so the Lambda handler runs it once a batch)."""
    from broadsheet.adapters.pagefind import build_bundle
    from broadsheet.pipeline.search import rebuild

    return rebuild(env, build_bundle, verify=verify)


def again(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message sent back to wait: the same job, one wait more."""
    return {**message, "waits": int(message.get("waits", 0)) + 1}
