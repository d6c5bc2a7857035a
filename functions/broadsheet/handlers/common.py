"""What every handler shares: its wiring from the environment, and idempotency."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, cached_property
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from broadsheet.adapters.cdn import CloudFrontCDN
from broadsheet.adapters.queue import SQSQueue
from broadsheet.adapters.redirects import KeyValueStoreRedirects, ObjectRedirects, Redirects
from broadsheet.adapters.store import S3Store
from broadsheet.pipeline.stages import Buckets, failure_key

SERVICE = "broadsheet"


class Runtime:
    """A function's AWS wiring, each client made on first use: a handler pays at cold
    start only for the services it calls (boto3 loads a service model per client)."""

    def __init__(
        self,
        source: str,
        site: str,
        next_url: str | None,
        distribution: str | None,
        redirect_store: str | None,
    ) -> None:
        self.source, self.site = source, site
        self.next_url, self.distribution, self.redirect_store = (
            next_url,
            distribution,
            redirect_store,
        )

    @cached_property
    def buckets(self) -> Buckets:
        s3 = _client("s3")
        return Buckets(S3Store(s3, self.source), S3Store(s3, self.site))

    @cached_property
    def next_queue(self) -> SQSQueue | None:
        return SQSQueue(_client("sqs"), self.next_url) if self.next_url else None

    @cached_property
    def cdn(self) -> CloudFrontCDN | None:
        return (
            CloudFrontCDN(_client("cloudfront"), self.distribution) if self.distribution else None
        )

    @cached_property
    def redirects(self) -> Redirects:
        # The edge's key value store; without one (the local stack), a JSON object.
        if self.redirect_store:
            return KeyValueStoreRedirects(_client("cloudfront-keyvaluestore"), self.redirect_store)
        return ObjectRedirects(self.buckets.sources)


def _client(service: str) -> Any:
    # AWS_ENDPOINT_URL (the local stack) is honoured by boto3 itself.
    return boto3.client(service)


def runtime() -> Runtime:
    """The function's wiring, once per container, from its environment."""
    return _runtime(
        os.environ["SOURCE_BUCKET"],
        os.environ.get("SITE_BUCKET", ""),
        os.environ.get("NEXT_QUEUE_URL"),
        os.environ.get("DISTRIBUTION_ID"),
        os.environ.get("REDIRECT_STORE_ARN"),
    )


@cache
def _runtime(
    source: str,
    site: str,
    next_url: str | None,
    distribution: str | None,
    redirect_store: str | None,
) -> Runtime:
    # Keyed by the environment, so the local runner can host all four functions at once.
    return Runtime(source, site, next_url, distribution, redirect_store)


def powertools(stage: str) -> tuple[Logger, Metrics]:
    logger = Logger(service=SERVICE, log_uncaught_exceptions=True)
    logger.append_keys(stage=stage)
    # Metric names carry the stage; a dimension would be shared by every Metrics instance
    # in one process (Powertools keeps their state at module level).
    return logger, Metrics(namespace="Broadsheet", service=SERVICE)


IDEMPOTENCY = IdempotencyConfig(
    # Keyed per stage and commit (and issue, for a rebuild's fan-out): the job itself.
    event_key_jmespath="[stage, commit, issue]",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=7 * 24 * 3600,
)


@cache
def idempotent(work: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """``work(job=...)`` run at most once per key; a repeat returns the first result."""
    persistence = DynamoDBPersistenceLayer(
        table_name=os.environ["IDEMPOTENCY_TABLE"], boto3_client=_client("dynamodb")
    )
    wrapped: Callable[..., dict[str, Any]] = idempotent_function(
        data_keyword_argument="job", config=IDEMPOTENCY, persistence_store=persistence
    )(work)
    return wrapped


def jobs_from_body(stage: str) -> Callable[[SQSRecord], list[dict[str, Any]]]:
    """The message a previous stage sent is the job."""

    def jobs(record: SQSRecord) -> list[dict[str, Any]]:
        job = record.json_body
        return [{**job, "stage": stage, "issue": job.get("issue")}]

    return jobs


def sqs_handler(
    stage: str,
    logger: Logger,
    metrics: Metrics,
    work: Callable[[dict[str, Any]], dict[str, Any]],
    jobs: Callable[[SQSRecord], list[dict[str, Any]]] | None = None,
) -> Callable[[dict[str, Any], LambdaContext], PartialItemFailureResponse]:
    """A Lambda handler for an SQS event source: each record's jobs run idempotently, and
    the records that failed are reported so that only they come back."""
    processor = BatchProcessor(event_type=EventType.SQS)
    jobs_of = jobs or jobs_from_body(stage)

    def record_handler(record: SQSRecord) -> None:
        try:
            for job in jobs_of(record):
                logger.set_correlation_id(job["commit"])
                idempotent(work)(job=job)
        except Exception as error:
            # Kept by message id (a dead-lettered message keeps it), so `broadsheet dlq
            # list` can say why a message ended there.
            with contextlib.suppress(Exception):
                runtime().buckets.sources.put(
                    failure_key(record.message_id),
                    json.dumps(
                        {
                            "stage": stage,
                            "error": f"{type(error).__name__}: {error}",
                            "receive_count": record.attributes.approximate_receive_count,
                            "at": dt.datetime.now(dt.UTC).isoformat(),
                        }
                    ).encode(),
                    content_type="application/json",
                )
            raise

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        IDEMPOTENCY.register_lambda_context(context)
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return handler


@contextmanager
def stage_latency(metrics: Metrics, stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics.add_metric(
            name=f"{stage.capitalize()}Latency",
            unit=MetricUnit.Milliseconds,
            value=round((time.perf_counter() - started) * 1000, 1),
        )
