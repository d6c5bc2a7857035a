"""The real SAM template, transformed offline and deployed into moto; a commit through it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from broadsheet.adapters.store import S3Store
from broadsheet.local.devstack import STACK, deploy_local, event_source, recorded_outputs
from broadsheet.local.eventsource import LocalEventSource
from broadsheet.local.stack import Deployed, Resolver
from broadsheet.pipeline.publisher import Git, publish
from tests.support.aws import REGION, moto_world
from tests.support.gitrepo import Repo

STAGES = ("Validate", "Render", "Index", "Invalidate", "Search", "Repair")


def deploy_template() -> tuple[Deployed, Resolver]:
    return deploy_local(boto3.session.Session(region_name=REGION))


@pytest.fixture
def stack() -> Iterator[tuple[Deployed, Resolver]]:
    with moto_world():
        yield deploy_template()


def runner_for(deployed: Deployed, resolver: Resolver) -> LocalEventSource:
    return event_source(deployed, resolver, boto3.client("sqs", region_name=REGION))


def test_the_stack_deploys_with_what_moto_skips_applied(stack: tuple[Deployed, Any]) -> None:
    deployed, _ = stack
    assert {
        "Distribution",
        "OriginAccessControl",
        "ViewerRequestFunction",
        "RedirectStore",
        "ValidateQueuePolicy",
        "GitHubOidcProvider",
        "ValidateDeadLetterAlarm",
        "SourceBucket.NotificationConfiguration",
        "SiteBucket.VersioningConfiguration",
        "CdnLogDelivery",
    } <= set(deployed.applied)
    assert set(deployed.not_emulated) == {
        "HtmlCachePolicy",
        "AssetCachePolicy",
        "SecurityHeadersPolicy",
        "ApiHeadersPolicy",
        "SourceBucketPolicy",
        "SiteBucketPolicy",
        "LogsBucketPolicy",
        # CodeDeploy moves the alias on AWS; here the alias stays on the version made.
        "ServerlessDeploymentApplication",
        *(f"{f}FunctionDeploymentGroup" for f in STAGES),
    }
    # Every queue and the schedule invoke the alias CodeDeploy moves, never $LATEST.
    lambda_ = boto3.client("lambda", region_name=REGION)
    mappings = lambda_.list_event_source_mappings()["EventSourceMappings"]
    assert len(mappings) == 5
    for resource in deployed.resources.values():
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            invoked = resource["Properties"]["FunctionName"]["Ref"]
            assert deployed.resources[invoked]["Type"] == "AWS::Lambda::Alias"
    # (moto stores the version the alias names; AWS keeps the alias's ARN)
    assert all(m["FunctionArn"].endswith(":1") for m in mappings), mappings
    assert all(m["State"] == "Disabled" for m in mappings)  # the local event source runs them
    for stage in STAGES:
        name = deployed.physical[f"{stage}Function"]
        alias = lambda_.get_alias(FunctionName=name, Name="live")
        assert alias["FunctionVersion"] == "1"
    events = boto3.client("events", region_name=REGION)
    [rule] = events.list_rules()["Rules"]
    [target] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"].endswith(":live") and rule["ScheduleExpression"] == "rate(1 day)"
    logs = boto3.client("logs", region_name=REGION)
    [delivery] = logs.describe_deliveries()["deliveries"]
    [source_] = logs.describe_delivery_sources()["deliverySources"]
    assert source_["resourceArns"] == [
        f"arn:aws:cloudfront::123456789012:distribution/{deployed.outputs['DistributionId']}"
    ]
    assert "c-ip" not in delivery["recordFields"]
    s3 = boto3.client("s3", region_name=REGION)
    source = deployed.outputs["SourceBucketName"]
    assert s3.get_bucket_versioning(Bucket=source)["Status"] == "Enabled"
    notification = s3.get_bucket_notification_configuration(Bucket=source)
    [queue_config] = notification["QueueConfigurations"]
    assert queue_config["Events"] == ["s3:ObjectCreated:*"]
    assert [
        (r["Name"].lower(), r["Value"]) for r in queue_config["Filter"]["Key"]["FilterRules"]
    ] == [("prefix", "manifests/")]
    sqs = boto3.client("sqs", region_name=REGION)
    policy = json.loads(
        sqs.get_queue_attributes(
            QueueUrl=deployed.outputs["ValidateQueueUrl"], AttributeNames=["Policy"]
        )["Attributes"]["Policy"]
    )
    assert policy["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    cloudfront = boto3.client("cloudfront", region_name=REGION)
    config = cloudfront.get_distribution(Id=deployed.outputs["DistributionId"])["Distribution"][
        "DistributionConfig"
    ]
    assert config["HttpVersion"] == "http2and3"
    assert deployed.outputs["DistributionDomainName"].endswith("cloudfront.net")


def test_a_commit_is_published_through_the_deployed_stack(
    stack: tuple[Deployed, Resolver], tmp_path: Path
) -> None:
    deployed, resolver = stack
    repo = Repo(tmp_path / "repo")
    s3 = boto3.client("s3", region_name=REGION)
    [commit] = publish(
        Git.of(repo.content), S3Store(s3, deployed.outputs["SourceBucketName"]), say=lambda _: None
    )
    runner = runner_for(deployed, resolver)
    runner.drain()
    site = deployed.outputs["SiteBucketName"]
    page = s3.get_object(Bucket=site, Key="es/issues/412/index.html")["Body"].read()
    assert b"La resistencia se extiende" in page
    doc = json.loads(s3.get_object(Bucket=site, Key="api/v1/issues/411.json")["Body"].read())
    assert doc["number"] == 411
    cloudfront = boto3.client("cloudfront", region_name=REGION)
    distribution = deployed.outputs["DistributionId"]
    listed = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]
    paths = [
        cloudfront.get_invalidation(DistributionId=distribution, Id=item["Id"])["Invalidation"][
            "InvalidationBatch"
        ]["Paths"]["Items"]
        for item in listed["Items"]
    ]
    # At most one for the commit (a first publish creates its files where nothing was,
    # but one batch of the shared group may replace what another made); then the search
    # stage's (both languages' transitions in one), after one rebuild for the whole
    # batch of the commit's three issues (the local batching window).
    searched = [p for p in paths if all("/search/pagefind/" in each for each in p)]
    assert len(paths) <= 2 and len(searched) == 1
    assert sorted(p for each in searched for p in each if p.endswith("entry.json")) == [
        "/en/search/pagefind/401-500/pagefind-entry.json",
        "/es/search/pagefind/401-500/pagefind-entry.json",
    ]
    entry = s3.get_object(Bucket=site, Key="es/search/pagefind/401-500/pagefind-entry.json")
    assert json.loads(entry["Body"].read())["languages"]["es"]["page_count"] >= 5
    assert runner.delivered[next(n for n in runner.delivered if "Search" in n)] == 3
    assert runner.failures == 0
    assert commit


def test_an_embargo_is_released_through_the_deployed_stack(
    stack: tuple[Deployed, Resolver], tmp_path: Path
) -> None:
    import datetime as dt
    import time

    from broadsheet.adapters.aws import AwsEnv
    from broadsheet.adapters.queue import schedule_target
    from broadsheet.adapters.scheduler import fire_due

    deployed, resolver = stack
    assert "ReleaseGroup" in deployed.applied
    repo = Repo(tmp_path / "repo")
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=15)  # after the drain below
    repo.write(
        "issues/412/at-dawn.md",
        "---\ntitle: At dawn\nlanguage: en\ndate: 2025-07-25\ndateline: Genoa (Italy)\n"
        f"publish_at: {at.isoformat()}\n---\n\nThe gates opened.\n",
    )
    repo.commit("an embargo")
    env = AwsEnv.from_outputs(deployed.outputs)
    publish(Git.of(repo.content), env.sources, say=lambda _: None)
    runner = runner_for(deployed, resolver)
    runner.drain()
    [release] = [r for r in env.scheduler.pending() if r.message["slug"] == "at-dawn"]
    # Schedules hold whole seconds, rounded up: never before the embargo lifts.
    due = at.replace(microsecond=0) + dt.timedelta(seconds=1 if at.microsecond else 0)
    assert release.message == {
        "type": "release",
        "issue": 412,
        "slug": "at-dawn",
        "at": due.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reason": "embargo",
        "group": "issue-412",
    }
    # Commands pointed at this stack find the outputs moto could not hold.
    recorded = recorded_outputs(boto3.session.Session(region_name=REGION), None, STACK)
    assert recorded["ReleaseGroupName"] == deployed.outputs["ReleaseGroupName"]
    assert env.site.get("en/issues/412/at-dawn/index.html") is None
    time.sleep(max(0.0, (at - dt.datetime.now(dt.UTC)).total_seconds()) + 1.1)
    send = schedule_target(boto3.client("sqs", region_name=REGION))
    assert [r.name for r in fire_due(env.scheduler, dt.datetime.now(dt.UTC), send)] == [
        "412-at-dawn"
    ]
    runner.drain()
    page = env.site.get("en/issues/412/at-dawn/index.html")
    assert page is not None and b"At dawn" in page.body
    # Its schedule is set again for when it leaves the news sitemap, two days on.
    [lapse] = [r for r in env.scheduler.pending() if r.message["slug"] == "at-dawn"]
    assert lapse.message["at"] == (due + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert lapse.message["reason"] == "news"
    news = env.site.get("news-sitemap.xml")
    assert news is not None and b"/en/issues/412/at-dawn/" in news.body


def test_a_photograph_goes_through_the_deployed_stack_and_loses_its_gps(
    stack: tuple[Deployed, Resolver], tmp_path: Path
) -> None:
    from broadsheet.adapters.aws import AwsEnv

    deployed, resolver = stack
    repo = Repo(tmp_path / "repo")  # the demo: its lead photograph carries a GPS position
    env = AwsEnv.from_outputs(deployed.outputs)
    publish(Git.of(repo.content), env.sources, say=lambda _: None)
    runner_for(deployed, resolver).drain()
    page = env.site.get("en/issues/412/dockworkers-vote-to-strike/index.html")
    assert page is not None and b"<picture>" in page.body
    variants = [k for k in env.site.keys("media/412/") if "dockworkers-at-dawn" in k]
    assert len(variants) == 9
    for key in variants:
        stored = env.site.get(key)
        assert stored is not None and b"GPS" not in stored.body and b"Exif" not in stored.body
    s3 = boto3.client("s3", region_name=REGION)
    head = s3.head_object(Bucket=deployed.outputs["SiteBucketName"], Key=variants[0])
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert head["ContentType"] in {"image/jpeg", "image/webp"}


def test_regression_a_held_commit_that_overtakes_its_predecessor_waits_and_publishes(
    stack: tuple[Deployed, Resolver], tmp_path: Path
) -> None:
    # GIVEN a rename, then a broken site.yml (held, so validate sends it straight to
    # index), then the fix, published together: the held commit reaches index while
    # the rename is still in render, and must wait in render's queue with the deployed
    # functions' own settings (it once had no RENDER_QUEUE_URL, and dead-lettered with
    # every later commit of its issue behind it)
    deployed, resolver = stack
    repo = Repo(tmp_path / "repo")
    sources = S3Store(boto3.client("s3", region_name=REGION), deployed.outputs["SourceBucketName"])
    publish(Git.of(repo.content), sources, say=lambda _: None)
    runner = runner_for(deployed, resolver)
    runner.drain()
    repo.git("mv", "content/issues/410/why-we-print.md", "content/issues/410/why-we-still-print.md")
    repo.commit("rename")
    site = repo.content / "site.yml"
    good = site.read_text()
    site.write_text(good + "languages: [en, es\n")
    repo.commit("broken site.yml")
    site.write_text(good.replace("Broadsheet", "Herald"))
    repo.commit("fixed")
    publish(Git.of(repo.content), sources, say=lambda _: None)
    runner.drain()
    # THEN nothing was dead-lettered, and the fix is live on the renamed page
    sqs = boto3.client("sqs", region_name=REGION)
    for name, url in deployed.outputs.items():
        if name.endswith("DeadLetterQueueUrl"):
            assert not sqs.receive_message(QueueUrl=url).get("Messages"), name
    site_bucket = S3Store(
        boto3.client("s3", region_name=REGION), deployed.outputs["SiteBucketName"]
    )
    renamed = site_bucket.get("en/issues/410/why-we-still-print/index.html")
    assert renamed is not None and b"Herald" in renamed.body
