"""index: update the touched issues' indexes and every page that lists articles."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from broadsheet.handlers.common import powertools, runtime, sqs_handler, stage_latency
from broadsheet.pipeline.stages import index_commit, write_status

logger, metrics = powertools("index")


def work(job: dict[str, Any]) -> dict[str, Any]:
    run = runtime()
    with stage_latency(metrics, "index"):
        message = index_commit(job, run.buckets, run.redirects)
    metrics.add_metric(name="OutputsChanged", unit=MetricUnit.Count, value=len(message["paths"]))
    write_status(run.buckets, job["commit"], "index", paths=message["paths"])
    if run.next_queue is not None:
        run.next_queue.send({**message, "stage": "invalidate", "issue": job.get("issue")})
    return {"commit": job["commit"], "paths": len(message["paths"])}


handler = sqs_handler("index", logger, metrics, work)
