"""invalidate: one CloudFront invalidation per commit, retried when CloudFront is busy."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from broadsheet.handlers.common import powertools, runtime, sqs_handler, stage_latency
from broadsheet.pipeline.stages import invalidate_commit, write_status

logger, metrics = powertools("invalidate")


def work(job: dict[str, Any]) -> dict[str, Any]:
    run = runtime()
    if run.cdn is None:
        raise RuntimeError("DISTRIBUTION_ID is not set")
    with stage_latency(metrics, "invalidate"):
        result = invalidate_commit(job, run.cdn)
    metrics.add_metric(name="PathsInvalidated", unit=MetricUnit.Count, value=len(result["paths"]))
    write_status(
        run.buckets,
        job["commit"],
        "invalidate",
        paths=result["paths"],
        invalidation=result["invalidation"],
    )
    return result


handler = sqs_handler("invalidate", logger, metrics, work)
