"""The boto3 adapters' behaviour that moto cannot show: CloudFront's throttling and the
key value store's ETags, answered by botocore's Stubber with the services' real shapes."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from broadsheet.adapters.cdn import CloudFrontCDN
from broadsheet.adapters.redirects import KeyValueStoreRedirects, follow


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


def test_redirects_are_written_to_the_key_value_store_with_its_etag() -> None:
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
        "ItemCount": 1,
        "TotalSizeInBytes": 10,
    }
    with Stubber(client) as stub:
        stub.add_response(
            "list_keys",
            {"Items": [{"Key": "/en/issues/1/a/", "Value": "/en/issues/1/b/"}]},
            {"KvsARN": arn},
        )
        stub.add_response("describe_key_value_store", described, {"KvsARN": arn})
        stub.add_response(
            "put_key",
            {"ItemCount": 2, "TotalSizeInBytes": 20, "ETag": "E-2"},
            {"KvsARN": arn, "Key": "/en/issues/1/a/", "Value": "/en/issues/1/c/", "IfMatch": "E-1"},
        )
        stub.add_response("describe_key_value_store", {**described, "ETag": "E-2"}, {"KvsARN": arn})
        stub.add_response(
            "put_key",
            {"ItemCount": 2, "TotalSizeInBytes": 20, "ETag": "E-3"},
            {"KvsARN": arn, "Key": "/en/issues/1/b/", "Value": "/en/issues/1/c/", "IfMatch": "E-2"},
        )
        follow(KeyValueStoreRedirects(client, arn), "/en/issues/1/b/", "/en/issues/1/c/")
        stub.assert_no_pending_responses()
