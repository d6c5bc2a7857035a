"""index: decide an issue folder, publish what it decides, and keep everything that
depends on it in step: pages, indexes, listings, releases, redirects.

An issue's commits are applied in order: a job waits (``NotYet``) until the commit
before it has been applied, and one already applied is only carried out again. Each
application is planned against what the issue published before, the plan is kept in
the outbox *before* anything is written, and the issue's state is then saved with one
conditional write: a crash anywhere leaves either the old state (the job runs again
from scratch) or the new state and its plan (the job carries the plan out again). What
the outbox names is what the commit's invalidation clears, but for the files the job
*created* where nothing was (``born``): no cache holds an older copy of those, since the
CDN keeps no error responses (``ErrorCachingMinTTL: 0`` in the template).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from broadsheet.adapters.scheduler import due_second
from broadsheet.content.article import Article
from broadsheet.content.findings import FindingSink
from broadsheet.content.issue import Issue, parse_issue
from broadsheet.content.site import Site, parse_site
from broadsheet.content.version import code_version
from broadsheet.edition import index, sitemap, urls
from broadsheet.edition.index import IssueDoc
from broadsheet.edition.plan import Output, State, issue_inputs, issue_plan, render
from broadsheet.errors import NotYet, Permanent, Retryable
from broadsheet.pipeline import beats, desk, ledger
from broadsheet.pipeline.env import Env, blob, put_json, read_json, record
from broadsheet.pipeline.listings import update_listings
from broadsheet.pipeline.messages import (
    Checked,
    Examined,
    InvalidateJob,
    IssueJob,
    ReleaseJob,
    SearchJob,
    body_key,
    outbox_key,
    variant_key,
)
from broadsheet.pipeline.renames import update_redirects
from broadsheet.pipeline.render import typeset
from broadsheet.pipeline.search import update_records
from broadsheet.pipeline.state import IssueState, load_issue, save_issue
from broadsheet.pipeline.validate import committed, read_tree

MAX_WAITS = 40  # ~20 minutes at 30 s: then a commit stops waiting for a lost one


def release_name(number: int, slug: str) -> str:
    """A schedule's name (at most 64 characters of [0-9A-Za-z-_.])."""
    name = f"{number}-{slug}"
    return name if len(name) <= 64 else f"{name[:55]}-{abs(hash(slug)) % 10**8:08d}"


def _site(data: bytes, what: str) -> Site:
    sink = FindingSink("site.yml")
    site = parse_site(data, sink)
    if site is None:
        raise Permanent(f"{what}: site.yml does not parse ({sink.findings[:1]})")
    return site


def _issue(env: Env, site: Site, number: int, issue_blob: str | None) -> Issue | None:
    if issue_blob is None:
        return None
    return parse_issue(blob(env.sources, issue_blob), FindingSink("issue.yml"), number, site)


def _doc(
    site: Site,
    issue: Issue | None,
    articles: dict[str, Article],
    now: dt.datetime,
    examined: list[Examined],
) -> IssueDoc | None:
    if issue is None:
        return None
    media = desk.photos(examined)
    public = [index.entry(site, a, media) for a in articles.values() if a.is_public(now)]
    return index.issue_doc(site, issue, public)


def _articles(number: int, accepted: dict[str, Checked]) -> dict[str, Article]:
    found = {}
    for slug, checked in accepted.items():
        article = desk.article_of(checked, number)
        if article is not None:
            found[slug] = article
    return found


# --- deciding ------------------------------------------------------------------------------


def _decide(env: Env, job: IssueJob, state: IssueState, now: dt.datetime) -> IssueState:
    """The issue's new state from its folder at this commit and what it accepted before."""
    number = job.issue
    site_data = blob(env.sources, job.site_blob)
    site = _site(site_data, job.commit)
    version = desk.verdict_version(site_data)

    def read(digest: str) -> bytes:
        return blob(env.sources, digest)

    tree = read_tree(env, job.tree)
    known = [*job.checked, *state.verdicts, *state.accepted.values()]
    verdicts = desk.check_folder(tree, number, site, version, read, known, committed(job))
    issue, issue_blob, _ = desk.issue_file(tree, number, site, read) if tree else (None, None, [])
    if tree is not None and issue is None:
        # issue.yml has findings: the accepted one stays, and counts if it still checks out.
        issue_blob = state.issue_blob
        issue = _issue(env, site, number, issue_blob)
    # What was accepted is checked again when the code or site.yml changed since.
    accepted: dict[str, Checked] = {}
    for slug, checked in state.accepted.items():
        if checked.version != version:
            checked = typeset(env, replace(checked, version=version), number, site)[0]
        if checked.facts is not None:  # else it no longer checks out: nothing to keep
            accepted[slug] = checked
    examined = desk.examine_media(
        tree,
        desk.wanted(verdicts, accepted.values()),
        read,
        [*job.examined, *state.examined],
    )
    decided = desk.decide(number, verdicts, _articles(number, accepted), desk.photos(examined))
    by_path = {c.path: c for c in verdicts}
    published = {a.slug: by_path[a.path] for a in decided.published if a.path in by_path}
    # The published version of a slug is the committed one unless it was held back.
    for slug in decided.held_back:
        published[slug] = accepted[slug]
    if tree is None:
        published = {}
    for slug, checked in list(published.items()):
        if not checked.typeset:  # read by the checker alone (render did not see it)
            published[slug] = typeset(env, checked, number, site)[0]
    articles = _articles(number, published)
    return replace(
        state,
        sequence=job.sequence,
        tree=job.tree,
        site_blob=job.site_blob,
        issue_blob=issue_blob,
        accepted=published,
        verdicts=verdicts,
        examined=examined,
        doc=_doc(site, issue if tree else None, articles, now, examined),
    )


def _released(env: Env, state: IssueState, now: dt.datetime) -> IssueState:
    """The issue's state with the clock moved on: embargoes whose time came are public."""
    if state.site_blob is None:
        return state
    site = _site(blob(env.sources, state.site_blob), f"issue {state.number}")
    issue = _issue(env, site, state.number, state.issue_blob)
    articles = _articles(state.number, state.accepted)
    return replace(state, doc=_doc(site, issue, articles, now, state.examined))


# --- carrying a decision out ---------------------------------------------------------------


def _outbox(env: Env, commit: str, number: int) -> dict[str, Any] | None:
    found: dict[str, Any] | None = read_json(env.sources, outbox_key(commit, number))
    return found


def note(
    env: Env,
    commit: str,
    number: int,
    outputs: list[Output],
    paths: list[str],
    beat_idents: list[str] | None = None,
    indexes: list[str] | None = None,
    born: list[str] | None = None,
    *,
    begin: bool = False,
    end: bool = False,
    sequence: int = 0,
) -> dict[str, Any]:
    """Add to the outbox what this job is about to change, before changing it: the
    issue's outputs, paths of listings, and the beats and indexes it must bring up to
    date; and, once written, the files it ``born`` (created where nothing was).

    A file about to be written again is no longer counted born, before the write: a job
    run again may change what its first run created, and a reader may have that copy.

    A run that is about to replace what readers may hold counts itself ``begun`` first,
    and ``ended`` once done (with the issue's ``sequence``, its place in the order of
    publishing): the commit's invalidation is named by these, so one made before a run
    began or ended is never taken for one made after. The outbox as it stands."""
    box = _outbox(env, commit, number) or {}
    begun = int(box.get("begun", 0)) + (1 if begin else 0)
    ended = begun if end else int(box.get("ended", 0))
    sequence = max(sequence, int(box.get("sequence", 0)))
    old: dict[str, set[Any]] = {
        "outputs": {Output.from_json(o) for o in box.get("outputs", [])},
        "paths": set(box.get("paths", [])),
        "beats": set(box.get("beats", [])),
        "indexes": set(box.get("indexes", [])),
    }
    new: dict[str, set[Any]] = {
        "outputs": set(outputs),
        "paths": set(paths),
        "beats": set(beat_idents or []),
        "indexes": set(indexes or []),
    }
    rewritten = {urls.cached_path(o.path) for o in outputs} | {urls.cached_path(p) for p in paths}
    was_born = set(box.get("born", []))
    now_born = (was_born - rewritten) | {urls.cached_path(p) for p in born or []}
    counts = (begun, ended, sequence)
    steady = counts == tuple(box.get(k, 0) for k in ("begun", "ended", "sequence"))
    if box and all(new[name] <= old[name] for name in old) and now_born == was_born and steady:
        return box
    box = {
        "outputs": [o.to_json() for o in sorted(old["outputs"] | new["outputs"])],
        "paths": sorted(old["paths"] | new["paths"]),
        "beats": sorted(old["beats"] | new["beats"]),
        "indexes": sorted(old["indexes"] | new["indexes"]),
        "born": sorted(now_born),
        "begun": begun,
        "ended": ended,
        "sequence": sequence,
    }
    put_json(env.sources, outbox_key(commit, number), box)
    return box


class Outbox:
    """One index run's notes in its commit's outbox (``beats.Notes``)."""

    def __init__(self, env: Env, commit: str, number: int) -> None:
        self.env, self.commit, self.number = env, commit, number
        self.begun = False

    def writing(self, paths: list[str]) -> None:
        note(self.env, self.commit, self.number, [], paths)

    def created(self, paths: list[str]) -> None:
        note(self.env, self.commit, self.number, [], [], born=paths)

    def replacing(self) -> None:
        if not self.begun:
            self.begun = True
            note(self.env, self.commit, self.number, [], [], begin=True)

    def done(self, sequence: int) -> dict[str, Any]:
        return note(self.env, self.commit, self.number, [], [], end=True, sequence=sequence)


def _body_lookup(env: Env, state: IssueState, site: Site) -> Any:
    bodies: dict[str, str] = {}

    def body(number: int, slug: str) -> str:
        if slug not in bodies:
            checked = state.accepted[slug]
            stored = env.sources.get(body_key(code_version(), checked.blob))
            if stored is not None:
                bodies[slug] = stored.body.decode()
            else:  # typeset by older code, or never by render: do it now
                html = typeset(env, checked, number, site)[1]
                if html is None:
                    raise Permanent(f"{checked.path} no longer checks out: no page for it")
                bodies[slug] = html
        return bodies[slug]

    return body


def _search_records(env: Env, state: IssueState, commit: str) -> bool:
    """The issue's search records made to match its public document; whether the
    search index needs rebuilding for them."""
    site = _site(blob(env.sources, state.site_blob), commit) if state.site_blob else None
    doc = state.doc if site is not None else None
    version = code_version()
    sources = {
        e["slug"]: body_key(version, state.accepted[e["slug"]].blob)
        for e in (doc["articles"] if doc else [])
    }
    body = _body_lookup(env, state, site) if site is not None else None
    return update_records(
        env,
        state.number,
        state.revision,
        commit,
        site,
        doc,
        sources,
        lambda slug: body(state.number, slug),  # type: ignore[misc]
    )


def _variant_lookup(env: Env) -> Any:
    def variant(number: int, name: str) -> bytes:
        stored = env.sources.get(variant_key(name.split(".")[-3], name))
        if stored is None:  # render makes them before index runs; it will again
            raise Retryable(f"the photograph variant {name} is not made yet")
        return stored.body

    return variant


def _carry_out(env: Env, state: IssueState, commit: str, notes: Outbox) -> None:
    """Make every output the job planned match the issue as it stands now: written if it
    exists in the current state, deleted if not. Safe to repeat; an older job finishing
    late never replaces what a newer revision wrote (``ledger.write``)."""
    box = _outbox(env, commit, state.number) or {}
    outputs = [Output.from_json(o) for o in box.get("outputs", [])]
    if not outputs:
        return
    site = _site(blob(env.sources, state.site_blob), commit) if state.site_blob else None
    scope = issue_inputs(site, state.doc)
    if site is not None and state.doc is not None:
        body = _body_lookup(env, state, site)
        _variant = _variant_lookup(env)
        current = State(index.issues_doc(site, []), {state.number: state.doc})
    if set(box.get("born", [])) & {urls.cached_path(o.path) for o in outputs}:
        note(env, commit, state.number, outputs, [])  # a retry's rewrites are not born
    created = []
    for output in outputs:
        data = None
        if output in scope:
            data = render(site, current, output, body, _variant)  # type: ignore[arg-type]
        written = ledger.write(env.site, output.key, data, state.revision, notes.replacing)
        if written == ledger.CREATED:
            created.append(output)
    born = _kept(env, state, created, notes) if created else []
    if born:
        notes.created([o.path for o in born])


def _kept(env: Env, state: IssueState, created: list[Output], notes: Outbox) -> list[Output]:
    """A newer revision may have deleted an output before this job created it again:
    then it goes (an absent object carries no revision to stop the write). Those that
    stay."""
    now = load_issue(env.sources, state.number)
    if now.revision <= state.revision:
        return created
    site = _site(blob(env.sources, now.site_blob), "take back") if now.site_blob else None
    scope = issue_inputs(site, now.doc)
    by_key = {o.key: o for o in created}
    gone = {o.key for o in created if o not in scope}
    stay = ledger.kept(env.site, by_key, gone, state.revision, notes.replacing)
    return [by_key[k] for k in stay]


def _schedules(env: Env, state: IssueState, now: dt.datetime) -> dict[str, str]:
    """Keep one schedule per article whose clock still matters: an embargoed one's at
    its release, a public one's when it leaves the news sitemap (two days on). The new
    set."""
    wanted, reasons = {}, {}
    for slug, article in _articles(state.number, state.accepted).items():
        if article.status != "published":
            continue
        moment, reasons[slug] = article.published_at, "embargo"
        if moment <= now:
            moment += dt.timedelta(days=sitemap.NEWS_DAYS)
            reasons[slug] = "news"
        if moment > now:
            # As the schedule holds it: truncated, a release fired early and was set again.
            wanted[slug] = due_second(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
    for slug in sorted(set(state.schedules) - set(wanted)):
        env.scheduler.delete(release_name(state.number, slug))
    for slug, at in sorted(wanted.items()):
        if state.schedules.get(slug) != at:
            job = ReleaseJob(state.number, slug, at, reasons[slug])
            moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
            env.scheduler.put(release_name(state.number, slug), moment, job.to_json())
    return wanted


def _apply(
    env: Env,
    before: IssueState,
    after: IssueState,
    commit: str,
    parts: list[int],
    *,
    everything: bool = False,
    renames: list[list[str]] | None = None,
) -> dict[str, Any]:
    """Plan, keep the plan, save the new state (the commit point), then carry it out."""
    old_site = _site(blob(env.sources, before.site_blob), commit) if before.site_blob else None
    new_site = _site(blob(env.sources, after.site_blob), commit) if after.site_blob else None
    plan = issue_plan((old_site, before.doc), (new_site, after.doc), everything=everything)
    after.beats = beats.shares(new_site, after.doc)
    touched = {
        b for b in {*before.beats, *after.beats} if before.beats.get(b) != after.beats.get(b)
    }
    indexes: list[str] = []
    if everything or before.site_blob != after.site_blob:
        # Every listing shows site.yml: each beat of the issue is looked at again, and
        # the pages every language has even when empty.
        languages = [
            *(old_site.languages if old_site else ()),
            *(new_site.languages if new_site else ()),
        ]
        always, indexes = beats.everywhere(languages)
        touched |= {*before.beats, *after.beats, *always}
    note(env, commit, after.number, plan.write + plan.delete, [], sorted(touched), indexes)
    after.schedules = _schedules(env, after, env.now())
    if after.doc != before.doc or after.accepted != before.accepted:
        after.revision = before.revision + 1
    save_issue(env.sources, after)  # PreconditionFailed (Retryable): it all runs again
    return _finish(env, after, commit, parts, renames=renames, before_doc=before.doc)


def _finish(
    env: Env,
    state: IssueState,
    commit: str,
    parts: list[int],
    *,
    renames: list[list[str]] | None = None,
    before_doc: IssueDoc | None = None,
) -> dict[str, Any]:
    """Everything after the issue's state is saved; repeated as often as the job is."""
    note(env, commit, state.number, [], [])
    notes = Outbox(env, commit, state.number)
    _carry_out(env, state, commit, notes)
    newest = update_listings(env, state, notes)
    box = _outbox(env, commit, state.number) or {}
    if box.get("beats") or box.get("indexes"):
        site = _site(blob(env.sources, state.site_blob), commit) if state.site_blob else None
        mark = (state.sequence, state.revision)
        beats.update_beats(
            env, state.number, mark, site, state.doc, box["beats"], box["indexes"], newest, notes
        )
    update_redirects(env, state, renames or [], before_doc)
    if _search_records(env, state, commit):
        env.queue("search").send(SearchJob(commit, state.number).to_json())
    box = notes.done(state.sequence)
    changed = sorted({Output.from_json(o).path for o in box["outputs"]} | set(box["paths"]))
    record(env, commit, "index", state.number, paths=changed, revision=state.revision)
    job = InvalidateJob(commit, state.number, parts, sequence=box["sequence"], runs=box["begun"])
    env.queue("invalidate").send(job.to_json())
    return {"commit": commit, "issue": state.number, "paths": len(changed)}


# --- the stage -----------------------------------------------------------------------------


def index_issue(job: IssueJob, env: Env) -> dict[str, Any]:
    state = load_issue(env.sources, job.issue)
    if job.kind == "commit":
        if state.sequence >= job.sequence:  # applied before: make sure it was carried out
            return _finish(env, state, job.commit, job.parts, renames=job.renames)
        if state.sequence < job.after and job.waits < MAX_WAITS:
            raise NotYet(f"issue {job.issue}: commit #{job.after} is not applied yet")
    elif state.sequence != job.sequence:
        # A rebuild overtaken by a commit, which was made with the new code already.
        return _finish(env, state, job.commit, job.parts)
    if not job.site_ok:  # site.yml has findings: the commit is held, its turn recorded
        held = replace(state, sequence=job.sequence)
        # Its renames are recorded now: each edge waits, unused, until a later commit
        # makes the old address private and the new one public.
        return _apply(env, state, held, job.commit, job.parts, renames=job.renames)
    after = _decide(env, job, state, env.now())
    rebuild = job.kind == "rebuild"
    return _apply(env, state, after, job.commit, job.parts, everything=rebuild, renames=job.renames)


def release(job: ReleaseJob, env: Env) -> dict[str, Any]:
    """An embargo's time has come (or a schedule fired early, or twice: then nothing
    changes and the schedule is set again)."""
    state = load_issue(env.sources, job.issue)
    after = _released(env, state, env.now())
    # The schedule that sent this has run (the service deletes it): set it again if its
    # time has not come after all.
    after.schedules = {s: at for s, at in after.schedules.items() if s != job.slug}
    return _apply(env, state, after, job.commit, [job.issue])
