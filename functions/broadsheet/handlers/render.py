"""render: typeset the articles a commit's validation accepted and write their pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from broadsheet.handlers.common import powertools, runtime, sqs_handler, stage_latency
from broadsheet.pipeline.stages import render_commit, write_status

logger, metrics = powertools("render")


def work(job: dict[str, Any]) -> dict[str, Any]:
    run = runtime()
    with stage_latency(metrics, "render"):
        message = render_commit(job, run.buckets, dt.datetime.now(dt.UTC))
    pages = len(message["written"])
    metrics.add_metric(name="PagesWritten", unit=MetricUnit.Count, value=pages)
    published = sum(len(i["entries"]) for i in message["issues"].values())
    metrics.add_metric(name="ArticlesPublished", unit=MetricUnit.Count, value=published)
    write_status(run.buckets, job["commit"], "render", pages=message["written"])
    if run.next_queue is not None:
        run.next_queue.send({**message, "stage": "index", "issue": job.get("issue")})
    return {"commit": job["commit"], "pages": pages}


handler = sqs_handler("render", logger, metrics, work)
