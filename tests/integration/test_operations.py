"""Maintainers' commands against moto: publish, status, dead letters, replay, rebuild."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from broadsheet.cli import main
from broadsheet.pipeline.messages import IssueJob
from tests.support.aws import REGION, Resources, create_resources, event_source, moto_world
from tests.support.gitrepo import Repo

EVENTS = Path(__file__).resolve().parent.parent / "events"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Resources]:
    with moto_world():
        resources = create_resources()
        # The maintainers' commands find a stack by its outputs, as after `make deploy`.
        outputs = resources.outputs()
        template = {
            "Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {k: {"Value": v} for k, v in outputs.items()},
        }
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName="broadsheet", TemplateBody=json.dumps(template)
        )
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        yield resources


def test_publish_refuses_a_stack_of_another_release(
    aws: Resources, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a stack deployed from another commit of Broadsheet
    outputs = {**aws.outputs(), "Release": "0123456789abcdef"}
    template = {
        "Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="elsewhere", TemplateBody=json.dumps(template)
    )
    repo = Repo(tmp_path / "repo")
    # WHEN this publisher is pointed at it THEN it refuses, saying both releases
    assert main(["publish", "--stack", "elsewhere", "--content", str(repo.content)]) != 0
    err = capsys.readouterr().err
    assert "the stack runs Broadsheet release 0123456789abcdef" in err
    assert "BROADSHEET_REF" in err
    s3 = boto3.client("s3", region_name=REGION)
    assert "Contents" not in s3.list_objects_v2(Bucket=aws.sources, Prefix="manifests/")


def test_publish_then_status_shows_each_stage(aws: Resources, tmp_path: Path, capsys) -> None:
    repo = Repo(tmp_path / "repo")
    assert main(["publish", "--content", str(repo.content)]) == 0
    assert "broadsheet status" in capsys.readouterr().out
    event_source(aws).drain()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    for number in (410, 411, 412):
        assert f"  issue {number}   validate done, render done, index done, shared done" in out
    # A first publish creates every file where nothing was: there is nothing to clear
    assert "  invalidate  nothing to clear" in out
    assert main(["publish", "--content", str(repo.content)]) == 0
    assert "nothing to publish" in capsys.readouterr().out


def test_status_lists_the_findings_of_a_rejected_article(
    aws: Resources, tmp_path: Path, capsys
) -> None:
    repo = Repo(tmp_path / "repo")
    repo.write("issues/412/broken.md", "---\ntitle: Broken\n---\n\nNo language.\n")
    sha = repo.commit("broken")
    main(["publish", "--content", str(repo.content)])
    event_source(aws).drain()
    capsys.readouterr()
    assert main(["status", sha[:10]]) == 1
    assert "issues/412/broken.md:2:1: language: required key is missing" in capsys.readouterr().out


def test_status_waits_for_the_commit_and_annotates_withdrawn_pages_for_ci(
    aws: Resources, tmp_path: Path, capsys
) -> None:
    repo = Repo(tmp_path / "repo")
    main(["publish", "--content", str(repo.content)])
    runner = event_source(aws)
    runner.drain()
    repo.git("rm", "-q", "content/issues/412/dockworkers-vote-to-strike.md")
    repo.commit("an article taken down")
    main(["publish", "--content", str(repo.content)])
    capsys.readouterr()
    # WHEN CI asks before the stages have run: it waits its time, then says so (exit 3)
    assert main(["status", "--wait", "0.5", "--format", "github"]) == 3
    assert "still under way after 0.5 s" in capsys.readouterr().err
    # WHEN they have: the withdrawn page is a warning on the check, apart from findings
    runner.drain()
    assert main(["status", "--wait", "30", "--format", "github"]) == 0
    out = capsys.readouterr().out
    assert (
        "::warning title=Withdrawn from readers::/en/issues/412/dockworkers-vote-to-strike/" in out
    )
    assert "::error" not in out
    assert "  withdrawn   /en/issues/412/dockworkers-vote-to-strike/" in out


def test_dead_letters_are_listed_with_their_reason_and_replayed(aws: Resources, capsys) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    bad = IssueJob("commit", "cafe0001", 1, 0, "", 1, None, "0" * 40, True, [1])
    sqs.send_message(QueueUrl=aws.queues["render"], MessageBody=json.dumps(bad.to_json()))
    runner = event_source(aws)
    runner.drain()
    capsys.readouterr()
    assert main(["dlq", "list"]) == 0
    listed = capsys.readouterr().out
    assert "render" in listed and "cafe0001" in listed
    assert "Retryable: source blob 000" in listed
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


def test_rebuild_checks_and_renders_every_issue_again(
    aws: Resources, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = Repo(tmp_path / "repo")
    main(["publish", "--content", str(repo.content)])
    runner = event_source(aws)
    runner.drain()
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=aws.site, Key="en/issues/411/index.html", Body=b"old template")
    capsys.readouterr()
    assert main(["rebuild"]) == 0
    # The rebuild names itself, and status follows it as it follows a commit.
    [rebuild_id] = re.findall(r"broadsheet status (rebuild-\S+)", capsys.readouterr().err)
    runner.drain()
    page = s3.get_object(Bucket=aws.site, Key="en/issues/411/index.html")["Body"].read()
    assert page.startswith(b"<!doctype html>")
    assert runner.delivered["broadsheet-render"] == 3 + 3  # the publish, then one per issue
    assert runner.failures == 0
    assert main(["status", rebuild_id]) == 0
    out = capsys.readouterr().out
    assert "  issue 411   validate done, render done, index done, shared done\n" in out
    assert "pending" not in out
    assert "  invalidated /en/issues/411/index.html\n" in out  # the page it mended, alone
    assert "  search      en indexed, es indexed\n" in out


def test_status_lists_the_releases_waiting(aws: Resources, tmp_path: Path, capsys) -> None:
    repo = Repo(tmp_path / "repo")
    main(["publish", "--content", str(repo.content)])
    event_source(aws).drain()
    capsys.readouterr()
    main(["status"])
    out = capsys.readouterr().out
    assert (
        "clock       issue 412 heat-and-the-warehouse-floor: "
        "embargo lifts at 2030-08-01T04:00:00+00:00" in out
    )


def test_publish_after_history_was_rewritten_says_what_to_run(
    aws: Resources, tmp_path: Path, capsys
) -> None:
    repo = Repo(tmp_path / "repo")
    main(["publish", "--content", str(repo.content)])
    repo.write("issues/412/x.md", "---\ntitle: X\n---\n")
    repo.commit("x")
    repo.git("reset", "-q", "--hard", "HEAD~1")
    repo.git("commit", "-q", "--amend", "-m", "rewritten")
    capsys.readouterr()
    assert main(["publish", "--content", str(repo.content)]) == 1
    error = capsys.readouterr().err
    assert "history rewritten?): run `broadsheet publish --snapshot`" in error
    assert main(["publish", "--content", str(repo.content), "--snapshot"]) == 0


def test_repair_finds_a_page_gone_from_the_bucket_and_mends_it(
    aws: Resources, tmp_path: Path, capsys
) -> None:
    repo = Repo(tmp_path / "repo")
    main(["publish", "--content", str(repo.content)])
    runner = event_source(aws)
    runner.drain()
    s3 = boto3.client("s3", region_name=REGION)
    page = "en/issues/410/why-we-print/index.html"
    kept = s3.get_object(Bucket=aws.site, Key=page)["Body"].read()
    s3.delete_object(Bucket=aws.site, Key=page)
    capsys.readouterr()
    assert main(["repair", "--dry-run"]) == 1
    assert f"  {page}" in capsys.readouterr().out
    assert main(["repair"]) == 1
    runner.drain()
    assert s3.get_object(Bucket=aws.site, Key=page)["Body"].read() == kept
    assert main(["repair", "--dry-run"]) == 0
    assert "holds what its" in capsys.readouterr().out


def test_the_daily_repair_handler_takes_the_scheduled_event_and_counts_what_it_found(
    aws: Resources, tmp_path: Path, capsys, caplog: pytest.LogCaptureFixture
) -> None:
    from broadsheet.handlers import repair
    from broadsheet.local.eventsource import Context, environment

    repo = Repo(tmp_path / "repo")
    main(["publish", "--content", str(repo.content)])
    runner = event_source(aws)
    runner.drain()
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=aws.site, Key="en/issues/410/stray/index.html", Body=b"in no record"
    )
    event = json.loads((EVENTS / "eventbridge_scheduled.json").read_text())
    capsys.readouterr()
    with environment(aws.environment("repair")):
        found = repair.handler(event, Context("broadsheet-repair"))
    assert (found["differences"], found["orphans"]) == (1, 1)
    logged = capsys.readouterr().out
    assert '"RepairDifferences":[1.0]' in logged.replace(" ", "")
    # (Powertools' logger writes to stdout, or to pytest's log capture once it has one)
    assert "the site bucket differed from its records" in logged + caplog.text
    keys = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=aws.site)["Contents"]
    assert "en/issues/410/stray/index.html" not in {k["Key"] for k in keys}
