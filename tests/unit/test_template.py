"""The SAM template read as data: queues, buckets, permissions, and the CDN's headers."""

from __future__ import annotations

import re
from typing import Any

import pytest

from broadsheet.edition import viewer
from broadsheet.local import template as sam

TEMPLATE = sam.parse(sam.template_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}


def of_type(kind: str) -> dict[str, Any]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def role_of(function: str) -> dict[str, Any]:
    role: dict[str, Any] = RESOURCES[FUNCTIONS[function]["Properties"]["Role"]["Fn::GetAtt"][0]]
    return role


def statements(function: str) -> list[dict[str, Any]]:
    return [
        s
        for policy in role_of(function)["Properties"]["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
    ]


RUNNING = {"TakeItsOwnQueue", "WriteItsOwnLog"}  # what every function needs to run at all


def actions(function: str) -> set[str]:
    """What the function's stage may do, beyond taking its messages and logging."""
    found: set[str] = set()
    for statement in statements(function):
        if statement.get("Sid") in RUNNING:
            continue
        action = statement["Action"]
        found |= {action} if isinstance(action, str) else set(action)
    return found


def resources_for(function: str, action: str) -> list[str]:
    found = []
    for statement in statements(function):
        acts = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if action in acts:
            targets = (
                statement["Resource"]
                if isinstance(statement["Resource"], list)
                else [statement["Resource"]]
            )
            found += [
                t["Fn::Sub"] if isinstance(t, dict) and "Fn::Sub" in t else str(t) for t in targets
            ]
    return found


def test_every_queue_has_a_dead_letter_queue_with_an_alarm() -> None:
    queues = of_type("AWS::SQS::Queue")
    working = {n for n, q in queues.items() if "RedrivePolicy" in q["Properties"]}
    assert working == {
        "ValidateQueue",
        "RenderQueue",
        "IndexQueue",
        "InvalidateQueue",
        "SearchQueue",
    }
    alarmed = {
        a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
    }
    for name in working:
        dead = queues[name]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert dead in queues and dead in alarmed
    # The releases' dead letters too: a release that could not be sent.
    assert "ReleaseDeadLetterQueue" in alarmed
    # Retention stated, SQS's most (its default of 4 days would delete a backlog).
    for name, queue in queues.items():
        assert queue["Properties"]["MessageRetentionPeriod"] == 1209600, name


def metric_stats(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    return [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]


def test_alarms_watch_every_queues_age_and_every_functions_errors_and_throttles() -> None:
    alarms = {n: a["Properties"] for n, a in of_type("AWS::CloudWatch::Alarm").items()}
    age = metric_stats(alarms["QueueAgeAlarm"])
    assert {m["MetricName"] for m in age} == {"ApproximateAgeOfOldestMessage"}
    assert {m["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for m in age} == {
        f"{s}Queue" for s in ("Validate", "Render", "Index", "Invalidate", "Search")
    }
    assert alarms["QueueAgeAlarm"]["Threshold"] == 3600
    for alarm, metric in (
        ("FunctionErrorsAlarm", "Errors"),
        ("FunctionThrottlesAlarm", "Throttles"),
    ):
        stats = metric_stats(alarms[alarm])
        assert {m["MetricName"] for m in stats} == {metric}
        assert {m["Dimensions"][0]["Value"]["Ref"] for m in stats} == set(FUNCTIONS), alarm
        [total] = [m for m in alarms[alarm]["Metrics"] if m.get("ReturnData")]
        assert total["Expression"].startswith("SUM(")
    # The metric the handlers emit for a message they drop (handlers/common.py).
    dropped = alarms["DroppedMessagesAlarm"]
    assert (dropped["Namespace"], dropped["MetricName"], dropped["Dimensions"]) == (
        "Broadsheet",
        "MessagesDropped",
        [{"Name": "service", "Value": "broadsheet"}],
    )
    cdn = RESOURCES["CdnErrorsAlarm"]
    assert cdn["Condition"] == "InUsEast1"
    assert cdn["Properties"]["MetricName"] == "5xxErrorRate"
    assert {"Name": "Region", "Value": "Global"} in cdn["Properties"]["Dimensions"]
    for name, alarm in alarms.items():
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name


def test_a_deploy_moves_each_functions_alias_gradually_and_rolls_back_on_the_alarms() -> None:
    function = TEMPLATE["Globals"]["Function"]
    assert function["AutoPublishAlias"] == "live"
    preference = function["DeploymentPreference"]
    # A tenth first, watched: a defect the alarms see reaches a tenth of the work, once.
    assert preference["Type"].startswith(("Canary", "Linear"))
    assert {a["Ref"] for a in preference["Alarms"]} == {
        "FunctionErrorsAlarm",
        "FunctionThrottlesAlarm",
        "DroppedMessagesAlarm",
    }
    for name, resource in FUNCTIONS.items():  # none opts out
        props = resource["Properties"]
        assert "AutoPublishAlias" not in props and "DeploymentPreference" not in props, name
    # A minute's data points, so the five minutes of a canary can see them.
    for alarm in ("FunctionErrorsAlarm", "FunctionThrottlesAlarm", "DroppedMessagesAlarm"):
        props = RESOURCES[alarm]["Properties"]
        periods = [m["MetricStat"]["Period"] for m in props.get("Metrics", []) if "MetricStat" in m]
        assert max(periods or [props["Period"]]) <= 60, alarm


def test_the_alarms_reach_someone() -> None:
    parameter = TEMPLATE["Parameters"]["AlarmEmail"]
    assert "Default" not in parameter  # the deploy asks for it
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("desk@paper.org")
    assert not pattern.fullmatch("") and not pattern.fullmatch("nobody")
    topic = RESOURCES["AlarmTopic"]["Properties"]
    assert topic["Subscription"] == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]
    budget = RESOURCES["Budget"]
    assert budget["Condition"] == "HasBudget"
    subscribers = [
        s for n in budget["Properties"]["NotificationsWithSubscribers"] for s in n["Subscribers"]
    ]
    assert subscribers and all(s["Address"] == {"Ref": "AlarmEmail"} for s in subscribers)


def test_each_function_logs_to_a_group_that_expires_and_goes_with_the_stack() -> None:
    groups = of_type("AWS::Logs::LogGroup")
    named = {g["Properties"]["LogGroupName"]["Fn::Sub"]: g for g in groups.values()}
    assert set(named) == {
        "/aws/lambda/" + FUNCTIONS[f]["Properties"]["FunctionName"]["Fn::Sub"] for f in FUNCTIONS
    }
    for function in FUNCTIONS:  # and may write that group alone
        [logs] = [s for s in statements(function) if s["Sid"] == "WriteItsOwnLog"]
        assert logs["Resource"] == {"Fn::GetAtt": [function.replace("Function", "LogGroup"), "Arn"]}
        assert set(logs["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["AlarmKey", "Arn"]}
        assert group.get("DeletionPolicy", "Delete") == "Delete"


def test_what_git_cannot_give_back_at_once_outlives_the_stack() -> None:
    for name, bucket in of_type("AWS::S3::Bucket").items():
        assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain", name
    [old] = [
        r
        for r in RESOURCES["SourceBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
        if r["Id"] == "old-versions"
    ]
    assert old["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}


def test_the_distribution_answers_the_papers_domain_with_its_certificate_and_waf() -> None:
    config = RESOURCES["Distribution"]["Properties"]["DistributionConfig"]
    assert config["Aliases"] == {
        "Fn::If": ["HasDomain", [{"Ref": "DomainName"}], {"Ref": "AWS::NoValue"}]
    }
    condition, custom, default = config["ViewerCertificate"]["Fn::If"]
    assert condition == "HasDomain"
    assert custom == {
        "AcmCertificateArn": {"Ref": "CertificateArn"},
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    assert default == {"CloudFrontDefaultCertificate": True}
    assert config["WebACLId"]["Fn::If"][0] == "HasWebAcl"
    parameters = TEMPLATE["Parameters"]
    certificate = re.compile(parameters["CertificateArn"]["AllowedPattern"])
    assert certificate.fullmatch("arn:aws:acm:us-east-1:123456789012:certificate/0a1b-2c")
    assert not certificate.fullmatch("arn:aws:acm:eu-west-1:123456789012:certificate/0a1b")
    [rule] = TEMPLATE["Rules"].values()
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]
    }
    acl = RESOURCES["RateLimitAcl"]
    assert acl["Condition"] == "CreateRateLimit"
    assert acl["Properties"]["Scope"] == "CLOUDFRONT"
    limit, _bad_inputs = acl["Properties"]["Rules"]
    assert limit["Statement"]["RateBasedStatement"] == {
        "Limit": {"Ref": "RateLimit"},
        "AggregateKeyType": "IP",
    }


def test_the_daily_repair_reports_what_it_mended_to_an_alarm() -> None:
    repair = of_type("AWS::Serverless::Function")["RepairFunction"]["Properties"]
    [event] = repair["Events"].values()
    assert event == {
        "Type": "Schedule",
        "Properties": {
            "Schedule": "rate(1 day)",
            "Description": "compare the site bucket with its records and mend what differs",
        },
    }
    [alarm] = [
        a["Properties"]
        for a in of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "RepairDifferences"
    ]
    # The metric the handler emits (handlers/repair.py), with Powertools' dimension
    assert (alarm["MetricName"], alarm["Dimensions"]) == (
        "RepairDifferences",
        [{"Name": "service", "Value": "broadsheet"}],
    )
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_buckets_are_private_encrypted_and_tls_only() -> None:
    buckets = of_type("AWS::S3::Bucket")
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]
        for p in of_type("AWS::S3::BucketPolicy").values()
    }
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert all(props["PublicAccessBlockConfiguration"].values()), name
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], name
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, name
        deny = policies[name]["Statement"][0]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {
            "Bool": {"aws:SecureTransport": "false"}
        }, name
    site = policies["SiteBucket"]["Statement"][1]
    assert site["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert (
        "distribution/${Distribution}"
        in site["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    )


def test_no_function_is_granted_a_wildcard_action_or_a_whole_account() -> None:
    for function in FUNCTIONS:
        assert not any("*" in a for a in actions(function)), function
        for statement in statements(function):
            targets = (
                statement["Resource"]
                if isinstance(statement["Resource"], list)
                else [statement["Resource"]]
            )
            assert "*" not in targets, function


@pytest.mark.parametrize(
    ("function", "allowed"),
    [
        ("ValidateFunction", {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "sqs:SendMessage"}),
        ("RenderFunction", {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "sqs:SendMessage"}),
        (
            "IndexFunction",
            {
                "s3:GetObject",
                "s3:ListBucket",
                "s3:PutObject",
                "s3:DeleteObject",
                "sqs:SendMessage",
                "cloudfront-keyvaluestore:DescribeKeyValueStore",
                "cloudfront-keyvaluestore:ListKeys",
                "cloudfront-keyvaluestore:PutKey",
                "cloudfront-keyvaluestore:DeleteKey",
                "scheduler:CreateSchedule",
                "scheduler:UpdateSchedule",
                "scheduler:DeleteSchedule",
                "iam:PassRole",
            },
        ),
        (
            "InvalidateFunction",
            {"s3:GetObject", "s3:PutObject", "cloudfront:CreateInvalidation"},
        ),
    ],
)
def test_each_function_holds_only_what_its_stage_needs(function: str, allowed: set[str]) -> None:
    assert actions(function) == allowed


def test_each_function_takes_messages_from_its_own_queue_alone() -> None:
    for function, resource in FUNCTIONS.items():
        sources = [
            e["Properties"]["Queue"]["Fn::GetAtt"][0]
            for e in resource["Properties"]["Events"].values()
            if e["Type"] == "SQS"
        ]
        taking = [s for s in statements(function) if s["Sid"] == "TakeItsOwnQueue"]
        if not sources:  # the repair runs on a schedule
            assert not taking, function
            continue
        [take] = taking
        assert take["Resource"] == {"Fn::GetAtt": [sources[0], "Arn"]}, function
        assert set(take["Action"]) == {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        }
        others = [s for s in statements(function) if s["Sid"] != "TakeItsOwnQueue"]
        assert not {"sqs:ReceiveMessage", "sqs:DeleteMessage"} & {
            a
            for s in others
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }


def test_the_search_stage_holds_only_what_rebuilding_the_index_needs() -> None:
    # A rebuild runs once a batch.
    assert actions("SearchFunction") == {
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:PutObjectTagging",
        "s3:DeleteObjectTagging",
        "sqs:SendMessage",
    }
    site = [r for r in resources_for("SearchFunction", "s3:PutObject") if "SiteBucket" in r]
    assert site == ["${SiteBucket.Arn}/*/search/pagefind/*"]
    assert resources_for("SearchFunction", "s3:DeleteObject") == site
    assert resources_for("SearchFunction", "s3:PutObjectTagging") == site
    read = resources_for("SearchFunction", "s3:GetObject")
    assert [r for r in read if "SiteBucket" in r] == site
    sources = [r for r in resources_for("SearchFunction", "s3:PutObject") if "Source" in r]
    assert sources == [
        "${SourceBucket.Arn}/state/applied/search/*",
        "${SourceBucket.Arn}/failures/*",
    ]


def test_search_builds_once_a_batch_one_at_a_time_with_its_own_layer() -> None:
    function = FUNCTIONS["SearchFunction"]["Properties"]
    [event] = function["Events"].values()
    assert event["Properties"]["MaximumBatchingWindowInSeconds"] >= 30
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["SearchQueue", "Arn"]}
    queue = RESOURCES["SearchQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    layered = {
        name
        for name, each in FUNCTIONS.items()
        if {"Ref": "SearchLayer"} in each["Properties"].get("Layers", [])
    }
    assert layered == {"SearchFunction"}


def test_retired_search_files_expire_by_the_tag_the_stage_puts_on_them() -> None:
    from broadsheet.adapters.store import RETIRED

    rules = RESOURCES["SiteBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    [rule] = [r for r in rules if r.get("TagFilters")]
    assert rule["TagFilters"] == [{"Key": RETIRED[0], "Value": RETIRED[1]}]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == 1


def test_only_index_writes_pages_and_each_stage_sends_only_where_it_must() -> None:
    assert resources_for("ValidateFunction", "s3:PutObject") == [
        "${SourceBucket.Arn}/reports/*",
        "${SourceBucket.Arn}/status/*",
        "${SourceBucket.Arn}/failures/*",
        "${SourceBucket.Arn}/claims/*",
        "${SourceBucket.Arn}/verdicts/*",
        "${SourceBucket.Arn}/examined/*",
    ]
    for function in ("ValidateFunction", "RenderFunction", "InvalidateFunction"):
        assert not any("SiteBucket" in r for r in resources_for(function, "s3:PutObject"))
    # search writes its own index, under */search/pagefind/, and nothing else of the site
    assert "${SiteBucket.Arn}/*" in resources_for("IndexFunction", "s3:DeleteObject")
    [target] = resources_for("InvalidateFunction", "cloudfront:CreateInvalidation")
    assert target.endswith(":distribution/${Distribution}")

    def queues(function: str) -> set[str]:
        found = set()
        for statement in statements(function):
            if statement["Action"] == "sqs:SendMessage":
                targets = statement["Resource"]
                for target in targets if isinstance(targets, list) else [targets]:
                    found.add(target["Fn::GetAtt"][0])
        return found

    assert queues("ValidateFunction") == {"ValidateQueue", "RenderQueue", "IndexQueue"}
    assert queues("RenderFunction") == {"RenderQueue", "IndexQueue"}
    assert queues("IndexFunction") == {
        "IndexQueue",
        "RenderQueue",
        "InvalidateQueue",
        "SearchQueue",
    }
    assert queues("InvalidateFunction") == set()
    assert queues("SearchFunction") == {"InvalidateQueue", "SearchQueue"}


def test_releases_are_scheduled_in_their_own_group_by_a_role_that_may_only_send_them() -> None:
    [group] = of_type("AWS::Scheduler::ScheduleGroup")
    [schedule_target] = resources_for("IndexFunction", "scheduler:CreateSchedule")
    assert schedule_target.endswith(":schedule/${ReleaseGroup}/*")
    passing = next(s for s in statements("IndexFunction") if s["Action"] == "iam:PassRole")
    assert passing["Resource"] == {"Fn::GetAtt": ["ReleaseRole", "Arn"]}
    assert passing["Condition"] == {
        "StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}
    }
    role = RESOURCES["ReleaseRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    assert trust["Condition"]["StringEquals"]["aws:SourceArn"]["Fn::Sub"].endswith(
        ":schedule-group/${ReleaseGroup}"
    )
    [policy] = role["Policies"]
    [send] = policy["PolicyDocument"]["Statement"]
    assert (send["Action"], send["Resource"]) == (
        "sqs:SendMessage",
        [{"Fn::GetAtt": ["IndexQueue", "Arn"]}, {"Fn::GetAtt": ["ReleaseDeadLetterQueue", "Arn"]}],
    )
    environment = FUNCTIONS["IndexFunction"]["Properties"]["Environment"]["Variables"]
    assert environment["RELEASE_GROUP"] == {"Ref": group}
    assert environment["RELEASE_TARGET_ARN"] == {"Fn::GetAtt": ["IndexQueue", "Arn"]}
    assert environment["RELEASE_DEAD_LETTER_ARN"] == {
        "Fn::GetAtt": ["ReleaseDeadLetterQueue", "Arn"]
    }


def test_no_source_can_be_throttled_into_its_dead_letter_queue() -> None:
    # Lambda's SQS event source does not respect reserved concurrency: it polls five
    # batches at once, and a throttled batch counts a receive. Concurrency is bounded by
    # the event source (MaximumConcurrency) and by FIFO message groups instead.
    for name, function in FUNCTIONS.items():
        assert "ReservedConcurrentExecutions" not in function["Properties"], name
    index = FUNCTIONS["IndexFunction"]["Properties"]["Events"]["Issues"]["Properties"]
    assert index["ScalingConfig"]["MaximumConcurrency"] >= 2
    queue = RESOURCES["IndexQueue"]["Properties"]
    assert queue["FifoQueue"] is True and queue["ContentBasedDeduplication"] is True
    assert queue["FifoThroughputLimit"] == "perMessageGroupId"
    assert RESOURCES["IndexDeadLetterQueue"]["Properties"]["FifoQueue"] is True
    [search] = FUNCTIONS["SearchFunction"]["Properties"]["Events"].values()
    assert search["Properties"]["ScalingConfig"]["MaximumConcurrency"] == 2


def test_every_source_reports_batch_failures() -> None:
    for name, function in FUNCTIONS.items():
        for event in function["Properties"]["Events"].values():
            if name == "RepairFunction":  # its clock, not a queue
                continue
            assert event["Type"] == "SQS", name
            assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_cdn_sends_the_headers_the_preview_server_sends() -> None:
    config = RESOURCES["SecurityHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    headers = config["SecurityHeadersConfig"]
    assert (
        headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]
        == viewer.SECURITY_HEADERS["Content-Security-Policy"]
    )
    hsts = headers["StrictTransportSecurity"]
    assert viewer.SECURITY_HEADERS["Strict-Transport-Security"] == (
        f"max-age={hsts['AccessControlMaxAgeSec']}; includeSubDomains; preload"
    )
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == viewer.SECURITY_HEADERS["Referrer-Policy"]
    assert headers["FrameOptions"]["FrameOption"] == viewer.SECURITY_HEADERS["X-Frame-Options"]
    assert "frame-ancestors 'none'" in viewer.SECURITY_HEADERS["Content-Security-Policy"]
    assert "'unsafe-inline'" not in viewer.SECURITY_HEADERS["Content-Security-Policy"]
    # Every image is the site's own.
    assert "img-src 'self';" in viewer.SECURITY_HEADERS["Content-Security-Policy"]
    [permissions] = config["CustomHeadersConfig"]["Items"]
    assert permissions["Header"] == "Permissions-Policy"
    assert permissions["Value"] == viewer.SECURITY_HEADERS["Permissions-Policy"]
    api = RESOURCES["ApiHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    assert api["CustomHeadersConfig"] == config["CustomHeadersConfig"]


def test_the_distribution_matches_the_brief() -> None:
    config = RESOURCES["Distribution"]["Properties"]["DistributionConfig"]
    assert config["HttpVersion"] == "http2and3"
    assert config["Origins"][0]["OriginAccessControlId"] == {
        "Fn::GetAtt": ["OriginAccessControl", "Id"]
    }
    assert config["DefaultCacheBehavior"]["Compress"] is True
    assets = next(b for b in config["CacheBehaviors"] if b["PathPattern"] == "/assets/*")
    policy = RESOURCES[assets["CachePolicyId"]["Ref"]]["Properties"]["CachePolicyConfig"]
    assert policy["MinTTL"] == policy["DefaultTTL"] == 31536000
    assert {r["ResponsePagePath"] for r in config["CustomErrorResponses"]} == {"/404.html"}
    # A page born where nothing was is not invalidated: no cache may hold its absence.
    errors = {r["ErrorCode"]: r["ErrorCachingMinTTL"] for r in config["CustomErrorResponses"]}
    assert errors == {403: 0, 404: 0}


def test_the_cdn_logs_into_the_logs_bucket_without_acls_or_readers_addresses() -> None:
    assert "Logging" not in RESOURCES["Distribution"]["Properties"]["DistributionConfig"]
    source = RESOURCES["CdnLogSource"]["Properties"]
    assert (
        source["LogType"] == "ACCESS_LOGS" and "${Distribution}" in source["ResourceArn"]["Fn::Sub"]
    )
    destination = RESOURCES["CdnLogDestination"]["Properties"]
    assert destination["DestinationResourceArn"] == {"Fn::Sub": "${LogsBucket.Arn}/cdn"}
    fields = RESOURCES["CdnLogDelivery"]["Properties"]["RecordFields"]
    assert {"date", "time", "cs-uri-stem", "sc-status", "x-edge-request-id"} <= set(fields)
    assert not {"c-ip", "x-forwarded-for", "c-port", "cs(Cookie)", "cs-uri-query"} & set(fields)
    for bucket in ("SourceBucket", "SiteBucket", "LogsBucket"):
        rules = RESOURCES[bucket]["Properties"]["OwnershipControls"]["Rules"]
        assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}], bucket
    statements_ = RESOURCES["LogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    [delivery] = [s for s in statements_ if s["Sid"] == "CdnAccessLogs"]
    assert delivery["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert delivery["Resource"] == {"Fn::Sub": "${LogsBucket.Arn}/cdn/AWSLogs/${AWS::AccountId}/*"}
    assert delivery["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_the_viewer_function_source_is_inlined() -> None:
    code = RESOURCES["ViewerRequestFunction"]["Properties"]["FunctionCode"]
    assert code == (sam.INFRA / "viewer-request.js").read_text()
    assert re.search(r"async function handler\(event\)", code)


def test_the_publish_role_trusts_only_the_content_repositorys_protected_environment() -> None:
    role = RESOURCES["PublishRole"]["Properties"]
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    condition = statement["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert condition["token.actions.githubusercontent.com:sub"] == {
        "Fn::Sub": "repo:${GitHubRepository}:environment:${PublishEnvironment}"
    }
    assert "StringLike" not in statement["Condition"]  # no wildcard subject


def test_alarms_can_publish_to_their_encrypted_topic() -> None:
    topic = RESOURCES["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmKey"}  # not alias/aws/sns
    key = RESOURCES["AlarmKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    [alarms] = [s for s in key["KeyPolicy"]["Statement"] if s["Sid"] == "AlarmsPublishThroughIt"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(alarms["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    for alarm in of_type("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_validate_queue_takes_notifications_from_the_source_bucket_alone() -> None:
    name = RESOURCES["SourceBucket"]["Properties"]["BucketName"]
    [statement] = RESOURCES["ValidateQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    source = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert source["Fn::Join"][1][1] == name  # the same name, not "any bucket"
    assert "ArnLike" not in statement["Condition"]


def test_only_the_stages_that_see_photographs_carry_pillow() -> None:
    layered = {
        name
        for name, function in FUNCTIONS.items()
        if {"Ref": "PhotosLayer"} in function["Properties"].get("Layers", [])
    }
    assert layered == {"ValidateFunction", "RenderFunction"}
    assert "${SourceBucket.Arn}/variants/*" in resources_for("RenderFunction", "s3:PutObject")
    assert "${SourceBucket.Arn}/variants/*" in resources_for("IndexFunction", "s3:GetObject")
    assert "${SourceBucket.Arn}/variants/*" not in resources_for("IndexFunction", "s3:PutObject")


def test_photographs_are_served_as_immutable_as_the_stylesheet() -> None:
    config = RESOURCES["Distribution"]["Properties"]["DistributionConfig"]
    behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert behaviours["/media/*"]["CachePolicyId"] == {"Ref": "AssetCachePolicy"}
    assert behaviours["/media/*"]["CachePolicyId"] == behaviours["/assets/*"]["CachePolicyId"]
    assert viewer.ASSET_CACHE == "public, max-age=31536000, immutable"


def test_every_queue_a_function_may_send_to_is_in_its_environment() -> None:
    # Index sends a commit that must wait to render's queue: the permission alone, with
    # no RENDER_QUEUE_URL to send to, dead-lettered every such job without a reason.
    for name, function in FUNCTIONS.items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        for statement in statements(name):
            if statement["Action"] != "sqs:SendMessage":
                continue
            targets = statement["Resource"]
            for target in targets if isinstance(targets, list) else [targets]:
                queue = target["Fn::GetAtt"][0]
                setting = re.sub(r"(?<!^)(?=[A-Z])", "_", queue.removesuffix("Queue")).upper()
                assert variables.get(f"{setting}_QUEUE_URL") == {"Ref": queue}, (name, queue)
