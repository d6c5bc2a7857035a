"""What the pipeline remembers between commits, in the source bucket (never public).

- An issue's state: the last commit applied to it (so the next waits its turn), what it
  accepted of each article (so an editor's mistake keeps the published version), the
  verdicts it keeps, the public document its pages were rendered from, and the releases
  it scheduled.

Each is one JSON object written with If-Match, so two writers never lose an update.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from broadsheet.adapters.store import ObjectStore
from broadsheet.edition.index import IssueDoc
from broadsheet.pipeline.messages import Checked, Examined, issue_state_key


def _json(value: Any) -> bytes:
    # Key order kept: documents inside (an issue's line) are published as they are.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class IssueState:
    number: int
    sequence: int = 0  # the last commit applied: the next one that names it goes next
    revision: int = 0  # bumped whenever what the issue publishes changes
    tree: str | None = None  # the folder as last applied (a rebuild reads it again)
    site_blob: str | None = None  # site.yml its pages were rendered with
    issue_blob: str | None = None  # issue.yml accepted
    accepted: dict[str, Checked] = field(default_factory=dict)  # slug -> version published
    verdicts: list[Checked] = field(default_factory=list)  # of the folder as last applied
    examined: list[Examined] = field(default_factory=list)  # its photographs, likewise
    doc: IssueDoc | None = None  # the public document, as its pages show it
    schedules: dict[str, str] = field(default_factory=dict)  # slug -> release time
    etag: str | None = None

    def to_json(self) -> bytes:
        data = asdict(self)
        data.pop("etag")
        return _json(data)

    @classmethod
    def from_json(cls, raw: bytes, etag: str | None) -> IssueState:
        data = json.loads(raw)
        return cls(
            number=int(data["number"]),
            sequence=int(data["sequence"]),
            revision=int(data["revision"]),
            tree=data["tree"],
            site_blob=data["site_blob"],
            issue_blob=data["issue_blob"],
            accepted={s: Checked.from_json(c) for s, c in data["accepted"].items()},
            verdicts=[Checked.from_json(c) for c in data["verdicts"]],
            examined=[Examined.from_json(e) for e in data.get("examined", [])],
            doc=data["doc"],
            schedules=dict(data["schedules"]),
            etag=etag,
        )


def load_issue(store: ObjectStore, number: int) -> IssueState:
    stored = store.get(issue_state_key(number))
    if stored is None:
        return IssueState(number)
    return IssueState.from_json(stored.body, stored.etag)


def save_issue(store: ObjectStore, state: IssueState) -> None:
    """Write only if nobody else wrote since it was read (PreconditionFailed otherwise)."""
    state.etag = store.put(
        issue_state_key(state.number),
        state.to_json(),
        content_type="application/json",
        if_match=state.etag,
        if_none_match=state.etag is None,
    )
