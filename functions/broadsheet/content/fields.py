"""Typed reading of positioned YAML values, with findings an editor can act on."""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import re
from collections.abc import Iterable

from broadsheet.content.findings import FindingSink
from broadsheet.content.reader import KIND_NAMES, YMap, YNode, YScalar, YSeq, control_character

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def describe(node: YNode) -> str:
    if isinstance(node, YScalar) and node.kind != "text":
        return f"{KIND_NAMES[node.kind]} ({node.raw!r})" if node.raw else KIND_NAMES[node.kind]
    return KIND_NAMES[node.kind]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def check_keys(
    mapping: YMap, allowed: Iterable[str], required: Iterable[str], sink: FindingSink, *, what: str
) -> None:
    allowed = list(allowed)
    for key, (key_node, _value) in mapping.entries.items():
        if key not in allowed:
            sink.add(
                key_node.line,
                key_node.column,
                key,
                f"unknown key in {what}{did_you_mean(key, allowed)}"
                f" (allowed: {', '.join(allowed)})",
            )
    missing = [key for key in required if key not in mapping.entries]
    for key in missing:
        sink.add(mapping.line, 1, key, f"required key is missing from {what}")


def text(
    node: YNode,
    sink: FindingSink,
    field: str,
    *,
    min_len: int = 1,
    max_len: int | None = None,
    single_line: bool = True,
) -> str | None:
    if not isinstance(node, YScalar) or node.kind != "text":
        hint = ""
        if isinstance(node, YScalar) and node.kind in {"int", "float", "bool", "timestamp"}:
            hint = f': put it in quotes, e.g. {field}: "{node.raw}"'
        sink.add(node.line, node.column, field, f"expected text, got {describe(node)}{hint}")
        return None
    value = node.raw.strip()
    control = control_character(value)
    if control is not None:
        sink.add(
            node.line,
            node.column,
            field,
            f"contains the control character {control} (a YAML escape such as \\x01?): "
            "readers' feeds cannot carry it",
        )
        return None
    if single_line and "\n" in value:
        value = " ".join(value.split())
    if len(value) < min_len:
        sink.add(
            node.line,
            node.column,
            field,
            "is empty" if not value else f"is {len(value)} characters; at least {min_len} needed",
        )
        return None
    if max_len is not None and len(value) > max_len:
        sink.add(
            node.line, node.column, field, f"is {len(value)} characters; at most {max_len} allowed"
        )
        return None
    return value


def date(node: YNode, sink: FindingSink, field: str) -> dt.date | None:
    raw = node.raw.strip() if isinstance(node, YScalar) else ""
    if (
        not isinstance(node, YScalar)
        or node.kind not in {"text", "timestamp"}
        or not _DATE.fullmatch(raw)
    ):
        shown = f"'{raw}'" if isinstance(node, YScalar) else describe(node)
        sink.add(node.line, node.column, field, f"{shown} is not a valid date (YYYY-MM-DD)")
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        year, month = int(raw[:4]), int(raw[5:7])
        detail = ""
        if 1 <= month <= 12:
            days = calendar.monthrange(year, month)[1]
            detail = f": {calendar.month_name[month]} {year} has {days} days"
        sink.add(node.line, node.column, field, f"'{raw}' is not a valid date (YYYY-MM-DD){detail}")
        return None


def datetime_with_offset(node: YNode, sink: FindingSink, field: str) -> dt.datetime | None:
    raw = node.raw.strip() if isinstance(node, YScalar) else ""
    example = "e.g. 2025-07-25T06:00:00+02:00 or 2025-07-25T04:00:00Z"
    if not isinstance(node, YScalar) or node.kind not in {"text", "timestamp"}:
        sink.add(
            node.line,
            node.column,
            field,
            f"expected a date-time with a UTC offset ({example}), got {describe(node)}",
        )
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace(" ", "T", 1) if "T" not in raw else raw)
    except ValueError:
        sink.add(node.line, node.column, field, f"'{raw}' is not an ISO 8601 date-time ({example})")
        return None
    if "T" not in raw and " " not in raw:
        sink.add(node.line, node.column, field, f"'{raw}' has no time of day ({example})")
        return None
    if value.tzinfo is None:
        sink.add(node.line, node.column, field, f"'{raw}' has no UTC offset: add one ({example})")
        return None
    return value


def text_list(
    node: YNode, sink: FindingSink, field: str, *, max_len: int = 100, max_items: int = 1000
) -> list[str] | None:
    if not isinstance(node, YSeq):
        sink.add(
            node.line,
            node.column,
            field,
            f"expected a list (one '- item' per line), got {describe(node)}",
        )
        return None
    if len(node.items) > max_items:
        sink.add(
            node.line,
            node.column,
            field,
            f"lists {len(node.items)} items; at most {max_items} are allowed",
        )
        return None
    values: list[str] = []
    for item in node.items:
        value = text(item, sink, field, max_len=max_len)
        if value is not None:
            values.append(value)
    return values if len(values) == len(node.items) else None


def choice(
    node: YNode, sink: FindingSink, field: str, choices: Iterable[str], *, where: str
) -> str | None:
    value = text(node, sink, field)
    if value is None:
        return None
    problem = choice_problem(value, choices, where=where)
    if problem:
        sink.add(node.line, node.column, field, problem)
        return None
    return value


def choice_problem(value: str, choices: Iterable[str], *, where: str) -> str | None:
    """Why ``value`` is not one of ``choices``, or None."""
    choices = list(choices)
    if value in choices:
        return None
    return f"'{value}' is not one of {where} ({', '.join(choices)}){did_you_mean(value, choices)}"


def per_language(
    node: YNode,
    sink: FindingSink,
    field: str,
    languages: Iterable[str],
    *,
    max_len: int = 200,
    other_languages_warn: bool = False,
) -> dict[str, str] | None:
    """A mapping language -> text, e.g. ``name: {en: ..., es: ...}``. With
    ``other_languages_warn``, a language the site does not have is ignored with a
    warning rather than refused (a file other than site.yml, which may lag behind it)."""
    languages = list(languages)
    if not isinstance(node, YMap):
        sink.add(
            node.line,
            node.column,
            field,
            f"expected one value per language ({', '.join(languages)}), got {describe(node)}",
        )
        return None
    values: dict[str, str] = {}
    for lang, (key, value_node) in node.entries.items():
        if lang not in languages:
            ignored = ": ignored, and shown nowhere" if other_languages_warn else ""
            sink.add(
                key.line,
                key.column,
                f"{field}.{lang}",
                f"'{lang}' is not a language of this site ({', '.join(languages)}){ignored}",
                warning=other_languages_warn,
            )
            continue
        value = text(value_node, sink, f"{field}.{lang}", max_len=max_len)
        if value is not None:
            values[lang] = value
    return values
