"""The reconcile on its own: what it puts, what it has the CDN clear, and under which
name, including after a run cut short between the files and the records."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from broadsheet.adapters.store import MemoryStore
from broadsheet.pipeline.env import side_by_side
from broadsheet.pipeline.reconcile import UNKNOWN, apply, diff, load_applied


class Cleared:
    def __init__(self) -> None:
        self.made: list[tuple[list[str], list[str]]] = []

    def __call__(self, transitions: list[str], paths: list[str]) -> None:
        self.made.append((transitions, paths))


class DiesAfter(MemoryStore):
    """A site bucket whose ``n``-th put dies after it lands."""

    def __init__(self, store: MemoryStore, n: int) -> None:
        super().__init__()
        self.objects, self._sorted, self.n = store.objects, store._sorted, n

    def put(self, key: str, body: bytes, **options: Any) -> str:
        etag = super().put(key, body, **options)
        self.n -= 1
        if self.n == 0:
            raise RuntimeError("the function died")
        return etag


def reconcile(sources: MemoryStore, site: MemoryStore, files: Mapping[str, bytes]) -> Cleared:
    cleared = Cleared()
    wanted = {key: data.decode() for key, data in files.items()}  # made from themselves
    change = diff(sources, "p", wanted, lambda keys: {k: files[k] for k in keys})
    apply(sources, site, [change], cleared)
    return cleared


def test_a_file_created_where_nothing_was_is_not_cleared_and_a_replaced_one_is() -> None:
    sources, site = MemoryStore(), MemoryStore()
    assert reconcile(sources, site, {"a.html": b"1"}).made == []
    made = reconcile(sources, site, {"a.html": b"2", "b.html": b"1"}).made
    assert [paths for _, paths in made] == [["/a.html"]]
    # AND a file the partition no longer has is deleted and cleared
    made = reconcile(sources, site, {"b.html": b"1"}).made
    assert [paths for _, paths in made] == [["/a.html"]] and site.get("a.html") is None


class Reads(MemoryStore):
    """A site bucket that notes the keys read."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[str] = []

    def get(self, key: str) -> Any:
        self.read.append(key)
        return super().get(key)


def test_the_bucket_is_read_only_for_files_the_record_cannot_speak_for() -> None:
    sources, site = MemoryStore(), Reads()
    reconcile(sources, site, {"a.html": b"1", "b.html": b"1"})
    assert sorted(site.read) == ["a.html", "b.html"]  # new: was something there?
    site.read.clear()
    # WHEN both change, one is dropped and one is new
    made = reconcile(sources, site, {"a.html": b"2", "c.html": b"1"}).made
    # THEN only the new one is looked at; the record says what the others were
    assert site.read == ["c.html"]
    assert [paths for _, paths in made] == [["/a.html", "/b.html"]]
    assert site.get("b.html") is None and site.get("a.html").body == b"2"  # type: ignore[union-attr]
    # AND a file lost from the bucket behind the record's back is put again, cleared
    del site.objects["a.html"]
    site._sorted.remove("a.html")
    made = reconcile(sources, site, {"a.html": b"3", "c.html": b"1"}).made
    assert [paths for _, paths in made] == [["/a.html"]]
    assert site.get("a.html").body == b"3"  # type: ignore[union-attr]


def test_a_run_cut_short_leaves_its_files_unknown_and_the_next_run_clears_them() -> None:
    sources, site = MemoryStore(), MemoryStore()
    reconcile(sources, site, {"a.html": b"1", "b.html": b"1"})
    # WHEN a run replaces a.html, then dies before it could clear it or save the record
    with pytest.raises(RuntimeError):
        reconcile(sources, DiesAfter(site, 1), {"a.html": b"2", "b.html": b"2"})
    assert site.get("a.html").body == b"2"  # type: ignore[union-attr]
    assert load_applied(sources, "p").files["a.html"] == UNKNOWN
    # THEN the next run clears a.html though it finds its bytes already right (a reader
    # may hold the first), and b.html, which it replaces now
    [(_, paths)] = reconcile(sources, site, {"a.html": b"2", "b.html": b"2"}).made
    assert paths == ["/a.html", "/b.html"]
    assert UNKNOWN not in load_applied(sources, "p").files.values()


def test_a_repeat_is_the_same_transition_and_the_same_change_later_another() -> None:
    sources, site = MemoryStore(), MemoryStore()
    reconcile(sources, site, {"a.html": b"1"})
    [(first, _)] = reconcile(sources, site, {"a.html": b"2"}).made
    [(back, _)] = reconcile(sources, site, {"a.html": b"1"}).made
    [(forth, _)] = reconcile(sources, site, {"a.html": b"2"}).made
    # The same partition and paths, but a change the record had not seen: a new name,
    # or CloudFront would answer it with the first invalidation, made before it.
    assert len({*first, *back, *forth}) == 3
    # AND a run repeated after a crash before its record names what the first named
    sources2, site2 = MemoryStore(), MemoryStore()
    reconcile(sources2, site2, {"a.html": b"1"})
    with pytest.raises(RuntimeError):
        dying = Cleared()
        change = diff(sources2, "p", {"a.html": "2"}, lambda keys: {"a.html": b"2"})

        def die(transitions: list[str], paths: list[str]) -> None:
            dying(transitions, paths)
            raise RuntimeError("died after sending")

        apply(sources2, site2, [change], die)
    [(again, _)] = reconcile(sources2, site2, {"a.html": b"2"}).made
    assert dying.made[0][0] == again == first


def test_requests_side_by_side_keep_their_order_and_all_end_before_an_error() -> None:
    running, most, ended = [0], [0], []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
            ended.append(n)
        if n == 1:
            raise ValueError("one failed")
        return n * 10

    assert side_by_side(4, work, [0, 2, 3, 4, 5, 6]) == [0, 20, 30, 40, 50, 60]
    assert 1 < most[0] <= 4
    # WHEN one fails THEN its error is raised, once every other call has ended
    ended.clear()
    with pytest.raises(ValueError, match="one failed"):
        side_by_side(4, work, range(8))
    assert sorted(ended) == list(range(8))
    # AND work side by side that goes side by side again runs inline (no pool waits on
    # itself), and one worker is one call after another
    assert side_by_side(2, lambda n: side_by_side(2, lambda m: m + n, [1, 2]), [0, 1, 2]) == [
        [1, 2],
        [2, 3],
        [3, 4],
    ]
    seen: list[int] = []
    side_by_side(1, seen.append, [3, 1, 2])
    assert seen == [3, 1, 2]


def test_a_reconcile_side_by_side_does_what_one_at_a_time_does() -> None:
    files = {f"p/{n}.html": str(n).encode() for n in range(30)}
    results = []
    for workers in (1, 8):
        sources, site, cleared = MemoryStore(), MemoryStore(), Cleared()
        for version in (b"a", b"b"):
            wanted = {k: (v + version).decode() for k, v in files.items() if k != "p/3.html"}
            made = {k: v + version for k, v in files.items()}
            change = diff(sources, "p", wanted, lambda keys, made=made: {k: made[k] for k in keys})
            paths = apply(sources, site, [change], cleared, workers=workers)
        results.append((paths, cleared.made, site.live(), load_applied(sources, "p").to_json()))
    assert results[0] == results[1]
