"""Findings: what the validator tells an editor, one line each, compiler style."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

# What would break "one line each" (or a terminal): control characters, and the
# separators some tools take for line ends. Shown escaped, as Python would.
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    return UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


WARNING = "warning"  # said, and refuses nothing: the file still counts


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    column: int
    field: str | None
    message: str
    severity: str = "error"  # or WARNING

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        if self.severity == WARNING:
            where += ": warning"
        text = (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )
        return printable(text)


def errors(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that refuse what they are on (a warning only says something)."""
    return [f for f in findings if f.severity != WARNING]


class FindingSink:
    """Collects findings for one file so checks can report without knowing the path."""

    def __init__(self, path: str, line_offset: int = 0) -> None:
        self.path = path
        self.line_offset = line_offset
        self.findings: list[Finding] = []

    def add(
        self, line: int, column: int, field: str | None, message: str, *, warning: bool = False
    ) -> None:
        severity = WARNING if warning else "error"
        finding = Finding(self.path, line + self.line_offset, column, field, message, severity)
        self.findings.append(finding)

    def __bool__(self) -> bool:
        """Whether the file has an error (a warning refuses nothing)."""
        return bool(errors(self.findings))


def format_text(findings: Iterable[Finding]) -> str:
    return "".join(f"{f}\n" for f in findings)


def _github_escape(value: str, *, property_: bool = False) -> str:
    # GitHub's workflow-command encoding: % and newlines always, , and : inside properties;
    # any other control character escaped as everywhere else (a log is a terminal too).
    value = printable(value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))
    if property_:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def format_github(findings: Iterable[Finding]) -> str:
    lines = []
    for f in findings:
        title = _github_escape(f.field or "broadsheet", property_=True)
        file = _github_escape(f.path, property_=True)
        kind = "warning" if f.severity == WARNING else "error"
        lines.append(
            f"::{kind} file={file},line={f.line},col={f.column},title={title}::"
            f"{_github_escape(f.message)}\n"
        )
    return "".join(lines)


def format_json(findings: list[Finding], files_checked: int) -> str:
    report = {
        "version": 1,
        "files_checked": files_checked,
        "ok": not errors(findings),
        "findings": [asdict(f) for f in findings],
    }
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"
