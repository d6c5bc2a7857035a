"""Deploys by release (broadsheet.local.deploys) against moto's CloudFormation: promote
deploys the package staging runs, rollback a kept one, destroy only once its name is typed."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from broadsheet.local import deploys
from tests.support.aws import REGION, fake_credentials


def packaged(folder: Path, release: str) -> Path:
    """A packaged template as `sam package` leaves it: the code in S3, the Release stated."""
    path = folder / "packaged.yaml"
    path.write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\n"
        "Resources:\n  Queue: {Type: AWS::SQS::Queue}\n"
        f"Outputs:\n  Release: {{Value: {json.dumps(release)}}}\n"
    )
    return path


@pytest.fixture
def cloudformation() -> Iterator[object]:
    fake_credentials()
    with mock_aws():
        yield boto3.client("cloudformation", region_name=REGION)


def stage_stack(cloudformation: object, release: str, folder: Path) -> None:
    (folder / "staged").mkdir()
    body = packaged(folder / "staged", release).read_text()
    cloudformation.create_stack(  # type: ignore[attr-defined]
        StackName=deploys.settings("staging")["stack"], TemplateBody=body
    )


def test_each_environment_names_its_own_stack_in_the_cloudfronts_region() -> None:
    assert deploys.settings("default") == {"stack": "broadsheet", "region": "us-east-1"}
    assert deploys.settings("staging") == {"stack": "broadsheet-staging", "region": "us-east-1"}
    with pytest.raises(deploys.DeployError, match="no environment 'prod'"):
        deploys.settings("prod")


def test_promote_deploys_to_production_the_very_package_staging_runs(
    cloudformation: object, tmp_path: Path
) -> None:
    kept = tmp_path / "kept"
    deploys.keep(packaged(tmp_path, "aaaa1111aaaa1111"), kept)
    deploys.keep(packaged(tmp_path, "bbbb2222bbbb2222"), kept)  # built later, never staged
    stage_stack(cloudformation, "aaaa1111aaaa1111", tmp_path)
    ran: list[list[str]] = []
    code = deploys.promote(cloudformation, "sam", kept=kept, run=lambda c: ran.append(c) or 0)
    assert code == 0
    [command] = ran
    assert command[:2] == ["sam", "deploy"]
    assert command[command.index("--config-env") + 1] == "default"
    assert command[command.index("--template-file") + 1] == str(kept / "aaaa1111aaaa1111.yaml")


def test_promote_refuses_a_release_no_package_was_kept_of(
    cloudformation: object, tmp_path: Path
) -> None:
    kept = tmp_path / "kept"
    deploys.keep(packaged(tmp_path, "bbbb2222bbbb2222"), kept)
    stage_stack(cloudformation, "aaaa1111aaaa1111", tmp_path)
    ran: list[list[str]] = []
    with pytest.raises(
        deploys.DeployError, match=r"no package of release aaaa1111aaaa1111.*bbbb2222bbbb2222"
    ):
        deploys.promote(cloudformation, "sam", kept=kept, run=lambda c: ran.append(c) or 0)
    assert ran == []


def test_promote_refuses_when_there_is_no_staging_stack(
    cloudformation: object, tmp_path: Path
) -> None:
    with pytest.raises(deploys.DeployError, match="no stack broadsheet-staging"):
        deploys.promote(cloudformation, "sam", kept=tmp_path, run=lambda c: 0)


def test_rollback_deploys_a_kept_release_again(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    deploys.keep(packaged(tmp_path, "aaaa1111aaaa1111"), kept)
    ran: list[list[str]] = []
    deploys.deploy_kept(
        "sam", "staging", "aaaa1111aaaa1111", kept, run=lambda c: ran.append(c) or 0
    )
    [command] = ran
    assert command[command.index("--config-env") + 1] == "staging"
    assert command[command.index("--template-file") + 1] == str(kept / "aaaa1111aaaa1111.yaml")
    with pytest.raises(deploys.DeployError, match="no package of release cccc0000cccc0000"):
        deploys.deploy_kept("sam", "staging", "cccc0000cccc0000", kept, run=lambda c: 0)


def test_a_package_that_states_no_release_is_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "packaged.yaml"
    path.write_text("Resources:\n  Queue: {Type: AWS::SQS::Queue}\n")
    with pytest.raises(deploys.DeployError, match="states no Release"):
        deploys.keep(path, tmp_path / "kept")


def test_destroy_says_what_stays_and_needs_the_stacks_name_typed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(deploys.DeployError, match="not deleted: 'y' is not 'broadsheet'"):
        deploys.confirm_destroy("default", answer=lambda _: "y")
    said = capsys.readouterr().out
    assert "keeps the source, site and logs buckets" in said and "dead letters" in said
    assert deploys.confirm_destroy("staging", answer=lambda _: "broadsheet-staging\n") == (
        "broadsheet-staging"
    )
    # Typed ahead (make destroy CONFIRM=…), for a script that means it.
    assert deploys.confirm_destroy("default", confirmed="broadsheet") == "broadsheet"


def test_destroy_deletes_the_stack_alone_and_only_once_its_name_is_typed(
    cloudformation: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = packaged(tmp_path, "aaaa1111bbbb2222").read_text()
    cloudformation.create_stack(StackName="broadsheet", TemplateBody=body)  # type: ignore[attr-defined]

    def stacks() -> list[str]:
        listed = cloudformation.list_stacks()["StackSummaries"]  # type: ignore[attr-defined]
        return [s["StackName"] for s in listed if s["StackStatus"] != "DELETE_COMPLETE"]

    assert deploys.main(["destroy", "--confirm", "broadsheet-x"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert deploys.main(["destroy"]) == 1  # end of input: a refusal, not a traceback
    assert stacks() == ["broadsheet"]
    # Through CloudFormation, not `sam delete --no-prompts`, which would delete the
    # packaged code every environment and kept package shares.
    assert deploys.main(["--sam", "/nonexistent/sam", "destroy", "--confirm", "broadsheet"]) == 0
    assert stacks() == []


def test_only_a_release_names_a_package(tmp_path: Path) -> None:
    for name in ("../infra/template", "/etc/passwd", "{{release}}", ""):
        with pytest.raises(deploys.DeployError, match="is not a release"):
            deploys.package_for(name, tmp_path)
    unbuilt = tmp_path / "template.yaml"
    unbuilt.write_text('Outputs:\n  Release: {Value: "{{release}}"}\n')
    with pytest.raises(deploys.DeployError, match="states no Release"):
        deploys.keep(unbuilt, tmp_path / "kept")
    with pytest.raises(deploys.DeployError, match="cannot read"):
        deploys.keep(tmp_path / "missing.yaml", tmp_path / "kept")
    broken = tmp_path / "broken.yaml"
    broken.write_text("Outputs: [\n")
    with pytest.raises(deploys.DeployError, match="is not a template"):
        deploys.keep(broken, tmp_path / "kept")


def test_promote_names_its_environments_before_it_asks_anything(tmp_path: Path) -> None:
    with pytest.raises(deploys.DeployError, match="to itself"):
        deploys.promote(None, "sam", "staging", "staging", kept=tmp_path)
    with pytest.raises(deploys.DeployError, match="no environment 'bogus'"):
        deploys.promote(None, "sam", "staging", "bogus", kept=tmp_path)


def test_a_deploy_refuses_a_tree_whose_release_files_differ_from_its_commit(
    tmp_path: Path,
) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "code.py").write_text("x = 1\n")
    (tmp_path / "notes.md").write_text("a\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "one")
    head = deploys.committed(tmp_path)
    assert len(head) == 40
    (tmp_path / "notes.md").write_text("b\n")  # not what makes a release
    assert deploys.committed(tmp_path) == head
    (tmp_path / ".gitignore").write_text("*.log\n__pycache__/\n")
    (tmp_path / "functions" / "__pycache__").mkdir()
    (tmp_path / "functions" / "__pycache__" / "code.cpython-311.pyc").write_bytes(b"")
    assert deploys.committed(tmp_path) == head  # bytecode is never shipped
    (tmp_path / "functions" / "debug.log").write_text("ignored, but it would ship\n")
    with pytest.raises(deploys.DeployError, match=r"functions/debug\.log"):
        deploys.committed(tmp_path)
    (tmp_path / "functions" / "debug.log").unlink()
    (tmp_path / "functions" / "code.py").write_text("x = 2\n")
    (tmp_path / "functions" / "new.py").write_text("")
    with pytest.raises(deploys.DeployError, match=r"functions/code\.py[\s\S]*functions/new\.py"):
        deploys.committed(tmp_path)


def test_the_kept_package_says_the_commit_it_was_built_from(tmp_path: Path) -> None:
    kept = deploys.keep(packaged(tmp_path, "aaaa1111aaaa1111"), tmp_path / "kept", commit="c0ffee")
    assert kept.read_text().splitlines()[0] == (
        "# Broadsheet release aaaa1111aaaa1111, built from commit c0ffee"
    )
    assert deploys.release_of(kept) == "aaaa1111aaaa1111"
