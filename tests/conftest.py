from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONTENT = REPO / "content"
CORPUS = REPO / "tests" / "corpus"
# A fixed clock: the demo's embargoed article stays embargoed, everything else is live.
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root, so paths print as an editor would see them."""
    monkeypatch.chdir(REPO)
    return REPO
