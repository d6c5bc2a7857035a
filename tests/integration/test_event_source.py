"""The local event source against SQS in moto: Lambda's pollers, a FIFO queue's message
groups held while in flight, and throttling that spends a receive, so the tests see
what Lambda does with the template's concurrency settings."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from broadsheet.local.eventsource import POLLERS, FunctionMapping, LocalEventSource
from tests.support.aws import REGION, moto_world


@pytest.fixture
def sqs() -> Iterator[Any]:
    with moto_world():
        yield boto3.client("sqs", region_name=REGION)


def queue(sqs: Any, name: str, *, fifo: bool = False, max_receives: int = 3) -> tuple[str, str]:
    suffix = ".fifo" if fifo else ""
    extra = {"FifoQueue": "true"} if fifo else {}
    dead = sqs.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=extra)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]
    policy = {"deadLetterTargetArn": arn["QueueArn"], "maxReceiveCount": str(max_receives)}
    attributes = {"RedrivePolicy": json.dumps(policy), **extra}
    return sqs.create_queue(QueueName=f"{name}{suffix}", Attributes=attributes)["QueueUrl"], dead


def count(sqs: Any, url: str) -> int:
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(found["ApproximateNumberOfMessages"]) + int(
        found["ApproximateNumberOfMessagesNotVisible"]
    )


def test_reserved_concurrency_below_the_pollers_throttles_jobs_into_the_dead_letter_queue(
    sqs: Any,
) -> None:
    # GIVEN a burst on a standard queue, and a function with reserved concurrency 1 (how
    # index and search were deployed), taking one record a batch
    url, dead = queue(sqs, "burst")
    for n in range(POLLERS * 3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    handled: list[int] = []

    def handler(event: dict[str, Any], _: Any) -> dict[str, Any]:
        handled.extend(json.loads(r["body"])["n"] for r in event["Records"])
        return {"batchItemFailures": []}

    mapping = FunctionMapping("f", url, handler, batch_size=1, reserved=1)
    source = LocalEventSource(sqs, [mapping])
    # WHEN the event source runs until the queue is empty
    source.drain()
    # THEN valid jobs were throttled over and over, and some reached the dead-letter
    # queue without the function ever seeing them
    assert source.throttled["f"] > 0
    assert count(sqs, dead) > 0
    assert len(handled) + count(sqs, dead) == POLLERS * 3
    # AND bounded by the event source instead (MaximumConcurrency), none is lost
    url, dead = queue(sqs, "bounded")
    for n in range(POLLERS * 3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    handled.clear()
    bounded = FunctionMapping("g", url, handler, batch_size=1, concurrency=2)
    LocalEventSource(sqs, [bounded]).drain()
    assert sorted(handled) == list(range(POLLERS * 3)) and count(sqs, dead) == 0


def test_a_fifo_group_is_held_while_in_flight_and_groups_run_side_by_side(sqs: Any) -> None:
    # GIVEN three messages for each of two groups on a FIFO queue
    url, _ = queue(sqs, "groups", fifo=True)
    for n in range(3):
        for group in ("issue-1", "issue-2"):
            body = json.dumps({"group": group, "n": n})
            sqs.send_message(
                QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body
            )
    rounds: list[list[tuple[str, int]]] = []
    batch: list[tuple[str, int]] = []

    def handler(event: dict[str, Any], _: Any) -> dict[str, Any]:
        for record in event["Records"]:
            body = json.loads(record["body"])
            assert record["attributes"]["MessageGroupId"] == body["group"]
            batch.append((body["group"], body["n"]))
        return {"batchItemFailures": []}

    source = LocalEventSource(sqs, [FunctionMapping("f", url, handler, batch_size=1)])
    while source.poll(source.mappings[0]):
        rounds.append(sorted(batch))
        batch.clear()
    # THEN each round ran one message of each group (the pollers found the rest of a
    # group held while its first was in flight), each group in order
    assert rounds == [[("issue-1", n), ("issue-2", n)] for n in range(3)]
    assert source.concurrent["f"] == 2


@pytest.fixture
def sqs_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """SQS in a moto server on loopback, which execution environments of their own (other
    processes) reach as the handlers reach it in ``make run``."""
    from moto.server import ThreadedMotoServer

    from broadsheet.local.devstack import LOCAL_ACCOUNT, free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    for key, value in LOCAL_ACCOUNT.items():
        monkeypatch.setenv(key, value)
    try:
        yield boto3.client("sqs", region_name=REGION)
    finally:
        server.stop()


def elsewhere(url: str, report: str, handler: str, **options: Any) -> FunctionMapping:
    """A one-record-a-batch mapping to a handler of ``tests.support.handlers``, which
    runs side by side only: in this process it fails the test."""
    return FunctionMapping(
        "f",
        url,
        lambda *_: pytest.fail("side by side, the handler runs in its own environment"),
        {"REPORT_QUEUE": report},
        batch_size=1,
        entry=f"tests.support.handlers.{handler}",
        **options,
    )


def reports(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        found += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return found


def test_side_by_side_a_rounds_invocations_overlap_each_in_a_warm_environment_of_its_own(
    sqs_server: Any,
) -> None:
    # GIVEN five one-record jobs for a function that takes a second a batch
    sqs = sqs_server
    url, dead = queue(sqs, "jobs")
    report = sqs.create_queue(QueueName="report")["QueueUrl"]
    for n in range(POLLERS):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    mapping = elsewhere(url, report, "slow")
    with LocalEventSource(sqs, [mapping], side_by_side=True) as source:
        # WHEN the event source drains the queue, cold
        assert source.drain() == POLLERS
        cold = reports(sqs, report)
        # THEN each job ran once, none in this process, five environments started
        assert sorted(r["n"] for r in cold) == list(range(POLLERS))
        assert source.concurrent["f"] == POLLERS
        assert os.getpid() not in {r["pid"] for r in cold}
        # AND warm, the next five run at once, one in each environment, none cold
        for n in range(POLLERS):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
        source.drain()
        warm = reports(sqs, report)
        assert max(r["began"] for r in warm) < min(r["ended"] for r in warm)
        assert len({r["pid"] for r in warm}) == POLLERS
        assert len({r["pid"] for r in cold + warm}) == POLLERS
    assert count(sqs, url) == 0 and count(sqs, dead) == 0 and source.failures == 0


def test_side_by_side_an_environment_that_dies_fails_its_batch_and_a_new_one_starts(
    sqs_server: Any,
) -> None:
    # GIVEN a job whose first delivery kills the process that runs it
    sqs = sqs_server
    url, dead = queue(sqs, "fragile")
    report = sqs.create_queue(QueueName="report")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 7}))
    mapping = elsewhere(url, report, "dies_once")
    with LocalEventSource(sqs, [mapping], side_by_side=True) as source:
        # WHEN the event source drains the queue
        source.drain()
    # THEN the batch failed once, came back, and a fresh environment handled it
    assert source.failures == 1 and source.invocations == 2
    assert [r["n"] for r in reports(sqs, report)] == [7]
    assert count(sqs, url) == 0 and count(sqs, dead) == 0


def test_side_by_side_needs_each_handlers_entry(sqs: Any) -> None:
    url, _ = queue(sqs, "entryless")
    with pytest.raises(ValueError, match="entry"):
        LocalEventSource(sqs, [FunctionMapping("f", url, lambda *_: None)], side_by_side=True)


def test_side_by_side_an_environment_past_its_memory_is_killed_as_lambda_kills_it(
    sqs_server: Any,
) -> None:
    # GIVEN a function of 256 MB, a job that needs 20 MB and one that needs 400 MB
    sqs = sqs_server
    url, dead = queue(sqs, "photos", max_receives=2)
    report = sqs.create_queue(QueueName="report")["QueueUrl"]
    for mb in (20, 400):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"mb": mb}))
    mapping = elsewhere(url, report, "hungry", memory=256)
    with LocalEventSource(sqs, [mapping], side_by_side=True) as source:
        # WHEN the event source drains the queue
        source.drain()
    # THEN the small job is done at its first delivery (in flight beside the large one,
    # in an environment of its own, it did not die with it); the large one killed its
    # environment on each delivery and reached the dead-letter queue, as on Lambda,
    # where an invocation past its memory fails however often it is retried
    assert reports(sqs, report) == [{"mb": 20, "delivery": "1"}]
    assert source.failures == 2 and count(sqs, dead) == 1 and count(sqs, url) == 0
    assert 20 < source.peak_mb["f"] < 256


STACK = """
import sys, time
import boto3
from broadsheet.local.eventsource import FunctionMapping, LocalEventSource

if __name__ == "__main__":
    url, report = sys.argv[1], sys.argv[2]
    mapping = FunctionMapping("f", url, print, {"REPORT_QUEUE": report}, batch_size=1,
                              entry="tests.support.handlers.slow")
    source = LocalEventSource(boto3.client("sqs"), [mapping], side_by_side=True)
    source.drain()
    print("drained", flush=True)
    time.sleep(600)
"""


def test_side_by_side_environments_never_outlive_the_process_that_runs_the_stack(
    sqs_server: Any, tmp_path: Path
) -> None:
    # GIVEN a stack whose event source has warm environments
    import subprocess
    import sys
    import time

    sqs = sqs_server
    url, _ = queue(sqs, "orphans")
    report = sqs.create_queue(QueueName="report")["QueueUrl"]
    for n in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(root, "functions"), root])}
    script = tmp_path / "stack.py"  # run as a script: a spawned process would import it
    script.write_text(STACK)
    stack = subprocess.Popen(
        [sys.executable, str(script), url, report],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stack.stdout is not None and stack.stdout.readline().strip() == "drained"
        seen = reports(sqs, report)
        pids = {r["pid"] for r in seen}
        assert pids and all(os.path.exists(f"/proc/{pid}") for pid in pids)
        # (and an environment holds the handler, not the script that runs the stack)
        assert {r["parents_main"] for r in seen} == {None}
    finally:
        # WHEN that process is killed, with no chance to stop them
        stack.kill()
        stack.wait(10)
    # THEN its environments end by themselves, within a second or so
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie, ended and waiting to be reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
