"""search: the readers' search index of each language, rebuilt once a batch of jobs."""

from __future__ import annotations

from broadsheet.handlers.common import batch_handler, powertools
from broadsheet.pipeline.flow import search_archive

logger, metrics = powertools("search")
handler = batch_handler("search", logger, metrics, search_archive)
