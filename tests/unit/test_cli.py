"""The ``broadsheet`` command follows the conventions its users know from argparse and
click tools: help for every argument, defaults shown, --version, one spelling per
concept, one clear line per failure; and the README's table says what --help says."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from broadsheet import __version__
from broadsheet.cli import build_parser, main
from tests.conftest import CONTENT, REPO


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def summaries() -> dict[str, str]:
    return {name: str(parser.description) for name, parser in commands().items()}


def test_every_argument_has_help_and_every_command_is_described_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    overview = capsys.readouterr().out
    for name, parser in commands().items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"broadsheet {name} {action.dest} has no help"
        described = re.findall(rf"^ +{re.escape(name)}\s+(.+)$", overview, re.M)
        assert described == [summaries()[name]], name
    # A default of None is not shown beside the help's own "(default: now)"
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    assert "(default: None)" not in capsys.readouterr().out


def test_one_spelling_per_concept() -> None:
    spelled = {
        option
        for parser in commands().values()
        for a in parser._actions
        for option in a.option_strings
    }
    assert "--content-dir" not in spelled and "--dir" not in spelled and "--repo" not in spelled
    for name in ("validate", "build", "new-article", "run", "publish"):
        assert "--content" in {o for a in commands()[name]._actions for o in a.option_strings}
    for name in ("build", "serve"):
        assert "--out" in {o for a in commands()[name]._actions for o in a.option_strings}


def test_defaults_are_shown_and_the_version_is_told(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: content)" in text and "(default: _site)" in text
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"broadsheet {__version__}"


def test_the_readme_table_says_what_help_says() -> None:
    readme = (REPO / "README.md").read_text()
    rows = dict(re.findall(r"^\| `broadsheet ([a-z-]+)[^`]*` \| (.+?) \|$", readme, re.M))
    assert rows == summaries()


def test_a_failure_is_one_line_with_its_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("broadsheet serve: ")


@pytest.mark.parametrize("command", ["build", "validate"])
def test_a_content_folder_that_is_not_there_is_a_usage_error(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = ["--content", str(tmp_path / "nowhere")]
    assert main([command, *missing, *(["--out", str(tmp_path / "o")] * (command == "build"))]) == 2
    assert "nowhere/ is not a folder: give --content" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["a-file/out", "/proc/nowhere"])
def test_a_build_into_a_folder_it_cannot_make_is_one_line(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    out = tmp_path / where  # an absolute ``where`` stays itself
    assert main(["build", "--quiet", "--content", str(CONTENT), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("broadsheet build: cannot make ")


def test_a_build_into_a_folder_it_cannot_write_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o500)
    # As an editor's account finds it (CI's root writes anywhere).
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != out)
    assert main(["build", "--quiet", "--content", str(CONTENT), "--out", str(out)]) == 2
    assert capsys.readouterr().err.endswith("locked/ is not writable: give --out\n")


@pytest.mark.parametrize("command", ["serve", "run"])
@pytest.mark.parametrize("number", ["99999", "0", "eighty"])
def test_a_port_that_is_no_port_is_a_usage_error(
    command: str, number: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([command, "--port", number])
    assert stopped.value.code == 2
    assert f"argument --port: {number!r} is not a port (1 to 65535)" in capsys.readouterr().err


def test_a_build_that_can_build_nothing_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "site.yml").write_text("name: [\n")
    assert main(["build", "--content", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "site.yml:2:1: YAML syntax error" in err and "nothing could be built" in err


def test_a_build_without_search_is_the_build_less_its_index(tmp_path: Path) -> None:
    whole, preview = tmp_path / "whole", tmp_path / "preview"
    common = ["--content", str(CONTENT), "--now", "2030-01-01T00:00:00Z", "--quiet"]
    assert main(["build", *common, "--out", str(whole), "--cache", str(tmp_path / "c")]) == 0
    assert main(["build", *common, "--out", str(preview), "--no-search", "--no-cache"]) == 0

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    built, previewed = files(whole), files(preview)
    index = {k for k in built if "/search/pagefind/" in k}
    assert index and not any("/search/pagefind/" in k for k in previewed)
    assert {k: v for k, v in built.items() if k not in index and k != ".broadsheet-build"} == {
        k: v for k, v in previewed.items() if k != ".broadsheet-build"
    }


def test_a_file_name_holding_a_line_break_is_still_one_finding_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    shutil.copytree(CONTENT, tmp_path / "content")
    (tmp_path / "content/issues/412/two\nlines.md").write_text("---\ntitle: x\n---\n")
    assert main(["validate", "--content", str(tmp_path / "content")]) == 1
    [line, *_] = capsys.readouterr().out.splitlines()
    assert "issues/412/two\\nlines.md:1:1: file name 'two\\nlines' is not a valid slug" in line


def test_new_article_takes_only_a_language_of_the_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    shutil.copytree(CONTENT, tmp_path / "content")
    args = ["new-article", "--content", str(tmp_path / "content"), "--issue", "412"]
    assert main([*args, "--slug", "x", "--language", "C.UTF-8"]) == 2
    assert "not a language of this site (en, es)" in capsys.readouterr().err
    assert main([*args, "--slug", "y"]) == 0
    assert "language: en" in (tmp_path / "content/issues/412/y.md").read_text()


BLOCKED = """
import sys, importlib.abc
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {"boto3", "botocore", "moto", "aws_lambda_powertools",
                                  "samtranslator", "tqdm"}:
            raise ImportError(f"{name} is not installed")
sys.meta_path.insert(0, Refuse())
from broadsheet.cli import main
sys.argv = ["broadsheet", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("name", sorted(commands()))
def test_help_needs_nothing_beyond_the_core_dependencies(name: str) -> None:
    # As after `pip install .` with no extras: every command still explains itself.
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED, name, "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert f"broadsheet {name}" in result.stdout


def test_a_command_pointed_at_the_local_stack_needs_no_aws_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from moto.server import ThreadedMotoServer

    from broadsheet.local.devstack import free_port

    # GIVEN a machine with no AWS region or keys, and a moto server on loopback (each
    # name set first, so that what the command sets is undone after the test too)
    for name in (
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
    ):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        # WHEN status is asked of it THEN the only complaint is the missing stack
        assert main(["status", "--endpoint-url", f"http://127.0.0.1:{port}"]) != 0
    finally:
        server.stop()
    error = capsys.readouterr().err
    assert "cannot find the stack 'broadsheet'" in error and "does not exist" in error
    assert "region" not in error and "credentials" not in error
    assert os.environ["AWS_ACCESS_KEY_ID"] == "local"  # the local stack's, not a guess


def test_a_reader_that_stops_reading_ends_the_command_quietly(tmp_path: Path) -> None:
    # GIVEN findings to print, and stdout a pipe nobody reads any more (`| head -0`)
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    (content / "issues/412/broken.md").write_text("---\ntitle: [\n---\nBody\n")
    script = (
        "import os, sys\n"
        "read, write = os.pipe()\n"
        "os.close(read)\n"
        "os.dup2(write, 1)\n"
        "from broadsheet.cli import main\n"
        f"sys.exit(main(['validate', {str(content)!r}]))\n"
    )
    ended = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    # THEN it ends as git does, without a traceback
    assert ended.returncode == 141, ended.stderr
    assert "Traceback" not in ended.stderr and "Broken pipe" not in ended.stderr


def test_validate_names_a_folder_that_is_not_a_content_folder_and_counts_what_it_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a folder with no site.yml THEN one line and exit 2, as for a missing folder
    assert main(["validate", "--content", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a content folder (it holds no site.yml)" in err
    assert main(["validate", "--content", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    # GIVEN the demo content THEN it says how many files it checked, even into a pipe
    assert main(["validate", "--content", str(CONTENT)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and re.fullmatch(
        r"broadsheet validate: \d+ file\(s\) checked, no problems\n", err
    )


def test_make_new_article_passes_on_only_the_values_given(tmp_path: Path) -> None:
    # `make new-article ISSUE=412 SLUG=x` once failed: empty values arrived quoted ("").
    def planned(*variables: str) -> str:
        result = subprocess.run(
            ["make", "-n", "--no-print-directory", "new-article", *variables],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip().splitlines()[-1]

    line = planned("ISSUE=412", "SLUG=x")
    assert line.endswith('broadsheet new-article  --issue "412" --slug "x"')
    line = planned("ISSUE=412", "SLUG=x", "CONTENT=my paper", "ARTICLE_LANG=es")
    assert '--content "my paper" --issue "412" --slug "x" --language "es"' in line
    # AND what it plans runs: a draft written where it was asked
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    subprocess.run(
        ["make", "-s", "new-article", "ISSUE=412", "SLUG=x", f"CONTENT={content}"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    assert (content / "issues/412/x.md").read_text().startswith("---\ntitle: ")
