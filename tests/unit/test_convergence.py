"""Invariant 9, convergence: whatever the history and however its messages arrive, the
published site is the full build of what should be published.

Hypothesis draws a newspaper's life (articles added, edited, deleted, renamed there and
back, onto reused slugs and into drafts; translations; issue.yml and site.yml edits and
breakages; file names git quotes; embargoes and the clock moving past them; tags,
authors and corrections, whose listings span the archive, in pages of one to three) and
publishes it through the in-memory pipeline, delivering messages in random order, twice,
and cut short by crashes before or after any write. After every drain the site bucket
must equal the model's full build byte for byte, every changed object must have been
invalidated, no message may be dead-lettered or dropped, and the redirect table must
only lead from pages that are gone to pages that exist.

``make soak`` runs the same machine for minutes instead of seconds.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from broadsheet.adapters import queue as queue_module
from broadsheet.edition import beats as listing
from broadsheet.pipeline.publisher import Git, publish, renames_before
from tests.support import oracle
from tests.support.oracle import (
    ISSUES,
    ODD_NAMES,
    SLUGS,
    START,
    Model,
    TimedCDN,
    article_text,
    covered,
    deliver_all,
    faulty_world,
    git,
    issue_text,
    site_text,
    snapshot,
)

# What the oracle did, for `make soak`'s report.
COUNTERS = {"steps": 0, "drains": 0, "deliveries": 0}


class Newspaper(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="broadsheet-oracle-"))
        self.repo = self.folder / "repo"
        self.content = self.repo / "content"
        (self.content / "issues/1").mkdir(parents=True)
        (self.content / "issues/2").mkdir(parents=True)
        (self.content / "site.yml").write_text(site_text("base"))
        (self.content / "issues/1/issue.yml").write_text(issue_text(1))
        (self.content / "issues/2/issue.yml").write_text(issue_text(2, "Second"))
        # A newspaper with a past: public articles in listings of more than one page.
        founding = {
            "1/strike.md": article_text(
                "Dockers strike", "en", tags=("strike",), authors=("Ana Peña",)
            ),
            "1/rent.md": article_text("Rent up", "en", section="culture", tags=("strike", "port")),
            "1/port.md": article_text("Port", "en", tags=("port",), corrected=True),
            "2/huelga.md": article_text("Huelga", "es", tags=("huelga",), authors=("Bo Li",)),
            "2/letters.md": article_text("Letters", "en", authors=("Ana Pena",)),
            "2/strike.md": article_text("Second strike", "en", tags=("strike",)),
            "2/port.md": article_text("Port again", "en", tags=("Port",), corrected=True),
        }
        for path, text in founding.items():
            (self.content / "issues" / path).write_text(text)
        git(self.repo, "init", "-q", "-b", "main")
        git(self.repo, "config", "user.name", "Ed Itor")
        git(self.repo, "config", "user.email", "ed@example.org")
        # each commit not published yet: its files, and the renames git sees in it
        self.pending: list[tuple[dict[str, bytes], list[tuple[str, str]]]] = []
        self.heads: list[str] = []  # each commit published as HEAD, in turn
        self.commit("founding")
        self.clock = START
        self.world, self.sources, self.bucket = faulty_world(lambda: self.clock)
        self.model = Model(self.folder / "model")
        self.published = 0

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    @initialize(page=st.sampled_from([1, 2, 3]))
    def page_size(self, page: int) -> None:
        """Listings in pages of one to three, so a few articles make many pages and any
        edit may land in an older one."""
        listing.PAGE = page

    # --- the editors -------------------------------------------------------------------

    def commit(self, message: str) -> None:
        COUNTERS["steps"] += 1
        git(self.repo, "add", "-A")
        if not git(self.repo, "status", "--porcelain").strip():
            return
        git(self.repo, "commit", "-q", "-m", message)
        head = Git.of(self.content)
        commit = head.head()
        parent = head.parent(commit)
        renamed = [
            (c.old_path or "", c.path) for c in head.changes(commit, parent) if c.status == "R"
        ]
        self.pending.append((snapshot(self.content), renamed))

    def history(self) -> list[tuple[str, str]]:
        """The renames a snapshot of HEAD carries: those in its history."""
        head = Git.of(self.content)
        return [(r.old_path, r.path) for r in renames_before(head, head.head())]

    def articles(self) -> list[str]:
        return sorted(str(p.relative_to(self.content)) for p in self.content.glob("issues/*/*.md"))

    @rule(
        issue=st.sampled_from(ISSUES),
        slug=st.sampled_from(SLUGS),
        language=st.sampled_from(["en", "es"]),
        kind=st.sampled_from(["published", "draft", "embargo", "broken", "translation"]),
        title=st.sampled_from(["Dockers strike", "Rent up", 'A "quoted" title']),
        section=st.sampled_from(["news", "culture"]),
        hours=st.integers(1, 40),
        original=st.sampled_from(SLUGS),
        photo=st.sampled_from([None, None, "lead:gate", "gate", "lead:yard"]),
        # A lead photograph re-captioned: its issue's front page shows the alt too.
        alt=st.sampled_from(["The gate of the works", "Pickets at the gate"]),
        tags=st.sampled_from(
            [(), (), ("strike",), ("Strike", "port"), ("huelga",), ("Huelga", "Año")]
        ),
        authors=st.sampled_from([(), ("Ana Peña",), ("Ana Pena", "Bo Li"), ("Bo Li",)]),
        corrected=st.booleans(),
    )
    def write_article(
        self,
        issue: int,
        slug: str,
        language: str,
        kind: str,
        title: str,
        section: str,
        hours: int,
        original: str,
        photo: str | None,
        alt: str,
        tags: tuple[str, ...],
        authors: tuple[str, ...],
        corrected: bool,
    ) -> None:
        text = article_text(
            title,
            "es" if kind == "translation" else language,
            section=section,
            status="draft" if kind == "draft" else "published",
            publish_at=self.clock + dt.timedelta(hours=hours) if kind == "embargo" else None,
            translation_of=original if kind == "translation" else None,
            broken=kind == "broken",
            photo=photo,
            alt=alt,
            tags=tags,
            authors=authors,
            corrected=corrected,
        )
        path = self.content / f"issues/{issue}/{slug}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.commit(f"write {issue}/{slug}")

    @rule(
        issue=st.sampled_from(ISSUES),
        slug=st.sampled_from(SLUGS),
        language=st.sampled_from(["en", "es"]),
        section=st.sampled_from(["news", "culture"]),
        tags=st.sampled_from([(), ("strike",), ("Strike", "port"), ("huelga",), ("Huelga", "Año")]),
        authors=st.sampled_from([(), ("Ana Peña",), ("Ana Pena", "Bo Li"), ("Bo Li",)]),
        corrected=st.booleans(),
    )
    def add_story(
        self,
        issue: int,
        slug: str,
        language: str,
        section: str,
        tags: tuple[str, ...],
        authors: tuple[str, ...],
        corrected: bool,
    ) -> None:
        """The everyday edit: a public article, written or rewritten."""
        text = article_text(
            f"Story {slug}",
            language,
            section=section,
            tags=tags,
            authors=authors,
            corrected=corrected,
        )
        path = self.content / f"issues/{issue}/{slug}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.commit(f"story {issue}/{slug}")

    @precondition(lambda self: bool(self.articles()))
    @rule(data=st.data())
    def delete_article(self, data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(self.articles()))
        git(self.repo, "rm", "-q", f"content/{path}")
        self.commit(f"delete {path}")

    @precondition(lambda self: bool(self.articles()))
    @rule(data=st.data(), issue=st.sampled_from(ISSUES), slug=st.sampled_from(SLUGS))
    def rename_article(self, data: st.DataObject, issue: int, slug: str) -> None:
        path = data.draw(st.sampled_from(self.articles()))
        target = self.content / f"issues/{issue}/{slug}.md"
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        git(self.repo, "mv", f"content/{path}", f"content/issues/{issue}/{slug}.md")
        self.commit(f"rename {path}")

    @precondition(lambda self: bool(self.articles()))
    @rule(data=st.data(), slug=st.sampled_from(SLUGS))
    def rename_with_a_typo(self, data: st.DataObject, slug: str) -> None:
        """A rename and a mistake in the same file in one commit: the old page stays
        until the new file is fixed (a later write_article), then redirects."""
        path = data.draw(st.sampled_from(self.articles()))
        target = self.content / path.rsplit("/", 1)[0] / f"{slug}.md"
        if target.exists():
            return
        text = (self.content / path).read_text(errors="replace")
        git(self.repo, "mv", f"content/{path}", str(target.relative_to(self.repo)))
        target.write_text(re.sub(r"^date: .*$", "date: 2026-13-45", text, count=1, flags=re.M))
        self.commit(f"rename {path} with a typo")

    @rule(
        issue=st.sampled_from(ISSUES),
        variant=st.sampled_from(["plain", "titled", "ordered", "broken", "missing"]),
    )
    def edit_issue(self, issue: int, variant: str) -> None:
        path = self.content / f"issues/{issue}/issue.yml"
        if variant == "missing":
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            text = {
                "plain": issue_text(issue),
                "titled": issue_text(issue, "On strike"),
                "ordered": issue_text(issue, None, ("rent", "strike")),
                "broken": "number: [\n",
            }[variant]
            path.write_text(text)
        self.commit(f"issue {issue}: {variant}")

    @rule(
        issue=st.sampled_from(ISSUES),
        name=st.sampled_from(["gate", "yard"]),
        variant=st.sampled_from(["blue", "red", "broken", "gone"]),
    )
    def edit_photo(self, issue: int, name: str, variant: str) -> None:
        path = self.content / f"issues/{issue}/media/{name}.jpg"
        if variant == "gone":
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(oracle.picture(variant))
        self.commit(f"photo {issue}/{name}: {variant}")

    def photos_in_use(self) -> list[str]:
        used = set()
        for name in self.articles():
            text = (self.content / name).read_text(errors="replace")
            folder = name.rsplit("/", 1)[0]
            used |= {f"{folder}/{m}" for m in re.findall(r"media/[a-z]+\.jpg", text)}
        return sorted(p for p in used if (self.content / p).exists())

    def translated(self) -> list[str]:
        """The articles another in their issue says it translates."""
        found = set()
        for name in self.articles():
            text = (self.content / name).read_text(errors="replace")
            for slug in re.findall(r"^translation_of: (\S+)$", text, re.M):
                found.add(f"{name.rsplit('/', 1)[0]}/{slug}.md")
        return sorted(p for p in found if (self.content / p).exists())

    @precondition(lambda self: bool(self.translated()))
    @rule(data=st.data(), rename=st.booleans(), slug=st.sampled_from(SLUGS))
    def move_an_original_away(self, data: st.DataObject, rename: bool, slug: str) -> None:
        """An original deleted or renamed under its translation: held back while the
        translation points at it."""
        path = data.draw(st.sampled_from(self.translated()))
        target = self.content / path.rsplit("/", 1)[0] / f"{slug}.md"
        if rename and not target.exists():
            git(self.repo, "mv", f"content/{path}", str(target.relative_to(self.repo)))
        else:
            git(self.repo, "rm", "-q", f"content/{path}")
        self.commit(f"original {path} {'renamed' if rename else 'deleted'}")

    @precondition(lambda self: bool(self.photos_in_use()))
    @rule(data=st.data(), variant=st.sampled_from(["broken", "gone"]))
    def take_away_a_photo_in_use(self, data: st.DataObject, variant: str) -> None:
        """A photograph an article uses deleted or spoiled: held back while it is used."""
        path = self.content / data.draw(st.sampled_from(self.photos_in_use()))
        if variant == "gone":
            path.unlink()
        else:
            path.write_bytes(oracle.picture("broken"))
        self.commit(f"photo in use: {variant}")

    @rule(variant=st.sampled_from(sorted(oracle.SITES)))
    def edit_site(self, variant: str) -> None:
        (self.content / "site.yml").write_text(site_text(variant))
        self.commit(f"site: {variant}")

    @rule(issue=st.sampled_from(ISSUES), name=st.sampled_from(ODD_NAMES), present=st.booleans())
    def odd_file_name(self, issue: int, name: str, present: bool) -> None:
        path = self.content / f"issues/{issue}/{name}.md"
        if present:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(article_text("Odd", "en"))
        else:
            path.unlink(missing_ok=True)
        self.commit(f"odd name {name}")

    # --- the machinery -----------------------------------------------------------------

    @rule(
        seed=st.integers(0, 2**32 - 1),
        crash_rate=st.sampled_from([0.0, 0.1, 0.3]),
        duplicate_rate=st.sampled_from([0.0, 0.2]),
    )
    def publish_and_drain(self, seed: int, crash_rate: float, duplicate_rate: float) -> None:
        publish(Git.of(self.content), self.world.sources, say=lambda _: None)
        if not self.model.published:  # a snapshot of HEAD, with the renames in its history
            files, _ = self.pending[-1]
            self.model.apply(files, self.history())
        else:
            for files, renamed in self.pending:
                self.model.apply(files, renamed)
        self.model.published = True
        self.pending = []
        self.heads.append(git(self.repo, "rev-parse", "HEAD").strip())
        self.drain_and_check(random.Random(seed), crash_rate, duplicate_rate)

    @precondition(lambda self: len(self.heads) > 1)
    @rule(data=st.data(), seed=st.integers(0, 2**32 - 1), crash_rate=st.sampled_from([0.0, 0.1]))
    def undo_to_a_published_commit(self, data: st.DataObject, seed: int, crash_rate: float) -> None:
        """An editor resets main to a commit published before (what came after is
        dropped, published or not) and publishes it whole again, as the README says."""
        target = data.draw(st.sampled_from(self.heads[:-1]))
        git(self.repo, "reset", "-q", "--hard", target)
        publish(Git.of(self.content), self.world.sources, snapshot=True, say=lambda _: None)
        self.pending = []
        self.model.apply(snapshot(self.content), self.history())
        self.heads.append(target)
        self.drain_and_check(random.Random(seed), crash_rate, 0.1)

    @precondition(lambda self: self.model.published)
    @rule(hours=st.integers(0, 48), seed=st.integers(0, 2**32 - 1))
    def time_passes(self, hours: int, seed: int) -> None:
        self.clock += dt.timedelta(hours=hours)
        self.drain_and_check(random.Random(seed), 0.1, 0.1)

    def drain_and_check(self, rng: random.Random, crash_rate: float, duplicate: float) -> None:
        before = self.bucket.live()
        cleared_before = set(self.world.cdn.invalidations)
        self.bucket.overwritten.clear()
        stores = (self.sources, self.bucket)
        # Half the drains run several deliveries at once, interleaved at every bucket
        # call, each function as many at a time as the template lets it.
        concurrent = rng.random() < 0.5
        options = {"crash_rate": crash_rate, "duplicate_rate": duplicate, "concurrent": concurrent}
        delivered = deliver_all(self.world, stores, rng, **options)  # type: ignore[arg-type]
        while self.world.fire_releases():
            delivered += deliver_all(self.world, stores, rng, **options)  # type: ignore[arg-type]
        COUNTERS["drains"] += 1
        COUNTERS["deliveries"] += delivered
        self.published += 1
        site = self.bucket.live()
        expected = self.model.expected(self.clock)
        missing = sorted(set(expected) - set(site))
        extra = sorted(set(site) - set(expected))
        differ = sorted(k for k in expected if k in site and site[k] != expected[k])
        assert (missing, extra, differ) == ([], [], []), "the site is not the full build"
        cdn = self.world.cdn
        assert isinstance(cdn, TimedCDN)
        cleared = [
            (cdn.made[reference], set(paths))
            for reference, paths in cdn.invalidations.items()
            if reference not in cleared_before
        ]
        # Every object replaced or deleted during the drain may be held by a cache, even
        # if a later write put its old bytes back; one created where nothing was may not
        # (the CDN keeps no errors). That holds for fingerprinted files (assets,
        # photographs' variants, search fragments) too: never replaced, since their
        # names change with their bytes, but withdrawn (deleted, or retired).
        changed = {k for k in set(before) | set(site) if before.get(k) != site.get(k)}
        held = dict(self.bucket.overwritten)
        assert {k for k in changed if k in before} <= set(held), "a change the bucket missed"
        stale = sorted(
            k
            for k, at in held.items()
            if not any(made > at and covered("/" + k, paths) for made, paths in cleared)
        )
        assert stale == [], f"changed but not invalidated after: {stale}"
        assert all(not q.dead for q in self.world.queues.values())
        assert self.world.failures == []
        for queue in self.world.queues.values():
            assert queue.largest <= queue_module.MAX_BODY + 200
        table = self.world.redirects.all()
        for old, new in table.items():
            assert old + "index.html" not in {"/" + k for k in site}, f"{old} is a page"
            assert "/" + new.lstrip("/") + "index.html" in {"/" + k for k in site}, new
            assert new not in table, f"{new} redirects again"


def run(max_examples: int, steps: int, *, seed: int | None = None) -> None:
    run_state_machine_as_test(
        Newspaper,
        settings=settings(
            max_examples=max_examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=seed is None and not os.environ.get("SOAK"),
            database=None,
            print_blob=True,
        ),
    )


@pytest.fixture(autouse=True)
def small_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every message over 2 KiB goes through the claim check, so the oracle covers it;
    # each history sets the listings' page size, and this puts it back after.
    monkeypatch.setattr(queue_module, "MAX_BODY", 2048)
    monkeypatch.setattr(listing, "PAGE", listing.PAGE)


def test_any_history_any_delivery_converges_on_the_full_build() -> None:
    run(max_examples=int(os.environ.get("ORACLE_EXAMPLES", "20")), steps=25)
