"""The four real handlers against moto, fed through a local SQS event source mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from broadsheet.adapters.store import S3Store
from broadsheet.pipeline.messages import IssueJob
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
    return publish(Git.of(repo.content), S3Store(s3(), resources.sources), say=lambda _: None)


def published(resources: Resources, root: Path) -> tuple[Repo, str, Any]:
    """The sample archive in a repository, published and every message handled: the
    repository, its commit and the runner of the handlers."""
    repo = Repo(root / "repo")
    [commit] = publish_repo(repo, resources)
    runner = event_source(resources)
    runner.drain()
    return repo, commit, runner


def reference(commit: str, invalidation: dict[str, Any]) -> bool:
    return bool(
        invalidation["InvalidationBatch"]["CallerReference"].startswith(f"broadsheet-{commit}")
    )


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


def test_a_commit_goes_through_the_five_functions(aws: Resources, tmp_path: Path) -> None:
    repo, commit, runner = published(aws, tmp_path)
    assert site_object(aws, "en/issues/412/fascist-deportations-provoke-resistance/index.html")
    doc = json.loads(site_object(aws, "api/v1/issues/412.json") or b"{}")
    assert len(doc["articles"]) == 5
    report = json.loads(
        s3().get_object(Bucket=aws.sources, Key=f"reports/{commit}.json")["Body"].read()
    )
    assert report["findings"] == [] and report["issues"] == [410, 411, 412]
    # Everything was created where nothing was: at most the files one issue's job
    # replaced after another's (the shared group's batches) are cleared
    assert len([i for i in invalidations(aws) if reference(commit, i)]) <= 1
    # Each language's search entry, its own transition, cleared in one invalidation
    [searched] = [i for i in invalidations(aws) if not reference(commit, i)]
    cleared = searched["InvalidationBatch"]["Paths"]["Items"]
    assert [p for p in cleared if p.endswith("entry.json")] == [
        "/en/search/pagefind/401-500/pagefind-entry.json",
        "/es/search/pagefind/401-500/pagefind-entry.json",
    ]
    assert runner.failures == 0

    # An edit: one more commit, one more invalidation, a handful of paths.
    page = repo.content / "issues/410/why-we-print.md"
    page.write_text(page.read_text().replace("Write to us at", "Write to the editors at"))
    second = repo.commit("edit")
    publish_repo(repo, aws)
    runner.drain()
    mine = [i for i in invalidations(aws) if reference(second, i)]
    assert mine[0]["InvalidationBatch"]["Paths"]["Items"] == [
        "/api/v1/issues/410.json",
        "/en/issues/410/why-we-print/index.html",
    ]
    assert b"Write to the editors" in (
        site_object(aws, "en/issues/410/why-we-print/index.html") or b""
    )


def site_contents(resources: Resources) -> dict[str, bytes]:
    listing = s3().get_paginator("list_objects_v2").paginate(Bucket=resources.site)
    keys = [o["Key"] for page in listing for o in page.get("Contents", [])]
    return {k: site_object(resources, k) or b"" for k in keys}


def test_a_redelivered_message_changes_nothing(aws: Resources, tmp_path: Path) -> None:
    # No idempotency layer stands in front of the stages: each is idempotent by
    # construction, and a notification S3 delivers twice runs twice to the same end.
    repo = Repo(tmp_path / "repo")
    publish_repo(repo, aws)
    sqs = boto3.client("sqs", region_name=REGION)
    received = sqs.receive_message(QueueUrl=aws.queues["validate"], MaxNumberOfMessages=10)
    # The manifest's notification, not the test event S3 sends when it is set up
    [original] = [m for m in received["Messages"] if '"Records"' in m["Body"]]
    sqs.send_message(QueueUrl=aws.queues["validate"], MessageBody=original["Body"])
    for message in received["Messages"]:
        sqs.change_message_visibility(
            QueueUrl=aws.queues["validate"],  # S3 delivered it twice
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=0,
        )
    runner = event_source(aws)
    runner.drain()
    assert runner.delivered["broadsheet-render"] == 6  # both copies went the whole way
    site = site_contents(aws)
    assert b"<h1" in site["en/issues/410/why-we-print/index.html"]
    told = len(invalidations(aws))
    # WHEN the same notification comes once more, late
    sqs.send_message(QueueUrl=aws.queues["validate"], MessageBody=original["Body"])
    runner.drain()
    # THEN the site is byte for byte what it was, and CloudFront was told nothing more
    assert site_contents(aws) == site
    assert len(invalidations(aws)) == told
    assert runner.failures == 0


def test_regression_a_commit_published_again_after_a_reset_is_applied_again(
    aws: Resources, tmp_path: Path
) -> None:
    # GIVEN commit X published, then Y adding an article
    repo, first, runner = published(aws, tmp_path)
    repo.write("issues/412/a-mistake.md", (repo.content / "issues/410/why-we-print.md").read_text())
    repo.commit("a mistake")
    publish_repo(repo, aws)
    runner.drain()
    assert site_object(aws, "en/issues/412/a-mistake/index.html")
    # WHEN the editor resets to X and publishes HEAD whole (X's manifest written again)
    repo.git("reset", "-q", "--hard", first)
    publish(Git.of(repo.content), S3Store(s3(), aws.sources), snapshot=True, say=lambda _: None)
    runner.drain()
    # THEN X is applied again, not taken for a repeat of its first publishing
    assert site_object(aws, "en/issues/412/a-mistake/index.html") is None
    assert "a-mistake" not in json.dumps(
        json.loads(site_object(aws, "api/v1/issues/412.json") or b"{}")
    )
    assert runner.failures == 0


def test_regression_each_publishing_of_a_commit_that_changes_pages_is_invalidated(
    aws: Resources, tmp_path: Path
) -> None:
    # GIVEN commits A and B, each a different last paragraph of one article, published
    repo, _, runner = published(aws, tmp_path)
    article = repo.content / "issues/412/dockworkers-vote-to-strike.md"
    original = article.read_text()
    commits = {}
    for hour in ("four", "five"):
        article.write_text(original + f"\nThe vote was held at {hour}.\n")
        commits[hour] = repo.commit(hour)
        publish_repo(repo, aws)
        runner.drain()
    page = "en/issues/412/dockworkers-vote-to-strike/index.html"

    def undo_to(hour: str) -> list[dict[str, Any]]:
        repo.git("reset", "-q", "--hard", commits[hour])
        publish(Git.of(repo.content), S3Store(s3(), aws.sources), snapshot=True, say=lambda _: None)
        runner.drain()
        assert hour.encode() in (site_object(aws, page) or b"")
        return [i for i in invalidations(aws) if reference(commits[hour], i)]

    # WHEN the editor goes back to A, forward to B and back to A, publishing each whole
    undo_to("four")
    undo_to("five")
    third = undo_to("four")
    # THEN each publishing of A that changed the page told CloudFront (an idempotency
    # layer once took the third's invalidation jobs for repeats of the second's)
    assert len(third) == 3
    assert runner.failures == 0


def test_the_sample_s3_event_from_aws_is_understood(aws: Resources, tmp_path: Path) -> None:
    from broadsheet.handlers import validate

    record = json.loads((EVENTS / "s3_object_created.json").read_text())
    body = json.dumps(record)
    [job] = validate.messages(type("R", (), {"json_body": record, "body": body})())
    assert job == {
        "type": "commit",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "key": "manifests/0123456789abcdef0123456789abcdef01234567.json",
        "etag": record["Records"][0]["s3"]["object"]["eTag"],
    }
    test_event = json.loads((EVENTS / "s3_test_event.json").read_text())
    probe = type("R", (), {"json_body": test_event, "body": json.dumps(test_event)})()
    assert validate.messages(probe) == []


def test_a_failing_record_is_retried_then_dead_lettered_while_others_pass(
    aws: Resources, tmp_path: Path
) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    event = json.loads((EVENTS / "sqs_event.json").read_text())
    assert event["Records"][0]["eventSource"] == "aws:sqs"
    # A render job naming a site.yml that is not in the bucket fails every time.
    bad = IssueJob("commit", "deadbeef", 1, 0, "", 1, None, "0" * 40, True, [1])
    sqs.send_message(QueueUrl=aws.queues["render"], MessageBody=json.dumps(bad.to_json()))
    runner = event_source(aws)
    runner.drain()
    dead = sqs.receive_message(QueueUrl=aws.dead_letters["render"], MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["commit"] for m in dead["Messages"]] == ["deadbeef"]
    assert runner.failures == 3  # maxReceiveCount deliveries, then the dead-letter queue


def test_a_message_that_can_never_apply_is_recorded_and_dropped(aws: Resources) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.send_message(
        QueueUrl=aws.queues["index"],
        MessageBody=json.dumps({"type": "nonsense"}),
        MessageGroupId="nonsense",
        MessageDeduplicationId="1",
    )
    runner = event_source(aws)
    runner.drain()
    assert sqs.receive_message(QueueUrl=aws.dead_letters["index"]).get("Messages") is None
    failures = s3().list_objects_v2(Bucket=aws.sources, Prefix="failures/")["Contents"]
    # by message id (for dlq list), and as dropped (by commit: none here)
    failure, kept = [
        json.loads(s3().get_object(Bucket=aws.sources, Key=f["Key"])["Body"].read())
        for f in sorted(failures, key=lambda f: f["Key"].startswith("failures/dropped/"))
    ]
    assert failure["error"] == "Permanent: not a Broadsheet message: type 'nonsense'"
    assert kept["error"] == failure["error"] and kept["commit"] is None


def test_a_manifest_of_another_version_is_dropped_counted_and_shown(
    aws: Resources,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from broadsheet.adapters.aws import AwsEnv
    from broadsheet.pipeline.operations import dropped, format_github, format_status, status

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    commit = "c0ffee" + "0" * 34
    # GIVEN a publisher of another version of Broadsheet uploads its manifest
    s3().put_object(
        Bucket=aws.sources,
        Key=f"manifests/{commit}.json",
        Body=json.dumps({"version": 99, "commit": commit}).encode(),
    )
    # WHEN validate takes it
    event_source(aws).drain()
    # THEN it is dropped, not dead-lettered, and every place a person looks says so
    sqs = boto3.client("sqs", region_name=REGION)
    assert sqs.receive_message(QueueUrl=aws.dead_letters["validate"]).get("Messages") is None
    printed = capsys.readouterr().out
    assert '"MessagesDropped"' in printed  # the metric the alarm watches (EMF)
    # the log line (Powertools' handler keeps the stdout of its first test: read the record)
    [line] = [r for r in caplog.records if r.getMessage() == "dropped"]
    assert line.levelname == "ERROR" and line.__dict__["commit"] == commit
    [record] = dropped(S3Store(s3(), aws.sources), commit)
    assert record["stage"] == "validate" and "manifest version 99 is not" in record["error"]
    found = status(S3Store(s3(), aws.sources), commit)
    assert "dropped     validate: Permanent:" in format_status(found)
    assert "::error title=Dropped by the validate stage::" in format_github(found)
    env = AwsEnv({"SOURCE_BUCKET": aws.sources})
    assert [d["commit"] for d in dropped(env.sources)] == [commit]


def test_an_invalid_article_is_reported_and_the_live_page_stays(
    aws: Resources, tmp_path: Path
) -> None:
    repo, _, runner = published(aws, tmp_path)
    live = site_object(aws, "en/issues/412/dockworkers-vote-to-strike/index.html")
    source = repo.content / "issues/412/dockworkers-vote-to-strike.md"
    source.write_text(source.read_text().replace("language: en", "language: fr"))
    commit = repo.commit("bad language")
    publish_repo(repo, aws)
    runner.drain()
    report = json.loads(
        s3().get_object(Bucket=aws.sources, Key=f"reports/{commit}/412.json")["Body"].read()
    )
    assert [(f["line"], f["field"]) for f in report["findings"]] == [(3, "language")]
    assert site_object(aws, "en/issues/412/dockworkers-vote-to-strike/index.html") == live


def test_the_search_function_rebuilds_once_a_batch_and_drops_what_is_not_its_own(
    aws: Resources, tmp_path: Path
) -> None:
    from broadsheet.handlers import search
    from broadsheet.local.eventsource import Context, environment

    repo = Repo(tmp_path / "repo")
    publish_repo(repo, aws)
    event_source(aws).drain()
    entry_key = "en/search/pagefind/401-500/pagefind-entry.json"
    assert json.loads(site_object(aws, entry_key) or b"{}")["languages"]["en"]["page_count"]
    s3().delete_object(Bucket=aws.site, Key=entry_key)  # so a rebuild must write it again
    s3().delete_object(Bucket=aws.sources, Key="state/applied/search/en/401-500.json")
    # GIVEN the batch SQS hands the function, in the shape AWS sends (tests/events)
    sample = json.loads((EVENTS / "sqs_event.json").read_text())["Records"][0]
    bodies = [
        {"type": "search", "commit": "c1", "issue": 410},
        {"type": "search", "commit": "c2", "issue": 412},
        {"type": "invalidate", "commit": "c3", "issue": 1, "parts": [1]},
    ]
    event = {
        "Records": [
            {**sample, "messageId": f"m{i}", "body": json.dumps(body)}
            for i, body in enumerate(bodies)
        ]
    }
    # WHEN it runs
    with environment(aws.environment("search")):
        response = search.handler(event, Context("broadsheet-search"))
    # THEN one rebuild wrote the entry again, and only the stranger was dropped
    assert response == {"batchItemFailures": []}
    assert site_object(aws, entry_key)
    [failure] = [
        json.loads(s3().get_object(Bucket=aws.sources, Key=f["Key"])["Body"].read())
        for f in s3().list_objects_v2(Bucket=aws.sources, Prefix="failures/")["Contents"]
        if not f["Key"].startswith("failures/dropped/")
    ]
    assert failure["stage"] == "search" and "takes no 'invalidate'" in failure["error"]


def test_the_site_bucket_tags_what_its_lifecycle_rule_expires(aws: Resources) -> None:
    from broadsheet.adapters.store import RETIRED

    store = S3Store(s3(), aws.site)
    store.put("en/search/pagefind/index/en_1.pf_index", b"x")

    def tags() -> list[dict[str, str]]:
        found = s3().get_object_tagging(
            Bucket=aws.site, Key="en/search/pagefind/index/en_1.pf_index"
        )
        return found["TagSet"]  # type: ignore[no-any-return]

    # WHEN a file is retired THEN it carries the tag the template's rule expires
    store.retire("en/search/pagefind/index/en_1.pf_index")
    assert tags() == [{"Key": RETIRED[0], "Value": RETIRED[1]}]
    # WHEN it is needed again THEN it stays
    store.retire("en/search/pagefind/index/en_1.pf_index", False)
    assert tags() == []
