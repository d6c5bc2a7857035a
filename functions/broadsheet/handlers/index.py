"""index: publish what an issue's folder decides, and every listing that shows it."""

from __future__ import annotations

from broadsheet.handlers.common import powertools, sqs_handler

logger, metrics = powertools("index")
handler = sqs_handler("index", logger, metrics)
