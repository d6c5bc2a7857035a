"""search: the readers' search index of each language, rebuilt once a batch of jobs."""

from __future__ import annotations

from broadsheet.handlers.common import batch_handler, powertools

logger, metrics = powertools("search")
handler = batch_handler("search", logger, metrics)
