"""What every handler shares: its adapters from the environment, and the one way a
record is handled.

A record's message runs its stage (``pipeline.stages.handle``); every stage is idempotent
by construction (a message delivered twice finds nothing more to do: the convergence
oracle delivers duplicates to prove it), so no idempotency layer stands in front. A
``NotYet`` sends it back to its queue with a delay, a ``Permanent`` failure is recorded
and the message dropped, anything else fails the record so SQS delivers it again (and
dead-letters it after the queue's maxReceiveCount), with the reason kept for
``broadsheet dlq list``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from broadsheet.adapters.aws import OUTPUTS, AwsEnv
from broadsheet.adapters.queue import decode
from broadsheet.errors import NotYet, Permanent
from broadsheet.pipeline.env import put_json
from broadsheet.pipeline.messages import dropped_key, failure_key, job_from_json
from broadsheet.pipeline.stages import (
    FIFO,
    GATHERED,
    again,
    handle,
    handle_batch,
    waiting_room,
)

SERVICE = "broadsheet"
SETTINGS = tuple(sorted(set(OUTPUTS.values())))


def runtime() -> AwsEnv:
    """The function's adapters, once per container, from its environment."""
    return _runtime(tuple((name, os.environ.get(name, "")) for name in SETTINGS))


@cache
def _runtime(settings: tuple[tuple[str, str], ...]) -> AwsEnv:
    # Keyed by the environment, so the local runner can host all four functions at once.
    return AwsEnv(dict(settings))


def powertools(stage: str) -> tuple[Logger, Metrics]:
    logger = Logger(service=SERVICE, log_uncaught_exceptions=True)
    logger.append_keys(stage=stage)
    # Metric names carry the stage; a dimension would be shared by every Metrics instance
    # in one process (Powertools keeps their state at module level).
    return logger, Metrics(namespace="Broadsheet", service=SERVICE)


def messages_in(record: SQSRecord) -> list[dict[str, Any]]:
    """The message a record carries (fetched from the bucket when it is a claim)."""
    return [decode(record.body, runtime().sources)]


Messages = Callable[[SQSRecord], list[dict[str, Any]]]


def keep_failure(stage: str, record: SQSRecord, error: Exception) -> None:
    # Kept by message id (a dead-lettered message keeps it), so `broadsheet dlq list`
    # can say why a message ended there.
    with contextlib.suppress(Exception):
        put_json(runtime().sources, failure_key(record.message_id), _failure(stage, record, error))


def _failure(stage: str, record: SQSRecord, error: Exception) -> dict[str, Any]:
    return {
        "stage": stage,
        "error": f"{type(error).__name__}: {error}",
        "receive_count": record.attributes.approximate_receive_count,
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }


def drop(
    stage: str,
    record: SQSRecord,
    error: Exception,
    logger: Logger,
    metrics: Metrics,
    commit: object = None,
) -> None:
    """A message that can never apply leaves its queue, and is told of: a log line, the
    MessagesDropped metric (an alarm watches it), and a record by commit that
    ``broadsheet status`` and ``broadsheet dlq list`` show."""
    logger.error(
        "dropped", extra={"reason": str(error), "message_id": record.message_id, "commit": commit}
    )
    metrics.add_metric(name="MessagesDropped", unit=MetricUnit.Count, value=1)
    keep_failure(stage, record, error)
    with contextlib.suppress(Exception):
        put_json(
            runtime().sources,
            dropped_key(str(commit or "unknown"), record.message_id),
            {**_failure(stage, record, error), "commit": commit, "message_id": record.message_id},
        )


def failed(
    stage: str, logger: Logger, record: SQSRecord, error: Exception, commit: object = None
) -> None:
    """A record that failed and comes back: its log line (which, and why), and the
    reason kept for ``broadsheet dlq list`` should it dead-letter."""
    logger.exception(
        "failed",
        extra={
            "reason": f"{type(error).__name__}: {error}",
            "message_id": record.message_id,
            "receive_count": record.attributes.approximate_receive_count,
            "commit": commit,
        },
    )
    keep_failure(stage, record, error)


def sqs_handler(
    stage: str, logger: Logger, metrics: Metrics, messages: Messages = messages_in
) -> Callable[[dict[str, Any], LambdaContext], PartialItemFailureResponse]:
    """A Lambda handler for the stage's queue: each record's messages run, and only the
    records that failed come back. On a FIFO queue (index) a record that fails sends
    back the rest of its message group with it, so the group's order holds; the other
    groups of the batch go on."""
    processor: BatchProcessor = (
        SqsFifoPartialProcessor(skip_group_on_error=True)
        if stage in FIFO
        else BatchProcessor(event_type=EventType.SQS)
    )

    def work(job: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        result = handle(stage, job, runtime())
        metrics.add_metric(
            name=f"{stage.capitalize()}Latency",
            unit=MetricUnit.Milliseconds,
            value=round((time.perf_counter() - started) * 1000, 1),
        )
        return result

    def record_handler(record: SQSRecord) -> None:
        try:
            found = messages(record)
        except ValueError as error:  # not JSON, or not an object: it never will be
            drop(stage, record, Permanent(f"unreadable message: {error}"), logger, metrics)
            return
        for message in found:
            logger.set_correlation_id(str(message.get("commit")))
            try:
                work(message)
            except NotYet as error:
                logger.info("waiting", extra={"reason": str(error)})
                # The local stack waits a second, not half a minute.
                delay = min(error.delay, int(os.environ.get("BROADSHEET_MAX_DELAY", "900")))
                try:
                    runtime().queue(waiting_room(stage)).send(again(message), delay=delay)
                except Exception as unsent:  # it comes back, and says why if it dies
                    failed(stage, logger, record, unsent, message.get("commit"))
                    raise
            except Permanent as error:
                drop(stage, record, error, logger, metrics, message.get("commit"))
            except Exception as error:
                failed(stage, logger, record, error, message.get("commit"))
                raise

    gathered = GATHERED.get(stage)

    def run_gathered(records: list[SQSRecord]) -> list[str]:
        """The batch's jobs of the kind run as one (the shared group's, in order): the
        ids of the records that failed (all, or none)."""
        messages = [decode(r.body, runtime().sources) for r in records]
        try:
            result = handle_batch(stage, messages, runtime())
        except Permanent as error:
            for record, message in zip(records, messages, strict=True):
                drop(stage, record, error, logger, metrics, message.get("commit"))
            return []
        except Exception as error:
            for record, message in zip(records, messages, strict=True):
                failed(stage, logger, record, error, message.get("commit"))
            return [r.message_id for r in records]
        logger.info("done", extra={"messages": len(records), "result": result})
        return []

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        records = event.get("Records", [])
        together = [SQSRecord(r) for r in records if gathered and _kind(r) == gathered]
        failed = run_gathered(together) if together else []
        rest = [r for r in records if not (gathered and _kind(r) == gathered)]
        failures: list[Any] = []
        if rest or not together:  # Powertools refuses a batch of no records
            response = process_partial_response(
                event={**event, "Records": rest},
                record_handler=record_handler,
                processor=processor,
                context=context,
            )
            failures = list(response.get("batchItemFailures", []))
        failures += [{"itemIdentifier": i} for i in failed]
        return {"batchItemFailures": failures}

    return handler


def _kind(record: dict[str, Any]) -> str | None:
    try:
        body = json.loads(record.get("body") or "")
    except ValueError:
        return None
    return body.get("type") if isinstance(body, dict) else None


def batch_handler(
    stage: str, logger: Logger, metrics: Metrics
) -> Callable[[dict[str, Any], LambdaContext], PartialItemFailureResponse]:
    """A Lambda handler for a stage whose work is one for any number of messages (the
    search index, the invalidations): it runs once a batch. If it fails, every record of
    the batch comes back, and dead-letters in time."""

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        records, messages = [], []
        for record in (SQSRecord(r) for r in event.get("Records", [])):
            try:  # a message for another stage, or no message at all, is dropped alone
                found = messages_in(record)
                for message in found:
                    if message.get("type") != stage:
                        raise Permanent(f"the {stage} stage takes no {message.get('type')!r}")
                    job_from_json(message)
                records.append(record)
                messages += found
            except (ValueError, Permanent) as error:
                drop(stage, record, Permanent(str(error)), logger, metrics)
        if not records:
            return {"batchItemFailures": []}
        started = time.perf_counter()
        try:
            result = handle_batch(stage, messages, runtime())
        except NotYet as error:
            logger.info("waiting", extra={"reason": str(error)})
            delay = min(error.delay, int(os.environ.get("BROADSHEET_MAX_DELAY", "900")))
            for message in messages:
                runtime().queue(waiting_room(stage)).send(again(message), delay=delay)
            return {"batchItemFailures": []}
        except Permanent as error:  # one message a record (messages_in)
            for record, message in zip(records, messages, strict=True):
                drop(stage, record, error, logger, metrics, message.get("commit"))
            return {"batchItemFailures": []}
        except Exception as error:
            for record, message in zip(records, messages, strict=True):
                failed(stage, logger, record, error, message.get("commit"))
            return {"batchItemFailures": [{"itemIdentifier": r.message_id} for r in records]}
        metrics.add_metric(
            name=f"{stage.capitalize()}Latency",
            unit=MetricUnit.Milliseconds,
            value=round((time.perf_counter() - started) * 1000, 1),
        )
        logger.info("done", extra={"messages": len(records), "result": result})
        return {"batchItemFailures": []}

    return handler
