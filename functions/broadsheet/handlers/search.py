"""search: the readers' search index of each language, rebuilt once a batch of jobs."""

from __future__ import annotations

from typing import Any

from broadsheet.handlers.common import batch_handler, powertools
from broadsheet.pipeline.stages import search_archive

logger, metrics = powertools("search")


def rebuild(env: Any, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """One rebuild for the batch; a repair's job among them makes it look at each file."""
    return search_archive(env, verify=any(m.get("verify") for m in messages))


handler = batch_handler("search", logger, metrics, rebuild)
