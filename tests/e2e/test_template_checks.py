"""cfn-lint on the template, and checkov on the template as it will be deployed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from broadsheet.local import template as sam
from tests.conftest import REPO
from tests.support.aws import REGION, fake_credentials

CHECKOV = REPO / ".venv-scan" / "bin" / "checkov"


def test_cfn_lint_is_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(sam.TEMPLATE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_finds_nothing_not_listed_with_its_reason(tmp_path: Path) -> None:
    if not CHECKOV.exists():
        pytest.fail("the scanner is missing: `make scan-setup` installs it (make test does)")
    fake_credentials()
    with mock_aws():  # the managed-policy lookups of the transform, answered offline
        transformed = sam.transform(
            sam.parse(sam.template_text()),
            {
                "GitHubRepository": "workers/content",
                "CreateGitHubOidcProvider": "true",
                "AlarmEmail": "maintainer@example.org",
            },
            "s3://artifacts/package.zip",
            boto3.client("iam", region_name=REGION),
        )
    # No function role holds a managed policy: SAM's AWSLambdaSQSQueueExecutionRole would
    # let it take and delete any queue's messages (each has its own role, infra/template.yaml).
    managed = {
        name: r["Properties"].get("ManagedPolicyArns")
        for name, r in transformed["Resources"].items()
        if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("ManagedPolicyArns")
    }
    assert managed == {
        "CodeDeployServiceRole": ["arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"]
    }
    target = tmp_path / "template.json"
    target.write_text(json.dumps(transformed))
    result = subprocess.run(
        [
            str(CHECKOV),
            "--config-file",
            str(REPO / ".checkov.yaml"),
            "-f",
            str(target),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    report = json.loads(result.stdout)
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert failed == [], "\n".join(failed)
    assert report["summary"]["passed"] > 50


def run_sam(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The SAM CLI `make sam-setup` installs, run in ``cwd``; it must succeed."""
    sam_cli = REPO / ".venv-sam" / "bin" / "sam"
    if not sam_cli.exists():
        pytest.fail("the SAM CLI is missing: `make sam-setup` installs it (make test does)")
    result = subprocess.run(
        [str(sam_cli), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_sam_validate_lint_passes_on_the_deployable_template(tmp_path: Path) -> None:
    # The template as `make build` writes it, beside a package folder of the real code.
    (tmp_path / "package").symlink_to(REPO / "functions")
    (tmp_path / "layer-redirects").mkdir()
    text = (
        sam.template_text()
        .replace("CodeUri: ../build/package", "CodeUri: package")
        .replace("ContentUri: ../build/layer-redirects", "ContentUri: layer-redirects")
    )
    (tmp_path / "template.yaml").write_text(text)
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    result = run_sam(["validate", "--lint", "--template", "template.yaml"], tmp_path, env)
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_sam_package_keeps_the_release_that_promote_finds_it_by(tmp_path: Path) -> None:
    """make deploy's first half: `sam package` (against moto's S3 on loopback) and the
    packaged template kept under the release the stack will report."""
    from moto.server import ThreadedMotoServer

    from broadsheet.local import deploys
    from broadsheet.local.devstack import free_port
    from broadsheet.pipeline.release import release

    for folder in ("package", "layer-photos", "layer-redirects", "layer-search"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "marker.txt").write_text(folder)
    (tmp_path / "template.yaml").write_text(sam.template_text().replace("../build/", ""))
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "SAM_CLI_TELEMETRY": "0",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": endpoint,
        }
        s3 = boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="artifacts")
        package = ["package", "--template-file", "template.yaml", "--region", REGION]
        output = ["--s3-bucket", "artifacts", "--s3-prefix", "broadsheet"]
        run_sam([*package, *output, "--output-template-file", "packaged.yaml"], tmp_path, env)
        uploaded = s3.list_objects_v2(Bucket="artifacts", Prefix="broadsheet/")
        assert len(uploaded["Contents"]) == 4  # the code and three layers
    finally:
        server.stop()
    kept = deploys.keep(tmp_path / "packaged.yaml", tmp_path / "kept")
    assert kept.name == f"{release()}.yaml"
    text = kept.read_text()
    assert "s3://artifacts/broadsheet/" in text and "ContentUri: layer-" not in text
