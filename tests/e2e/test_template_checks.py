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


def test_sam_validate_lint_passes_on_the_deployable_template(tmp_path: Path) -> None:
    sam_cli = REPO / ".venv-sam" / "bin" / "sam"
    if not sam_cli.exists():
        pytest.fail("the SAM CLI is missing: `make sam-setup` installs it (make test does)")
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
    result = subprocess.run(
        [str(sam_cli), "validate", "--lint", "--template", "template.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr
