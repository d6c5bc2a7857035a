"""GIVEN the bad-input corpus WHEN it is validated THEN each file gets exactly its finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broadsheet.cli import main
from tests.conftest import CORPUS

EXPECTED = (CORPUS / "expected.txt").read_text(encoding="utf-8").splitlines()
# Files in the corpus that must pass: the targets other cases point at, and the BOM/CRLF file.
CLEAN = {
    "tests/corpus/issues/900/original-story.md",
    "tests/corpus/issues/900/bom-and-crlf-accepted.md",
    "tests/corpus/issues/901/orphan-article.md",
    "tests/corpus/issues/904/story-in-another-issue.md",
    # A PNG named .jpg: a photograph is judged by its bytes, and accepted as what it is.
    "tests/corpus/issues/900/photo-png-named-jpg.md",
    "tests/corpus/issues/900/corrected.md",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_the_corpus_is_large_enough_to_mean_something() -> None:
    assert len(list(CORPUS.rglob("*.md"))) >= 40


def test_every_finding_is_exactly_the_expected_one(in_repo: Path, capsys) -> None:
    code, out = run(capsys, "validate", "tests/corpus")
    assert code == 1
    assert out.splitlines() == EXPECTED


def test_every_bad_file_is_reported_and_only_good_files_pass(in_repo: Path, capsys) -> None:
    _, out = run(capsys, "validate", "tests/corpus")
    reported = {line.split(":", 1)[0] for line in out.splitlines()}
    articles = {str(p.relative_to(in_repo)) for p in CORPUS.rglob("*.md")}
    assert articles - reported == CLEAN


FILE_LEVEL = [line for line in EXPECTED if (CORPUS.parent.parent / line.split(":", 1)[0]).is_file()]


@pytest.mark.parametrize(
    "line", FILE_LEVEL, ids=lambda line: line.split(":", 1)[0].rsplit("/", 1)[-1]
)
def test_each_case_alone_reports_its_line(in_repo: Path, capsys, line: str) -> None:
    path = line.split(":", 1)[0]
    code, out = run(capsys, "validate", path)
    assert code == 1
    assert line in out.splitlines()
    assert all(found.startswith(path + ":") or "site.yml" in found for found in out.splitlines())


def test_an_oversized_file_is_refused_without_reading_it_as_text(tmp_path: Path, capsys) -> None:
    (tmp_path / "site.yml").write_bytes((CORPUS / "site.yml").read_bytes())
    issue = tmp_path / "issues" / "7"
    issue.mkdir(parents=True)
    (issue / "issue.yml").write_text("number: 7\ndate: 2025-01-01\n")
    big = issue / "too-big.md"
    big.write_bytes(
        b"---\ntitle: Big\nlanguage: en\ndate: 2025-01-01\ndateline: X\n---\n" + b"word " * 220_000
    )
    code, out = run(capsys, "validate", str(big))
    assert code == 1
    assert out.strip().endswith(
        "1:1: file is 1,100,061 bytes; the limit is 1,048,576 (1 MiB): "
        "split it or move media out of the text"
    )


def test_github_format_prints_workflow_annotations(in_repo: Path, capsys) -> None:
    code, out = run(
        capsys, "validate", "--format", "github", "tests/corpus/issues/900/date-invalid.md"
    )
    assert code == 1
    assert out == (
        "::error file=tests/corpus/issues/900/date-invalid.md,line=4,col=7,"
        "title=date::'2025-13-40' is not a valid date (YYYY-MM-DD)\n"
    )


def test_github_format_escapes_what_a_file_name_may_hold() -> None:
    from broadsheet.content.findings import Finding, format_github

    # GIVEN a finding on a file named with an escape sequence, a bell, a newline, a comma
    hostile = "issues/416/evil\x1b[31mred\x07,\n%.md"
    shown = format_github([Finding(hostile, 1, 1, None, f"file name {hostile!s} is bad")])
    # THEN GitHub's own encoding, and no control character left for a log to act on
    assert shown.count("\n") == 1 and "\x1b" not in shown and "\x07" not in shown
    assert "file=issues/416/evil\\x1b[31mred\\x07%2C%0A%25.md," in shown


def test_json_format_is_a_machine_readable_report(in_repo: Path, capsys) -> None:
    code, out = run(capsys, "validate", "--format", "json", "tests/corpus")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["version"] == 1
    assert len(report["findings"]) == len(EXPECTED)
    first = report["findings"][0]
    assert set(first) == {"path", "line", "column", "field", "message", "severity"}
    # Version 1 still: "severity" was added ("error", or "warning": said, refusing nothing).
    assert {f["severity"] for f in report["findings"]} <= {"error", "warning"}


def test_the_demo_content_is_clean(in_repo: Path, capsys) -> None:
    code, out = run(capsys, "validate")
    assert (code, out) == (0, "")


def test_usage_errors_exit_2(in_repo: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["validate", "--format", "yaml"])
    assert exit_.value.code == 2


def test_a_path_outside_any_content_folder_is_reported(in_repo: Path, capsys) -> None:
    code, out = run(capsys, "validate", "README.md" if Path("README.md").exists() else "Makefile")
    assert code == 1
    assert "not inside a content folder" in out


def test_a_file_that_is_not_an_article_is_reported(in_repo: Path, capsys, tmp_path) -> None:
    code, out = run(capsys, "validate", "tests/corpus/expected.txt")
    assert code == 1
    assert "not an article" in out
