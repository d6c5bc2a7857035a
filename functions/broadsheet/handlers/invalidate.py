"""invalidate: one CloudFront invalidation a batch of reconciles, retried when CloudFront
is busy."""

from __future__ import annotations

from broadsheet.handlers.common import batch_handler, powertools

logger, metrics = powertools("invalidate")
handler = batch_handler("invalidate", logger, metrics)
