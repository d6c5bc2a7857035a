"""The adapters: what moto cannot show (CloudFront's throttling, the key value store's
ETags) answered by botocore's Stubber with the services' real shapes; the scheduler
against moto; the in-memory queue's SQS rules and its claim check."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from broadsheet.adapters.cdn import CloudFrontCDN
from broadsheet.adapters.queue import MAX_BODY, MemoryQueue
from broadsheet.adapters.redirects import KeyValueStoreRedirects, sync
from broadsheet.adapters.scheduler import EventBridgeScheduler, fire_due
from broadsheet.adapters.store import MemoryStore
from tests.support.aws import moto_world


def test_invalidation_backs_off_when_cloudfront_is_busy_then_succeeds() -> None:
    client = boto3.client(
        "cloudfront", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    request = {
        "DistributionId": "E1",
        "InvalidationBatch": {
            "Paths": {"Quantity": 1, "Items": ["/en/index.html"]},
            "CallerReference": "c1",
        },
    }
    slept: list[float] = []
    with Stubber(client) as stub:
        stub.add_client_error(
            "create_invalidation",
            "TooManyInvalidationsInProgress",
            http_status_code=400,
            expected_params=request,
        )
        stub.add_client_error(
            "create_invalidation", "Throttling", http_status_code=400, expected_params=request
        )
        stub.add_response(
            "create_invalidation",
            {
                "Location": "https://cloudfront.amazonaws.com/2020-05-31/distribution/E1/invalidation/I2",
                "Invalidation": {
                    "Id": "I2",
                    "Status": "InProgress",
                    "CreateTime": "2025-07-25T06:00:00Z",
                    "InvalidationBatch": request["InvalidationBatch"],
                },
            },
            expected_params=request,
        )
        cdn = CloudFrontCDN(client, "E1", sleep=slept.append)
        assert cdn.invalidate(["/en/index.html"], "c1") == "I2"
        stub.assert_no_pending_responses()
    assert len(slept) == 2


def test_invalidation_gives_up_on_an_error_that_retrying_cannot_fix() -> None:
    client = boto3.client(
        "cloudfront", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_client_error("create_invalidation", "AccessDenied", http_status_code=403)
        with pytest.raises(client.exceptions.ClientError):
            CloudFrontCDN(client, "E1", sleep=lambda _: None).invalidate(["/x"], "c2")


def test_the_key_value_store_is_made_to_hold_exactly_the_table_with_its_etags() -> None:
    client = boto3.client(
        "cloudfront-keyvaluestore",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    arn = "arn:aws:cloudfront::123456789012:key-value-store/abc"
    described = {
        "KvsARN": arn,
        "Created": "2025-07-25T06:00:00Z",
        "ETag": "E-1",
        "ItemCount": 2,
        "TotalSizeInBytes": 10,
    }
    with Stubber(client) as stub:
        stub.add_response(
            "list_keys",
            {
                "Items": [
                    {"Key": "/en/issues/1/a/", "Value": "/en/issues/1/b/"},
                    {"Key": "/en/issues/1/x/", "Value": "/en/issues/1/y/"},
                ]
            },
            {"KvsARN": arn},
        )
        stub.add_response("describe_key_value_store", described, {"KvsARN": arn})
        stub.add_response(
            "delete_key",
            {"ItemCount": 1, "TotalSizeInBytes": 5, "ETag": "E-2"},
            {"KvsARN": arn, "Key": "/en/issues/1/x/", "IfMatch": "E-1"},
        )
        stub.add_response("describe_key_value_store", {**described, "ETag": "E-2"}, {"KvsARN": arn})
        stub.add_response(
            "put_key",
            {"ItemCount": 1, "TotalSizeInBytes": 5, "ETag": "E-3"},
            {"KvsARN": arn, "Key": "/en/issues/1/a/", "Value": "/en/issues/1/c/", "IfMatch": "E-2"},
        )
        changed = sync(KeyValueStoreRedirects(client, arn), {"/en/issues/1/a/": "/en/issues/1/c/"})
        stub.assert_no_pending_responses()
    assert changed == ["/en/issues/1/x/", "/en/issues/1/a/"]


def test_a_large_message_travels_as_a_claim_on_the_bucket() -> None:
    store = MemoryStore()
    queue = MemoryQueue(store)
    small, large = {"a": "b"}, {"text": "x" * (MAX_BODY + 1)}
    queue.send(small)
    queue.send(large)
    first, second = queue.waiting()
    assert json.loads(first.body) == small
    assert json.loads(second.body).keys() == {"claim"}
    assert queue.largest < 200
    assert queue.receive(second) == large
    assert list(store.keys("claims/"))


def test_a_message_received_too_often_is_dead_lettered() -> None:
    queue = MemoryQueue(MemoryStore(), max_receives=2)
    queue.send({"a": 1})
    [envelope] = queue.waiting()
    for _ in range(2):
        assert queue.receive(envelope) == {"a": 1}
        queue.release(envelope)
    assert queue.receive(envelope) is None
    assert queue.waiting() == [] and len(queue.dead) == 1


def test_releases_are_one_time_schedules_in_their_group() -> None:
    with moto_world():
        client = boto3.client("scheduler", region_name="us-east-1")
        client.create_schedule_group(Name="releases")
        target = "arn:aws:sqs:us-east-1:123456789012:index"
        dead = "arn:aws:sqs:us-east-1:123456789012:release-dlq"
        scheduler = EventBridgeScheduler(
            client, "releases", target, "arn:aws:iam::123456789012:role/r", dead
        )
        at = dt.datetime(2030, 8, 1, 4, tzinfo=dt.UTC)
        scheduler.put("412-heat", at, {"type": "release", "issue": 412})
        scheduler.put("412-heat", at + dt.timedelta(hours=1), {"type": "release", "issue": 412})
        detail = client.get_schedule(Name="412-heat", GroupName="releases")
        assert detail["ScheduleExpression"] == "at(2030-08-01T05:00:00)"
        assert detail["ScheduleExpressionTimezone"] == "UTC"
        assert detail["ActionAfterCompletion"] == "DELETE"
        assert detail["Target"]["Arn"] == target
        # A release the service cannot send is retried for a day, then kept where its
        # alarm watches: an embargo is never lifted late in silence.
        assert detail["Target"]["RetryPolicy"] == {
            "MaximumRetryAttempts": 185,
            "MaximumEventAgeInSeconds": 86400,
        }
        assert detail["Target"]["DeadLetterConfig"] == {"Arn": dead}
        [pending] = scheduler.pending()
        assert pending.at == at + dt.timedelta(hours=1) and pending.message["issue"] == 412
        sent: list[tuple[str, str]] = []
        assert fire_due(scheduler, at, lambda arn, body, _: sent.append((arn, body))) == []
        later = at + dt.timedelta(hours=2)
        fired = fire_due(scheduler, later, lambda a, b, _: sent.append((a, b)))
        assert [r.name for r in fired] == ["412-heat"] and sent[0][0] == target
        assert scheduler.pending() == []
        scheduler.delete("412-heat")  # gone already: nothing to do
        # A moment between two seconds is due at the next: never before the moment
        scheduler.put("412-late", at + dt.timedelta(seconds=5.3), {"type": "release"})
        detail = client.get_schedule(Name="412-late", GroupName="releases")
        assert detail["ScheduleExpression"] == "at(2030-08-01T04:00:06)"
        assert fire_due(scheduler, at + dt.timedelta(seconds=5.9), lambda a, b, _: None) == []


KEYS = st.sampled_from(["a", "a/b", "a/b/c", "a/c", "ab", "b", "b/a", "outbox/x/1.json", ""])


@given(
    st.lists(st.tuples(st.sampled_from(["put", "delete", "retire", "expire"]), KEYS), max_size=40),
    KEYS,
)
def test_the_memory_bucket_lists_a_prefix_as_s3_does(
    steps: list[tuple[str, str]], prefix: str
) -> None:
    # GIVEN any run of writes, deletes, tags and expiries
    store = MemoryStore()
    for action, key in steps:
        if action == "put":
            store.put(key, key.encode())
        elif action == "delete":
            store.delete(key)
        elif action == "retire" and key in store.objects:
            store.retire(key)
        elif action == "expire":
            store.expire()
    # THEN a listing holds exactly the keys under the prefix, in order
    assert list(store.keys(prefix)) == sorted(k for k in store.objects if k.startswith(prefix))


def test_a_long_slugs_schedule_has_the_same_name_in_every_process() -> None:
    # Python's hash() is salted per process: another container could not find the
    # schedule it must move or delete.
    slug = "a-very-long-slug-that-with-its-issue-number-does-not-fit-in-sixty-four-characters"
    code = f"from broadsheet.pipeline.index import release_name; print(release_name(412, {slug!r}))"
    names = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    [name] = names
    assert len(name) <= 64 and name.startswith("412-a-very-long")
    assert re.fullmatch(r"[0-9A-Za-z_.-]+", name)
