"""Handlers for the local event source's own tests, importable by an execution environment
of its own (a process started by the event source, side by side): each reports what it
saw to the queue named by ``REPORT_QUEUE``, over loopback to moto."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import boto3


def _report(**fields: Any) -> None:
    boto3.client("sqs").send_message(
        QueueUrl=os.environ["REPORT_QUEUE"], MessageBody=json.dumps(fields)
    )


def slow(event: dict[str, Any], _: Any) -> dict[str, Any]:
    """A second per batch; says which process ran it, and when."""
    began = time.time()
    time.sleep(1)
    for record in event["Records"]:
        _report(
            n=json.loads(record["body"])["n"],
            pid=os.getpid(),
            began=began,
            ended=time.time(),
            parents_main=getattr(sys.modules.get("__mp_main__"), "__file__", None),
        )
    return {"batchItemFailures": []}


def dies_once(event: dict[str, Any], _: Any) -> dict[str, Any]:
    """The environment is killed the first time it is given a record (as Lambda kills a
    function past its memory); the second delivery is handled."""
    for record in event["Records"]:
        if record["attributes"]["ApproximateReceiveCount"] == "1":
            os._exit(137)
        _report(n=json.loads(record["body"])["n"], pid=os.getpid())
    return {"batchItemFailures": []}


def hungry(event: dict[str, Any], _: Any) -> dict[str, Any]:
    """Holds as many megabytes as each record asks for, written to (so resident), for a
    second: as a photograph decoded whole would."""
    for record in event["Records"]:
        asked = json.loads(record["body"])["mb"]
        held = b"x" * (asked * 2**20)
        time.sleep(1)
        _report(mb=len(held) // 2**20, delivery=record["attributes"]["ApproximateReceiveCount"])
    return {"batchItemFailures": []}
