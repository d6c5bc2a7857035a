"""The four real handlers against moto, fed through a local SQS event source mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from broadsheet.adapters.store import S3Store
from broadsheet.pipeline.publisher import Git, publish
from tests.support.aws import REGION, Resources, create_resources, event_source, moto_world
from tests.support.gitrepo import Repo

EVENTS = Path(__file__).resolve().parent.parent / "events"


@pytest.fixture
def aws() -> Iterator[Resources]:
    with moto_world():
        yield create_resources()


def s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def site_object(resources: Resources, key: str) -> bytes | None:
    try:
        return s3().get_object(Bucket=resources.site, Key=key)["Body"].read()  # type: ignore[no-any-return]
    except s3().exceptions.NoSuchKey:
        return None


def publish_repo(repo: Repo, resources: Resources) -> list[str]:
    return publish(Git(repo.root), S3Store(s3(), resources.sources), say=lambda _: None)


def invalidations(resources: Resources) -> list[dict[str, Any]]:
    cloudfront = boto3.client("cloudfront", region_name=REGION)
    listing = cloudfront.list_invalidations(DistributionId=resources.distribution)
    found = []
    for item in listing["InvalidationList"].get("Items", []):
        found.append(
            cloudfront.get_invalidation(DistributionId=resources.distribution, Id=item["Id"])[
                "Invalidation"
            ]
        )
    return found


def test_a_commit_goes_through_the_four_functions(aws: Resources, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    [commit] = publish_repo(repo, aws)
    runner = event_source(aws)
    runner.drain()
    assert site_object(aws, "en/issues/412/fascist-deportations-provoke-resistance/index.html")
    doc = json.loads(site_object(aws, "api/v1/issues/412.json") or b"{}")
    assert len(doc["articles"]) == 5
    report = json.loads(
        s3().get_object(Bucket=aws.sources, Key=f"reports/{commit}.json")["Body"].read()
    )
    assert report["findings"] == [] and len(report["accepted"]) == 15
    [invalidation] = invalidations(aws)
    assert invalidation["InvalidationBatch"]["CallerReference"] == f"broadsheet-{commit}"
    assert runner.failures == 0

    # An edit: one more commit, one more invalidation, a handful of paths.
    page = repo.content / "issues/410/why-we-print.md"
    page.write_text(page.read_text().replace("Write to us at", "Write to the editors at"))
    second = repo.commit("edit")
    publish_repo(repo, aws)
    runner.drain()
    mine = [
        i
        for i in invalidations(aws)
        if i["InvalidationBatch"]["CallerReference"] == f"broadsheet-{second}"
    ]
    assert mine[0]["InvalidationBatch"]["Paths"]["Items"] == [
        "/api/v1/issues/410.json",
        "/en/issues/410/why-we-print/index.html",
    ]
    assert b"Write to the editors" in (
        site_object(aws, "en/issues/410/why-we-print/index.html") or b""
    )


def test_a_redelivered_message_is_processed_once(aws: Resources, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    [commit] = publish_repo(repo, aws)
    sqs = boto3.client("sqs", region_name=REGION)
    [original] = sqs.receive_message(QueueUrl=aws.queues["validate"])["Messages"]
    sqs.send_message(QueueUrl=aws.queues["validate"], MessageBody=original["Body"])
    sqs.change_message_visibility(
        QueueUrl=aws.queues["validate"],  # S3 delivered it twice
        ReceiptHandle=original["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    runner = event_source(aws)
    runner.drain()
    assert runner.delivered["broadsheet-validate"] >= 2
    assert runner.delivered["broadsheet-render"] == 1
    # Validate ran once (idempotency), so render saw one message: one invalidation.
    [invalidation] = invalidations(aws)
    assert invalidation["InvalidationBatch"]["CallerReference"] == f"broadsheet-{commit}"


def test_the_sample_s3_event_from_aws_is_understood(aws: Resources, tmp_path: Path) -> None:
    from broadsheet.handlers import validate

    record = json.loads((EVENTS / "s3_object_created.json").read_text())
    assert (
        validate.jobs(type("R", (), {"json_body": record})())[0]["key"] == "manifests/COMMIT.json"
    )
    test_event = json.loads((EVENTS / "s3_test_event.json").read_text())
    assert validate.jobs(type("R", (), {"json_body": test_event})()) == []


def test_a_failing_record_is_retried_then_dead_lettered_while_others_pass(
    aws: Resources, tmp_path: Path
) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    event = json.loads((EVENTS / "sqs_event.json").read_text())
    assert event["Records"][0]["eventSource"] == "aws:sqs"
    # A render message naming a blob that does not exist fails every time.
    bad = {"commit": "deadbeef", "sequence": 1, "site_blob": "0" * 64, "issues": {}}
    sqs.send_message(QueueUrl=aws.queues["render"], MessageBody=json.dumps(bad))
    runner = event_source(aws)
    runner.drain()
    dead = sqs.receive_message(QueueUrl=aws.dead_letters["render"], MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["commit"] for m in dead["Messages"]] == ["deadbeef"]
    assert runner.failures == 3  # maxReceiveCount deliveries, then the dead-letter queue


def test_an_invalid_article_is_reported_and_the_live_page_stays(
    aws: Resources, tmp_path: Path
) -> None:
    repo = Repo(tmp_path / "repo")
    publish_repo(repo, aws)
    runner = event_source(aws)
    runner.drain()
    live = site_object(aws, "en/issues/412/dockworkers-vote-to-strike/index.html")
    source = repo.content / "issues/412/dockworkers-vote-to-strike.md"
    source.write_text(source.read_text().replace("language: en", "language: fr"))
    commit = repo.commit("bad language")
    publish_repo(repo, aws)
    runner.drain()
    report = json.loads(
        s3().get_object(Bucket=aws.sources, Key=f"reports/{commit}.json")["Body"].read()
    )
    assert [(f["line"], f["field"]) for f in report["findings"]] == [(3, "language")]
    assert site_object(aws, "en/issues/412/dockworkers-vote-to-strike/index.html") == live
