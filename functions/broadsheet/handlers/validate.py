"""validate: an S3 notification for a commit manifest, by way of the validate queue."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from broadsheet.handlers.common import powertools, runtime, sqs_handler, stage_latency
from broadsheet.pipeline.manifest import Manifest
from broadsheet.pipeline.stages import Retry, validate_commit, write_status

logger, metrics = powertools("validate")


def work(job: dict[str, Any]) -> dict[str, Any]:
    run = runtime()
    stored = run.buckets.sources.get(job["key"])
    if stored is None:
        raise Retry(f"{job['key']} is not readable yet")
    manifest = Manifest.from_json(stored.body)
    with stage_latency(metrics, "validate"):
        report, message = validate_commit(manifest, run.buckets)
    rejected = sorted({f.path for f in report.findings})
    for finding in report.findings:
        logger.warning("finding", extra={"finding": str(finding)})
    metrics.add_metric(name="ArticlesAccepted", unit=MetricUnit.Count, value=len(report.accepted))
    metrics.add_metric(name="ArticlesRejected", unit=MetricUnit.Count, value=len(rejected))
    write_status(
        run.buckets,
        manifest.commit,
        "validate",
        accepted=report.accepted,
        rejected=rejected,
        removed=report.removed,
        findings=len(report.findings),
    )
    if message is not None and run.next_queue is not None:
        run.next_queue.send({**message, "stage": "render"})
    return {"commit": manifest.commit, "accepted": len(report.accepted)}


def jobs(record: SQSRecord) -> list[dict[str, Any]]:
    """The manifests an S3 notification announces (S3 sends one test event at set-up)."""
    notification = S3Event(record.json_body)
    if notification.get("Event") == "s3:TestEvent":
        return []
    found = []
    for s3_record in notification.records:
        key = unquote_plus(s3_record.s3.get_object.key)
        if key.startswith("manifests/") and key.endswith(".json"):
            commit = key.removeprefix("manifests/").removesuffix(".json")
            found.append({"stage": "validate", "commit": commit, "issue": None, "key": key})
    return found


handler = sqs_handler("validate", logger, metrics, work, jobs)
