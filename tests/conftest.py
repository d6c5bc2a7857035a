from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# Pagefind's binary is run for real, but once per distinct input: the convergence oracle
# builds the same few-article index hundreds of times, and the bundle is a pure function
# of its records (tests/unit/test_search.py holds it to that, with the real thing).
_BUNDLES: dict[tuple[str, str], dict[str, bytes]] = {}


def real_build_bundle(language: str, records: Any) -> dict[str, bytes]:
    """Pagefind run every time, past the memo."""
    from broadsheet.adapters import pagefind

    return pagefind.build_bundle.__wrapped__(language, records)  # type: ignore[attr-defined]


@contextlib.contextmanager
def pagefind_once_per_input() -> Iterator[None]:
    from broadsheet.adapters import pagefind
    from broadsheet.build import full
    from broadsheet.edition import search

    real = pagefind.build_bundle

    def remembered(language: str, records: Any) -> dict[str, bytes]:
        records = sorted(records, key=lambda r: r["path"])
        key = (language, search.dumps(records).decode())
        if key not in _BUNDLES:
            _BUNDLES[key] = real(language, records)
        return dict(_BUNDLES[key])

    remembered.__wrapped__ = real  # type: ignore[attr-defined]
    pagefind.build_bundle = full.build_bundle = remembered  # type: ignore[assignment]
    try:
        yield
    finally:
        pagefind.build_bundle = full.build_bundle = real  # type: ignore[assignment]


@pytest.fixture(autouse=True, scope="session")
def _pagefind_once_per_input() -> Iterator[None]:
    with pagefind_once_per_input():
        yield
