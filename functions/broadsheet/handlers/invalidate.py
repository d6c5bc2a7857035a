"""invalidate: one CloudFront invalidation per commit, retried when CloudFront is busy."""

from __future__ import annotations

from broadsheet.handlers.common import powertools, sqs_handler

logger, metrics = powertools("invalidate")
handler = sqs_handler("invalidate", logger, metrics)
