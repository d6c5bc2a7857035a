"""Maintainers' commands against moto: publish, status, dead letters, replay, rebuild."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from broadsheet.cli import main
from broadsheet.pipeline.operations import Stack
from tests.support.aws import REGION, Resources, create_resources, event_source, moto_world
from tests.support.gitrepo import Repo


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Resources]:
    with moto_world():
        resources = create_resources()
        # The maintainers' commands find a stack by its outputs, as after `make deploy`.
        outputs = {
            "SourceBucketName": resources.sources,
            "SiteBucketName": resources.site,
            "DistributionId": resources.distribution,
        }
        for stage, url in resources.queues.items():
            outputs[f"{stage.capitalize()}QueueUrl"] = url
            outputs[f"{stage.capitalize()}DeadLetterQueueUrl"] = resources.dead_letters[stage]
        template = {
            "Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {k: {"Value": v} for k, v in outputs.items()},
        }
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName="broadsheet", TemplateBody=json.dumps(template)
        )
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        yield resources


def test_publish_then_status_shows_each_stage(aws: Resources, tmp_path: Path, capsys) -> None:
    repo = Repo(tmp_path / "repo")
    assert main(["publish", "--repo", str(repo.root)]) == 0
    assert "broadsheet status" in capsys.readouterr().out
    event_source(aws).drain()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    for stage in ("validate", "render", "index", "invalidate"):
        assert f"  {stage:<11} done" in out
    assert "invalidated /index.html" in out
    assert main(["publish", "--repo", str(repo.root)]) == 0
    assert "nothing to publish" in capsys.readouterr().out


def test_status_lists_the_findings_of_a_rejected_article(
    aws: Resources, tmp_path: Path, capsys
) -> None:
    repo = Repo(tmp_path / "repo")
    repo.write("issues/412/broken.md", "---\ntitle: Broken\n---\n\nNo language.\n")
    sha = repo.commit("broken")
    main(["publish", "--repo", str(repo.root)])
    event_source(aws).drain()
    capsys.readouterr()
    assert main(["status", sha[:10]]) == 1
    assert "issues/412/broken.md:2:1: language: required key is missing" in capsys.readouterr().out


def test_dead_letters_are_listed_with_their_reason_and_replayed(aws: Resources, capsys) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    bad = {"commit": "cafe0001", "sequence": 1, "site_blob": "0" * 64, "issues": {}}
    sqs.send_message(QueueUrl=aws.queues["render"], MessageBody=json.dumps(bad))
    runner = event_source(aws)
    runner.drain()
    capsys.readouterr()
    assert main(["dlq", "list"]) == 0
    listed = capsys.readouterr().out
    assert "render" in listed and "cafe0001" in listed
    assert "Retry: source blob 000" in listed
    assert main(["dlq", "replay", "--stage", "render"]) == 0
    assert sqs.receive_message(QueueUrl=aws.dead_letters["render"]).get("Messages") is None
    assert (
        int(
            sqs.get_queue_attributes(
                QueueUrl=aws.queues["render"], AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
        )
        == 1
    )


def test_rebuild_fans_out_over_the_render_queue(aws: Resources, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    main(["publish", "--repo", str(repo.root)])
    runner = event_source(aws)
    runner.drain()
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=aws.site, Key="en/issues/411/index.html", Body=b"old template")
    assert main(["rebuild"]) == 0
    runner.drain()
    page = s3.get_object(Bucket=aws.site, Key="en/issues/411/index.html")["Body"].read()
    assert page.startswith(b"<!doctype html>")
    assert runner.delivered["broadsheet-render"] == 1 + 3  # the publish, then one per issue
    assert Stack.find("broadsheet").site_bucket == aws.site
