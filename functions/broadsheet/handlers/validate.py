"""validate: S3's notification of a new manifest, and the issue jobs it splits into."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from broadsheet.handlers.common import messages_in, powertools, sqs_handler
from broadsheet.pipeline.messages import CommitJob, commit_of

logger, metrics = powertools("validate")


def messages(record: SQSRecord) -> list[dict[str, Any]]:
    """The manifests an S3 notification announces (S3 sends one test event at set-up),
    or the issue job validate sent itself."""
    body = record.json_body
    if not isinstance(body, dict) or ("Records" not in body and "Event" not in body):
        return messages_in(record)
    notification = S3Event(body)
    if notification.get("Event") == "s3:TestEvent":
        return []
    found = []
    for s3_record in notification.records:
        created = s3_record.s3.get_object
        key = unquote_plus(created.key)
        commit = commit_of(key)
        if commit is not None:
            found.append(CommitJob(commit, key, created.etag).to_json())
    return found


handler = sqs_handler("validate", logger, metrics, messages)
