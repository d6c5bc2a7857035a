"""The convergence oracle: a newspaper's life as hypothesis draws it, published through
the in-memory pipeline with its messages duplicated, reordered and cut short by crashes,
and held, after every drain, to the full build of what it should publish.

What it should publish is the full build of the committed content, except where an
editor's mistake is held back (DESIGN invariant 1): an article whose committed version
has findings keeps its last accepted version if that one still fits its issue, an
issue.yml with findings keeps the last accepted one, and a site.yml with findings holds
the whole commit. The model below decides that with the build's own reader
(``load_archive``) on folders it writes out, never with the pipeline's code.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broadsheet.adapters.cdn import MemoryCDN
from broadsheet.adapters.store import MemoryStore, Stored
from broadsheet.build.archive import load_archive
from broadsheet.build.full import build_site
from broadsheet.content.findings import FindingSink, errors
from broadsheet.content.photo import examine
from broadsheet.content.site import parse_site
from broadsheet.edition import urls
from broadsheet.errors import Retryable
from broadsheet.pipeline.stages import BATCHED
from broadsheet.pipeline.world import World

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ISSUES = (1, 2, 3)
SLUGS = ("strike", "rent", "port", "huelga", "alquiler", "letters")
ODD_NAMES = ("huelga-año", "Rent Strike", "port--strike")

SITES = {
    "base": """name: {{en: The Paper, es: El Papel}}
base_url: https://paper.example.org
languages: [en, es]
sections:
  news: {{en: News, es: Noticias}}
  culture: {{en: Culture, es: Cultura}}
""",
    "renamed": """name: {{en: The Other Paper, es: El Otro Papel}}
base_url: https://paper.example.org
languages: [en, es]
sections:
  news: {{en: News, es: Noticias}}
  culture: {{en: Culture, es: Cultura}}
""",
    "fewer-sections": """name: {{en: The Paper, es: El Papel}}
base_url: https://paper.example.org
languages: [en, es]
sections:
  news: {{en: News, es: Noticias}}
""",
    "english-only": """name: {{en: The Paper}}
base_url: https://paper.example.org
languages: [en]
sections:
  news: {{en: News}}
  culture: {{en: Culture}}
""",
    "authors": """name: {{en: The Paper, es: El Papel}}
base_url: https://paper.example.org
languages: [en, es]
sections:
  news: {{en: News, es: Noticias}}
  culture: {{en: Culture, es: Cultura}}
authors:
  ana:
    name: Ana Peña
    bio: {{en: Writes on the docks., es: Escribe sobre el puerto.}}
""",
    "broken": "name: [unclosed\n",
}


def site_text(variant: str) -> str:
    return SITES[variant].format()


def issue_text(number: int, title: str | None = None, order: tuple[str, ...] = ()) -> str:
    text = f"number: {number}\ndate: 2026-02-{number:02d}\n"
    if title:
        text += f"title:\n  en: {title}\n"
    if order:
        text += "order: [" + ", ".join(order) + "]\n"
    return text


def picture(variant: str) -> bytes:
    """Small photographs for histories: two that differ, one that is not a photograph."""
    import io

    from PIL import Image, ImageDraw

    if variant == "broken":
        return b"\xff\xd8\xff\xe0 not a photograph after all"
    image = Image.new("RGB", (1200, 800), (40, 60, 90) if variant == "blue" else (160, 60, 40))
    ImageDraw.Draw(image).rectangle([300, 200, 900, 600], fill=(230, 220, 200))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def article_text(
    title: str,
    language: str,
    *,
    section: str = "news",
    status: str = "published",
    publish_at: dt.datetime | None = None,
    translation_of: str | None = None,
    broken: bool = False,
    body: str = 'Workers met at the gate at dawn. They said: "enough".',
    photo: str | None = None,
    alt: str = "The gate of the works",
    tags: tuple[str, ...] = (),
    authors: tuple[str, ...] = (),
    corrected: bool = False,
) -> str:
    lines = [
        "---",
        f"title: {title}",
        f"language: {language}",
        "date: " + ("2026-13-45" if broken else "2026-02-20"),
        "dateline: Genoa (Italy)",
        f"section: {section}",
        f"status: {status}",
    ]
    if publish_at is not None:
        lines.append(f"publish_at: {publish_at.isoformat()}")
    if tags:
        lines.append("tags: [" + ", ".join(tags) + "]")
    if authors:
        lines.append("authors: [" + ", ".join(authors) + "]")
    if corrected:
        lines += [
            "updated: 2026-02-21T10:00:00+01:00",
            "corrections:",
            "  - date: 2026-02-21",
            "    text: An earlier version named the *wrong* gate.",
        ]
    if translation_of:
        lines.append(f"translation_of: {translation_of}")
    if photo and photo.startswith("lead:"):
        lines += ["image:", f"  src: media/{photo[5:]}.jpg", f"  alt: {alt}"]
    elif photo:
        body += f'\n\n![Workers at the gate](media/{photo}.jpg "At the gate.")'
    return "\n".join([*lines, "---", "", body, ""])


class Crash(Exception):
    """An injected crash: the function died between two writes."""


class FaultyStore:
    """A bucket that crashes at the k-th write (before or after it lands) when armed, and
    notes each object a write replaced with other bytes, deleted or retired: a reader may hold a
    copy of what was there, so the CDN must be told (an object created where nothing was
    has no copy anywhere, since the CDN keeps no error responses)."""

    def __init__(self, store: MemoryStore, ticks: Iterator[int] | None = None) -> None:
        self.store = store
        self.countdown: int | None = None
        self.after = False
        self.armed_for: int | None = None  # the thread a crash is armed for (None: any)
        # Called before every call: where concurrent deliveries take turns (Interleaver).
        self.gate: Any = lambda: None
        self.ticks = ticks if ticks is not None else itertools.count()
        self.overwritten: dict[str, int] = {}  # key -> the tick of its latest replacement

    @property
    def requests(self) -> int:
        return self.store.requests

    @requests.setter
    def requests(self, value: int) -> None:
        self.store.requests = value

    @property
    def objects(self) -> dict[str, Stored]:
        return self.store.objects

    def arm(self, countdown: int | None, after: bool = False, thread: int | None = None) -> None:
        self.countdown, self.after, self.armed_for = countdown, after, thread

    def _tick(self, write: Any) -> Any:
        self.gate()
        mine = self.armed_for is None or self.armed_for == threading.get_ident()
        if self.countdown is not None and mine:
            self.countdown -= 1
            if self.countdown <= 0:
                self.countdown = None
                if self.after:
                    write()
                raise Crash("injected")
        return write()

    def get(self, key: str) -> Stored | None:
        self.gate()
        return self.store.get(key)

    def put(self, key: str, body: bytes, **options: Any) -> str:
        def write() -> str:
            before = self.store.get(key)
            etag = self.store.put(key, body, **options)
            if before is not None and before.body != body:
                self.overwritten[key] = next(self.ticks)
            return etag

        result: str = self._tick(write)
        return result

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        def write() -> None:
            before = self.store.get(key)
            self.store.delete(key, if_match=if_match)
            if before is not None:
                self.overwritten[key] = next(self.ticks)

        self._tick(write)

    def keys(self, prefix: str = "") -> Iterator[str]:
        self.gate()
        return iter(list(self.store.keys(prefix)))

    def listing(self, prefix: str = "") -> Iterator[tuple[str, str]]:
        self.gate()
        return iter(list(self.store.listing(prefix)))

    def retire(self, key: str, retired: bool = True) -> None:
        def write() -> None:
            withdrawn = retired and key in self.store.objects and not self.store.is_retired(key)
            self.store.retire(key, retired)
            if withdrawn:  # a reader's cache may still hold it: as good as deleted
                self.overwritten[key] = next(self.ticks)

        self._tick(write)

    def is_retired(self, key: str) -> bool:
        self.gate()
        return self.store.is_retired(key)

    def live(self) -> dict[str, bytes]:
        return self.store.live()


# How many invocations of a function may run at once, as the template allows: search's
# event source runs two at most; the others scale out (three is enough to race). Index's
# queue is FIFO: its invocations run side by side, one per message group at a time
# (``MemoryQueue`` holds a group while one of its messages is in flight).
CONCURRENCY = {"index": 3, "search": 2, "validate": 3, "render": 3, "invalidate": 3}
OVERLAPS = {"started_beside_another": 0}  # deliveries begun while others were under way
# changes the model held back, in all histories
HELD_BACK = {"articles": 0, "photographs": 0, "originals": 0}


class Worker:
    """One delivery run in a thread of its own, a step at a time: it parks before each
    bucket call until the interleaver lets it take that step."""

    def __init__(self, work: Any) -> None:
        self.work = work
        self.turn = threading.Event()
        self.parked = threading.Event()
        self.done = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.turn.wait()
        self.turn.clear()
        try:
            self.work()
        except BaseException as error:  # reported to the interleaver, which re-raises
            self.error = error
        finally:
            self.done = True
            self.parked.set()

    def park(self) -> None:
        self.parked.set()
        self.turn.wait()
        self.turn.clear()

    def step(self) -> None:
        """Let the worker run until its next bucket call (or its end)."""
        self.parked.clear()
        self.turn.set()
        if not self.parked.wait(60):
            raise RuntimeError("a delivery never reached its next bucket call")


class Interleaver:
    """Several deliveries at once, interleaved at every bucket call in ``rng``'s order,
    each function's invocations bounded as the template bounds them."""

    def __init__(self, stores: tuple[FaultyStore, FaultyStore]) -> None:
        self.stores = stores
        self.by_thread: dict[int, Worker] = {}
        for store in stores:
            store.gate = self.gate

    def gate(self) -> None:
        worker = self.by_thread.get(threading.get_ident())
        if worker is not None:
            worker.park()

    def start(self, work: Any) -> Worker:
        worker = Worker(work)
        worker.thread.start()
        assert worker.thread.ident is not None
        self.by_thread[worker.thread.ident] = worker
        worker.step()
        return worker

    def close(self) -> None:
        for store in self.stores:
            store.gate = lambda: None


class TimedCDN(MemoryCDN):
    """The CDN, noting when each invalidation was made on the site bucket's clock: only
    one made after an object was replaced clears the copies of what it replaced."""

    def __init__(self, ticks: Iterator[int]) -> None:
        super().__init__()
        self.ticks = ticks
        self.made: dict[str, int] = {}

    def invalidate(self, paths: Sequence[str], reference: str) -> str:
        self.made.setdefault(reference, next(self.ticks))
        return super().invalidate(paths, reference)


def faulty_world(clock: Any) -> tuple[World, FaultyStore, FaultyStore]:
    ticks = itertools.count()
    sources = FaultyStore(MemoryStore())
    site = FaultyStore(MemoryStore(), ticks)
    world = World(clock=clock, bucket=sources, site=site, cdn=TimedCDN(ticks))  # type: ignore[arg-type]
    return world, sources, site


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout


def snapshot(content: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(content)): p.read_bytes()
        for p in sorted(content.rglob("*"))
        if p.is_file()
    }


def _write(root: Path, files: dict[str, bytes]) -> None:
    shutil.rmtree(root, ignore_errors=True)
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


_ARTICLE = re.compile(r"issues/([1-9][0-9]*)/([^/]+)\.md")


@dataclass
class Model:
    """What the site must be: accepted versions per article, issue.yml and site.yml."""

    work: Path
    site: bytes | None = None
    issues: dict[int, bytes] = field(default_factory=dict)  # accepted issue.yml
    articles: dict[int, dict[str, bytes]] = field(default_factory=dict)  # accepted articles
    media: dict[int, dict[str, bytes]] = field(default_factory=dict)  # as committed
    published: bool = False
    # every rename seen, "1/strike" → "1/port", as the pipeline records them
    edges: dict[str, str] = field(default_factory=dict)

    def apply(self, files: dict[str, bytes], renamed: Iterable[tuple[str, str]] = ()) -> None:
        """One commit's content, and the renames git sees in it, as the pipeline must
        take them."""
        for old, new in renamed:
            self.edges[_key(old)] = _key(new)
        site = files.get("site.yml")
        if site is None or parse_site(site, FindingSink("site.yml")) is None:
            return  # the whole commit is held
        self.site = site
        head = self.work / "head"
        _write(head, files)
        refused = _refusing(head)
        numbers = {int(p.split("/")[1]) for p in files if _issue_folder(p)}
        for number in sorted(numbers | set(self.articles) | set(self.issues)):
            folder = f"issues/{number}/"
            mine = {p[len(folder) :]: d for p, d in files.items() if p.startswith(folder)}
            if not mine:
                self.articles.pop(number, None)
                self.issues.pop(number, None)
                self.media.pop(number, None)
                continue
            committed_media = {n: d for n, d in mine.items() if n.startswith("media/")}
            # A photograph the accepted articles use that the commit deletes or breaks
            # stays at its published version while a published article still uses it.
            published = _photos_used(self.articles.get(number, {}).values())
            fallback = {
                n: d
                for n, d in self.media.get(number, {}).items()
                if n in published and _is_photo(n, d) and not _is_photo(n, committed_media.get(n))
            }
            self.media[number] = {**committed_media, **fallback}
            committed = {n[:-3]: d for n, d in mine.items() if n.endswith(".md") and "/" not in n}
            accepted = self.articles.get(number, {})
            # An original the commit deletes stays at its accepted version while a
            # published translation points at it: begin with those any translation at
            # hand points at, and let go of those none published does, until none is.
            targets = {t for d in [*committed.values(), *accepted.values()] for t in _translates(d)}
            originals = {
                s: d
                for s, d in accepted.items()
                if s not in committed and s in targets and not _translates(d)
            }
            # An accepted article renamed into a file that is refused stays where it was.
            leads = _leads(
                self.edges, number, [s for s in accepted if s not in committed], committed
            )
            while True:
                refused_here = _refused_in(refused, head / folder)
                if fallback or originals:  # the folder's articles decided with them
                    trial = self.work / "with-kept"
                    kept_files = {
                        **mine,
                        **fallback,
                        **{f"{s}.md": d for s, d in originals.items()},
                    }
                    _write(
                        trial, {"site.yml": site, **{folder + n: d for n, d in kept_files.items()}}
                    )
                    found = _refusing(trial)
                    refused_here = _refused_in(found, trial / folder)
                bad = {s for s in committed if f"{s}.md" in refused_here}
                current = {s: d for s, d in committed.items() if s not in bad}
                held = {s: accepted[s] for s in bad if s in accepted} | originals
                held |= {s: accepted[s] for s, to in leads.items() if to in bad}
                while held:
                    trial = self.work / "trial"
                    tree = {
                        "site.yml": site,
                        **{f"{folder}{s}.md": d for s, d in {**current, **held}.items()},
                        # its photographs too: without them a held article's lead would fail
                        **{f"{folder}{n}": d for n, d in self.media[number].items()},
                    }
                    issue_kept = self.issues.get(number)
                    if "issue.yml" not in refused_here and mine.get("issue.yml") is not None:
                        issue_kept = mine["issue.yml"]
                    if issue_kept is not None:
                        tree[f"{folder}issue.yml"] = issue_kept
                    _write(trial, tree)
                    found = _refusing(trial)
                    failing = {s for s in held if f"{s}.md" in _refused_in(found, trial / folder)}
                    if not failing:
                        break
                    held = {s: d for s, d in held.items() if s not in failing}
                pointed = {t for d in [*current.values(), *held.values()] for t in _translates(d)}
                still = {s: d for s, d in originals.items() if s in held and s in pointed}
                if still == originals:
                    break
                originals = still
            issue = mine.get("issue.yml")
            if issue is not None and "issue.yml" not in refused_here:
                self.issues[number] = issue
            self.articles[number] = {**current, **held}
            used = _photos_used(self.articles[number].values())
            HELD_BACK["articles"] += len(held)
            HELD_BACK["originals"] += len(originals)
            HELD_BACK["photographs"] += len(used & set(fallback))
            for name in fallback:
                if name not in used:  # no article published uses it: its deletion stands
                    if name in committed_media:
                        self.media[number][name] = committed_media[name]
                    else:
                        del self.media[number][name]

    def tree(self) -> dict[str, bytes]:
        if self.site is None:
            return {}
        files = {"site.yml": self.site}
        for number, issue in self.issues.items():
            files[f"issues/{number}/issue.yml"] = issue
        for number, articles in self.articles.items():
            for slug, data in articles.items():
                files[f"issues/{number}/{slug}.md"] = data
        for number, media in self.media.items():
            for name, data in media.items():
                files[f"issues/{number}/{name}"] = data
        return files

    def expected(self, now: dt.datetime) -> dict[str, bytes]:
        """The full build of what should be published, file by file."""
        if self.site is None:
            return {}
        content, out = self.work / "expected", self.work / "built"
        _write(content, self.tree())
        shutil.rmtree(out, ignore_errors=True)
        build_site(content, out, now=now, workers=1)
        return {
            str(p.relative_to(out)): p.read_bytes()
            for p in out.rglob("*")
            if p.is_file() and not p.name.startswith(".broadsheet")
        }


def _key(path: str) -> str:
    return path.removeprefix("issues/").removesuffix(".md")


def _leads(
    edges: dict[str, str], number: int, gone: list[str], here: Iterable[str]
) -> dict[str, str]:
    """Each slug in ``gone`` whose renames lead, within issue ``number``, to one ``here``."""
    found, present = {}, set(here)
    for slug in gone:
        key, seen = edges.get(f"{number}/{slug}"), set()
        while key and key.startswith(f"{number}/") and key not in seen:
            if key.split("/", 1)[1] in present:
                found[slug] = key.split("/", 1)[1]
                break
            seen.add(key)
            key = edges.get(key)
    return found


def _refusing(root: Path) -> set[str]:
    """The files the full build of ``root`` finds something wrong with that it refuses:
    an ``order`` naming no article is said, and its issue.yml still counts."""
    return {
        f.path
        for f in errors(load_archive(root, workers=1).findings)
        if not (f.field == "order" and f.message.startswith("no article "))
    }


def _photos_used(articles: Any) -> set[str]:
    """The photographs articles written by ``article_text`` use."""
    return {m.decode() for text in articles for m in re.findall(rb"media/[a-z]+\.jpg", text)}


def _translates(text: bytes) -> list[str]:
    """What an article written by ``article_text`` translates (nothing, or one slug)."""
    return [m.decode() for m in re.findall(rb"^translation_of: (\S+)$", text, re.M)]


def _is_photo(name: str, data: bytes | None) -> bool:
    return data is not None and examine(name, data).problem is None


def _issue_folder(path: str) -> bool:
    parts = path.split("/")
    return (
        len(parts) >= 3
        and parts[0] == "issues"
        and re.fullmatch(r"[1-9][0-9]*", parts[1]) is not None
    )


def _refused_in(paths: set[str], folder: Path) -> set[str]:
    """The names, inside ``folder``, of the files with findings."""
    inside = str(folder.resolve()) + os.sep
    return {p.removeprefix(inside) for p in _absolute(paths, folder) if p.startswith(inside)}


def _absolute(paths: set[str], root: Path) -> set[str]:
    found = set()
    for path in paths:
        candidate = Path(path)
        found.add(str(candidate if candidate.is_absolute() else (Path.cwd() / candidate).resolve()))
    return found


def covered(path: str, cleared: set[str]) -> bool:
    """Whether an invalidation of ``cleared`` refreshes the object at ``path``."""
    for pattern in cleared:
        if pattern == path or (pattern.endswith("*") and path.startswith(pattern[:-1])):
            return True
    return False


def deliver_all(
    world: World,
    stores: tuple[FaultyStore, FaultyStore],
    rng: random.Random,
    *,
    crash_rate: float,
    duplicate_rate: float,
    limit: int = 20_000,
    concurrent: bool = False,
) -> int:
    """Drain every queue in a random order, crashing and duplicating as told; with
    ``concurrent``, several deliveries at once (``Interleaver``)."""
    crashes: dict[str, int] = {}
    duplicates: set[str] = set()
    steps = 0
    interleaver = Interleaver(stores) if concurrent else None
    running: list[tuple[str, list[str], Worker]] = []

    def finished(
        taken: list[str], error: BaseException | None, worker: Worker | None = None
    ) -> None:
        if worker is not None:  # its crash, armed and never reached, goes with it
            for store in stores:
                if store.armed_for == worker.thread.ident:
                    store.arm(None)
        # A write that lost a race fails its record, which SQS hands out again, as a
        # crash does (the message was released).
        if isinstance(error, Crash | Retryable):
            for each in taken:
                crashes[each] = crashes.get(each, 0) + 1
        elif error is not None:
            raise error

    try:
        while True:
            waiting = world.waiting()
            busy = {stage: sum(1 for s, _, _ in running if s == stage) for stage in CONCURRENCY}
            startable = [(s, e) for s, e in waiting if busy.get(s, 0) < (CONCURRENCY.get(s, 1))]
            if not startable and not running:
                return steps
            steps += 1
            if steps > limit:
                raise RuntimeError("the queues never drained")
            if running and (not startable or rng.random() < 0.6):
                at = rng.randrange(len(running))
                stage, taken, worker = running[at]
                worker.step()
                if worker.done:
                    running.pop(at)
                    finished(taken, worker.error, worker)
                continue
            stage, envelope = rng.choice(startable)
            # A batched stage (search, invalidate) takes every waiting job as one batch:
            # each is received, and crashed or kept, with it.
            batched = stage in BATCHED
            taken = [e.id for s, e in waiting if s == stage] if batched else [envelope.id]
            store = rng.choice(stores)
            armed = rng.random() < crash_rate and all(crashes.get(i, 0) < 2 for i in taken)
            # At most two crashes and one duplicate per message: a message received five
            # times is dead-lettered, and no history deserves that.
            keep = not duplicates.intersection(taken) and rng.random() < duplicate_rate
            if keep:
                duplicates.update(taken)
            if interleaver is None:
                if armed:
                    store.arm(rng.randint(1, 6), after=rng.random() < 0.5)
                try:
                    world.deliver(stage, envelope, keep=keep)
                except Crash:
                    finished(taken, Crash())
                finally:
                    for each in stores:
                        each.arm(None)
                continue
            countdown, after = rng.randint(1, 6), rng.random() < 0.5

            def work(
                stage: str = stage,
                envelope: Any = envelope,
                keep: bool = keep,
                armed: bool = armed,
                store: FaultyStore = store,
                countdown: int = countdown,
                after: bool = after,
            ) -> None:
                if armed:  # this delivery's own crash, whatever the others do
                    store.arm(countdown, after=after, thread=threading.get_ident())
                world.deliver(stage, envelope, keep=keep)

            OVERLAPS["started_beside_another"] += bool(running)
            worker = interleaver.start(work)
            if worker.done:
                finished(taken, worker.error, worker)
            else:
                running.append((stage, taken, worker))
    finally:
        if interleaver is not None:
            interleaver.close()
        for each in stores:
            each.arm(None)


@contextmanager
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="broadsheet-oracle-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def site_paths(world: World) -> dict[str, bytes]:
    return world.site.live()


def public_url(key: str) -> str:
    return "/" + key if not key.endswith("index.html") else "/" + key[: -len("index.html")]


__all__ = ["urls"]
