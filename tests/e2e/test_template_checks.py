"""cfn-lint on the template, and checkov on the template as it will be deployed."""

from __future__ import annotations

import json
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
                "AlarmEmail": "",
            },
            "s3://artifacts/package.zip",
            boto3.client("iam", region_name=REGION),
        )
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
    assert failed == []
    assert report["summary"]["passed"] > 50
