"""Reading sources: bytes to text, front matter to a tree of YAML values with positions.

PyYAML's own constructors are not used: they turn ``2025-13-40`` into a crash, follow
aliases (billion-laughs documents) and honour custom tags. Instead the event stream is
walked here, anything clever in it is refused, and every value keeps the line and column
it came from so that a finding can point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from broadsheet.content.findings import FindingSink

MAX_SOURCE_BYTES = 1024 * 1024
# Characters no reader means to send: C0 and C1 controls but tab and newline, DEL, the
# noncharacters U+FFFE/U+FFFF and lone surrogates (which only a YAML escape can make).
# XML 1.0 forbids most of them, so one in a title or a first paragraph would break every
# reader's feed at once.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


def control_character(text: str) -> str | None:
    """How to name the first control character in ``text``, or None when it has none."""
    found = CONTROL.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


_Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_resolver: Any = yaml.resolver.Resolver()

_TAG_KINDS = {
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float",
    "tag:yaml.org,2002:timestamp": "timestamp",
    "tag:yaml.org,2002:str": "text",
}


@dataclass(frozen=True)
class YScalar:
    raw: str
    kind: str  # text, int, float, bool, null, timestamp (the last kept as text)
    line: int  # 1-based, relative to the YAML document
    column: int  # 1-based

    @property
    def value(self) -> Any:
        if self.kind == "null":
            return None
        if self.kind == "bool":
            return self.raw.lower() in {"true", "yes", "on", "y"}
        if self.kind == "int":
            try:
                return int(self.raw.replace("_", ""), 0)
            except ValueError:
                return self.raw
        if self.kind == "float":
            try:
                return float(self.raw.replace("_", ""))
            except ValueError:
                return self.raw
        return self.raw


@dataclass(frozen=True)
class YSeq:
    items: list[YNode]
    line: int
    column: int
    kind: str = "list"


@dataclass(frozen=True)
class YMap:
    # key -> (key position, value); duplicates are reported while building, first one kept.
    entries: dict[str, tuple[YScalar, YNode]]
    line: int
    column: int
    kind: str = "mapping"


YNode = YScalar | YSeq | YMap

KIND_NAMES = {
    "text": "text",
    "int": "a number",
    "float": "a number",
    "bool": "true/false",
    "null": "nothing (null)",
    "timestamp": "a date",
    "list": "a list",
    "mapping": "a mapping",
}


class _Refused(Exception):
    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


def _pos(event: Any) -> tuple[int, int]:
    mark = event.start_mark
    return mark.line + 1, mark.column + 1


def _check_event(event: Any) -> None:
    line, col = _pos(event)
    if isinstance(event, yaml.AliasEvent):
        raise _Refused(line, col, f"YAML aliases (*{event.anchor}) are not allowed")
    anchor = getattr(event, "anchor", None)
    if anchor is not None:
        raise _Refused(line, col, f"YAML anchors (&{anchor}) are not allowed")
    tag = getattr(event, "tag", None)
    if tag is not None:
        raise _Refused(line, col, f"YAML tags ({tag}) are not allowed")


def _build(events: Any, sink: FindingSink, first: Any) -> YNode:
    _check_event(first)
    line, col = _pos(first)
    if isinstance(first, yaml.ScalarEvent):
        if first.implicit[0]:  # plain (unquoted) scalar
            tag = _resolver.resolve(yaml.ScalarNode, first.value, (True, False))
            kind = _TAG_KINDS.get(tag, "text")
        else:
            kind = "text"
        return YScalar(first.value, kind, line, col)
    if isinstance(first, yaml.SequenceStartEvent):
        items: list[YNode] = []
        for event in events:
            if isinstance(event, yaml.SequenceEndEvent):
                return YSeq(items, line, col)
            items.append(_build(events, sink, event))
        raise _Refused(line, col, "unterminated list")
    if isinstance(first, yaml.MappingStartEvent):
        entries: dict[str, tuple[YScalar, YNode]] = {}
        for event in events:
            if isinstance(event, yaml.MappingEndEvent):
                return YMap(entries, line, col)
            key = _build(events, sink, event)
            value = _build(events, sink, next(events))
            if not isinstance(key, YScalar):
                raise _Refused(
                    key.line, key.column, "keys must be plain words, not lists or mappings"
                )
            if key.raw in entries:
                first_line = entries[key.raw][0].line + sink.line_offset
                sink.add(
                    key.line,
                    key.column,
                    key.raw,
                    f"appears twice (first on line {first_line}); keep one",
                )
                continue
            entries[key.raw] = (key, value)
        raise _Refused(line, col, "unterminated mapping")
    raise _Refused(line, col, f"unexpected YAML {type(first).__name__}")


def _explained(text: str, error: yaml.MarkedYAMLError) -> tuple[int, int, str]:
    """Where a syntax error is, and what it is, in an editor's words where PyYAML's
    miss: a tab is named as a tab, and a quote never closed is shown where it opens
    (PyYAML reports the end of the text)."""
    opened = error.context_mark
    if opened is not None and "quoted scalar" in (error.context or ""):
        quote = text[opened.index] if opened.index < len(text) else '"'
        return (
            opened.line + 1,
            opened.column + 1,
            f"the quoted value opened here with {quote} is never closed: add the closing {quote}",
        )
    mark = error.problem_mark or opened
    if mark is None:
        return 1, 1, error.problem or error.context or "not valid YAML"
    line, column = mark.line + 1, mark.column + 1
    if text[mark.index : mark.index + 1] == "\t" or "tab" in (error.problem or ""):
        return line, column, "a tab character: YAML indents with spaces only (replace the tab)"
    return line, column, error.problem or error.context or "not valid YAML"


def parse_yaml(text: str, sink: FindingSink) -> YNode | None:
    """Parse one YAML document into positioned values; problems go to ``sink``.

    Returns None for an empty document or when the document could not be read.
    """
    events = iter(yaml.parse(text, Loader=_Parser))
    root: YNode | None = None
    documents = 0
    try:
        for event in events:
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    line, col = _pos(event)
                    sink.add(line, col, None, "only one YAML document is allowed here")
                    return None
            elif isinstance(
                event, (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent)
            ):
                continue
            else:
                root = _build(events, sink, event)
    except _Refused as refused:
        sink.add(refused.line, refused.column, None, refused.message)
        return None
    except yaml.MarkedYAMLError as error:
        line, col, problem = _explained(text, error)
        sink.add(line, col, None, f"YAML syntax error: {problem}")
        return None
    except (yaml.YAMLError, RecursionError) as error:
        sink.add(1, 1, None, f"YAML error: {type(error).__name__}")
        return None
    return root


def decode_source(data: bytes, sink: FindingSink) -> str | None:
    """UTF-8 text with the BOM dropped and every line ending made ``\\n``."""
    if len(data) > MAX_SOURCE_BYTES:
        sink.add(
            1,
            1,
            None,
            f"file is {len(data):,} bytes; the limit is {MAX_SOURCE_BYTES:,}"
            " (1 MiB): split it or move media out of the text",
        )
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        sink.add(
            line,
            column,
            None,
            f"byte 0x{data[error.start]:02x} is not UTF-8: save the file as UTF-8",
        )
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        sink.add(line, 1, None, "file contains a NUL character: it is not a text file")
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    reported = 0
    for found in CONTROL.finditer(text):
        line = text.count("\n", 0, found.start()) + 1
        column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
        sink.add(
            line,
            column,
            None,
            f"the invisible control character U+{ord(found.group()):04X} is not allowed: "
            "delete it (it often comes with text pasted from a PDF or a word processor)",
        )
        reported += 1
        if reported == 10:
            break
    return None if reported else text


@dataclass(frozen=True)
class FrontMatter:
    fields: YMap
    yaml_line: int  # file line of the first YAML line
    body: str
    body_line: int  # file line where the body starts


_FENCE = "---"


def split_front_matter(text: str, sink: FindingSink) -> tuple[str, int, str, int] | None:
    """(yaml text, its first line, body, body's first line) or None with a finding."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != _FENCE:
        sink.add(
            1,
            1,
            None,
            "missing front matter: the file must start with a line '---', "
            "then the YAML keys, then another '---'",
        )
        return None
    for number, line in enumerate(lines[1:], start=2):
        if line.rstrip() in (_FENCE, "..."):
            yaml_text = "\n".join(lines[1 : number - 1])
            body = "\n".join(lines[number:])
            return yaml_text, 2, body, number + 1
    sink.add(
        1,
        1,
        None,
        "front matter opened on line 1 is never closed: add a line '---' after the last key",
    )
    return None


def read_front_matter(text: str, sink: FindingSink) -> FrontMatter | None:
    parts = split_front_matter(text, sink)
    if parts is None:
        return None
    yaml_text, yaml_line, body, body_line = parts
    offset_sink = FindingSink(sink.path, line_offset=yaml_line - 1)
    root = parse_yaml(yaml_text, offset_sink)
    sink.findings.extend(offset_sink.findings)
    if root is None:
        if not offset_sink:
            sink.add(
                1,
                1,
                None,
                "front matter is empty: it needs at least title, language, date and dateline",
            )
        return None
    if not isinstance(root, YMap):
        sink.add(
            root.line + yaml_line - 1,
            root.column,
            None,
            f"front matter must be a mapping of keys to values, not {KIND_NAMES[root.kind]}",
        )
        return None
    return FrontMatter(root, yaml_line, body, body_line)


def read_yaml_file(data: bytes, sink: FindingSink) -> YMap | None:
    """A whole-file YAML mapping (site.yml, issue.yml)."""
    text = decode_source(data, sink)
    if text is None:
        return None
    root = parse_yaml(text, sink)
    if root is None:
        if not sink:
            sink.add(1, 1, None, "file is empty")
        return None
    if not isinstance(root, YMap):
        sink.add(
            root.line,
            root.column,
            None,
            f"must be a mapping of keys to values, not {KIND_NAMES[root.kind]}",
        )
        return None
    return root
