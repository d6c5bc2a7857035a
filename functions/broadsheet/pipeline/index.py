"""index: decide an issue folder, publish what it decides, and keep everything that
depends on it in step: pages, indexes, listings, releases, redirects.

An issue's commits are applied in order: a job waits (``NotYet``) until the commit
before it has been applied, and one already applied is only carried out again. Each
application decides the issue's new state (what it accepted of each article, its public
document) and saves it with one conditional write; then every partition the issue feeds
is reconciled with the state as it is now (``reconcile``): the issue's own pages, the
site-wide files, the listings its articles are in. A crash anywhere leaves either the
old state (the job runs again from scratch) or the new one, which the job reconciles
again. Which listings to look at is found the same way, level-triggered: the issue's
items in each listing now against what the site-wide record says was put there. What
the reconcile replaced or deleted goes to the invalidate stage, named by its transitions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from broadsheet.adapters.scheduler import due_second
from broadsheet.content.article import Article
from broadsheet.content.findings import FindingSink
from broadsheet.content.issue import Issue, parse_issue
from broadsheet.content.site import Site, parse_site
from broadsheet.content.version import code_version
from broadsheet.edition import index, sitemap
from broadsheet.edition.index import IssueDoc
from broadsheet.edition.plan import Output, issue_inputs, render_issue_output
from broadsheet.errors import NotYet, Permanent, Retryable
from broadsheet.pipeline import beats, desk, sitewide
from broadsheet.pipeline import verdicts as kept
from broadsheet.pipeline.env import Env, ahead, blob, read_ahead, read_json, record
from broadsheet.pipeline.messages import (
    Checked,
    Examined,
    InvalidateJob,
    IssueJob,
    ReleaseJob,
    SearchJob,
    ShareJob,
    body_key,
    status_key,
    variant_key,
)
from broadsheet.pipeline.reconcile import (
    Applied,
    Clear,
    Diff,
    apply,
    diff,
    inputs_digest,
    load_applied,
)
from broadsheet.pipeline.renames import known_edges, record_renames, successors, sync_redirects
from broadsheet.pipeline.render import typeset, typeset_all
from broadsheet.pipeline.search import update_records
from broadsheet.pipeline.sitewide import site_diff
from broadsheet.pipeline.state import IssueState, load_issue, save_issue
from broadsheet.pipeline.validate import committed, read_tree

MAX_WAITS = 40  # ~20 minutes at 30 s: then a commit stops waiting for a lost one


def release_name(number: int, slug: str) -> str:
    """A schedule's name (at most 64 characters of [0-9A-Za-z-_.])."""
    name = f"{number}-{slug}"
    if len(name) <= 64:
        return name
    # The same in every container (Python's hash() is salted per process): another
    # invocation must find the schedule it moves or deletes.
    return f"{name[:55]}-{hashlib.sha256(slug.encode()).hexdigest()[:8]}"


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
    version = desk.verdict_version(site)

    def read(digest: str) -> bytes:
        return blob(env.sources, digest)

    tree = read_tree(env, job.tree)
    fresh = kept.verdicts(env.sources, job.fresh, env.workers)
    known = [*fresh, *state.verdicts, *state.accepted.values()]
    files = read_ahead(env, desk.unread(tree, number, version, known))
    as_read = desk.check_folder(tree, number, site, version, files, known, committed(job))
    verdicts = desk.judged(as_read, site)
    issue, issue_blob, _ = desk.issue_file(tree, number, site, read) if tree else (None, None, [])
    if tree is not None and issue is None:
        # issue.yml has findings: the accepted one stays, and counts if it still checks out.
        issue_blob = state.issue_blob
        issue = _issue(env, site, number, issue_blob)
    # What was accepted is checked again when the code, or the languages of site.yml,
    # changed since: by render's verdict of the same file under the new
    # version, when it made one.
    outdated = [
        replace(c, version=version) for c in state.accepted.values() if c.version != version
    ]
    again = _typeset(env, outdated, fresh, number, site)
    accepted: dict[str, Checked] = {}
    for slug, checked in state.accepted.items():
        checked = desk.judge(again.get((checked.path, checked.blob), checked), site)
        if checked.facts is not None:  # else it no longer checks out: nothing to keep
            accepted[slug] = checked
    examined = desk.examine_media(
        tree,
        desk.wanted(verdicts, accepted.values()),
        read,
        [*kept.examined(env.sources, job.photos, env.workers), *state.examined],
    )
    # The photographs published before, kept where the commit deletes or breaks one
    # that a published article still uses (its variants are still in the cache).
    before = desk.published_photos(state.examined, state.accepted.values())
    # An accepted article the folder lacks, renamed into a file with findings, stays
    # (``judge_issue``): where each one's renames lead, from every rename recorded.
    present = [c.path.rsplit("/", 1)[1].removesuffix(".md") for c in verdicts]
    absent = [slug for slug in accepted if slug not in present]
    leads = successors(known_edges(env, job.renames), number, absent, present) if absent else {}
    decided = desk.decide(
        number,
        verdicts,
        _articles(number, accepted),
        desk.photos(examined),
        desk.photos(before.values()),
        leads,
    )
    if decided.kept_photos:
        kept_names = set(decided.kept_photos)
        examined = sorted(
            [*(e for e in examined if e.name not in kept_names), *(before[n] for n in kept_names)],
            key=lambda e: e.name,
        )
    by_path = {c.path: c for c in verdicts}
    published = {a.slug: by_path[a.path] for a in decided.published if a.path in by_path}
    # The published version of a slug is the committed one unless it was held back.
    for slug in decided.held_back:
        published[slug] = accepted[slug]
    if tree is None:
        published = {}
    # Those read by the checker alone (render did not see them) typeset now.
    typeset_now = _typeset(
        env, [c for c in published.values() if not c.typeset], fresh, number, site
    )
    published = {s: typeset_now.get((c.path, c.blob), c) for s, c in published.items()}
    articles = _articles(number, published)
    return replace(
        state,
        sequence=job.sequence,
        tree=job.tree,
        site_blob=job.site_blob,
        issue_blob=issue_blob,
        accepted=published,
        verdicts=as_read,
        examined=examined,
        doc=_doc(site, issue if tree else None, articles, now, examined),
    )


def _typeset(
    env: Env, articles: list[Checked], fresh: list[Checked], number: int, site: Site
) -> dict[tuple[str, str], Checked]:
    """The typesetter's verdicts of ``articles`` by path and blob: render's where it made
    one under the same version, the rest typeset now."""
    made = {(c.path, c.blob, c.version): c for c in fresh if c.typeset}
    found = {}
    todo = []
    for checked in articles:
        known = made.get((checked.path, checked.blob, checked.version))
        if known is not None:
            found[(checked.path, checked.blob)] = known
        else:
            todo.append(checked)
    for verdict, _ in typeset_all(env, todo, number, site):
        found[(verdict.path, verdict.blob)] = verdict
    return found


def _released(env: Env, state: IssueState, now: dt.datetime) -> IssueState:
    """The issue's state with the clock moved on: embargoes whose time came are public."""
    if state.site_blob is None:
        return state
    site = _site(blob(env.sources, state.site_blob), f"issue {state.number}")
    issue = _issue(env, site, state.number, state.issue_blob)
    articles = _articles(state.number, state.accepted)
    return replace(state, doc=_doc(site, issue, articles, now, state.examined))


# --- carrying a decision out ---------------------------------------------------------------


def clearing(env: Env, *commits: str) -> Clear:
    """A reconcile's paths to clear, sent to the invalidate stage under their names, for
    the commits whose changes they are."""

    def clear(transitions: list[str], paths: list[str]) -> None:
        job = InvalidateJob(list(commits), transitions, paths)
        env.queue("invalidate").send(job.to_json())

    return clear


def _body_lookup(env: Env, state: IssueState, site: Site, pages: Iterable[str] = ()) -> Any:
    """The typeset body of an accepted article by its slug; those of ``pages`` fetched
    first, side by side."""
    bodies: dict[str, str] = {}
    version = code_version()

    def fetch(slug: str) -> Any:
        return env.sources.get(body_key(version, state.accepted[slug].blob))

    stored_body = ahead(env.workers, fetch, pages)

    def body(number: int, slug: str) -> str:
        if slug not in bodies:
            checked = state.accepted[slug]
            stored = stored_body(slug)
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


def _issue_diff(env: Env, state: IssueState, commit: str, *, verify: bool = False) -> Diff:
    """What the issue's own partition (its pages, index, sitemap and photographs) must
    become to match its state as it is now (``verify``: compared with the bucket file by
    file)."""
    site = _site(blob(env.sources, state.site_blob), commit) if state.site_blob else None
    scope = issue_inputs(site, state.doc)
    typesetter = code_version()

    def digest(output: Output, made_from: Any) -> str:
        if output.kind == "photo":  # named by its bytes
            return str(made_from)
        # An article page shows its typeset body too: its source is in the entry, and
        # the typesetter's version says how it was typeset.
        extra = typesetter if output.kind == "article" else ""
        return inputs_digest(state.site_blob, made_from, extra)

    outputs = {o.key: (o, made_from) for o, made_from in scope.items()}
    wanted = {key: digest(*pair) for key, pair in outputs.items()}

    def render(keys: list[str]) -> dict[str, bytes]:
        assert site is not None
        pages = [outputs[key][0].slug for key in keys if outputs[key][0].kind == "article"]
        body, variant = _body_lookup(env, state, site, pages), _variant_lookup(env)
        made = {}
        for key in keys:
            output, made_from = outputs[key]
            made[key] = render_issue_output(site, output, made_from, body, variant)
        return made

    return diff(env.sources, f"issues/{state.number}", wanted, render, verify=verify)


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
    *,
    everything: bool = False,
    renames: list[list[str]] | None = None,
) -> dict[str, Any]:
    """Save the issue's new state (the commit point), then reconcile what depends on
    it."""
    after.schedules = _schedules(env, after, env.now())
    if after.doc != before.doc or after.accepted != before.accepted:
        after.revision = before.revision + 1
    save_issue(env.sources, after)  # PreconditionFailed (Retryable): it all runs again
    return _finish(env, after, commit, renames=renames, before_doc=before.doc, verify=everything)


def _listings(
    env: Env, applied: Applied, state: IssueState, site: Site | None, *, verify: bool
) -> Any:
    """The listings to reconcile for the issue: those its items must be put in again,
    found by comparing its items now with what its ``listed`` record says was last put
    there (``shares``, with the site.yml they were put with), and, when site.yml
    changed, every listing of the issue (each shows site.yml) and the indexes of
    sections and tags; which of them hold other items of the issue than before; and the
    issue's shares as they are now."""
    now = beats.shares(site, state.doc)
    was_site, was = sitewide.applied_shares(applied)
    moved = {b for b in {*was, *now} if verify or was.get(b) != now.get(b)}
    touched = set(moved)
    indexes: list[str] = []
    if verify or was_site != state.site_blob:
        # Every listing shows site.yml: each beat of the issue is looked at again, and
        # the pages every language has even when empty.
        old = _site(blob(env.sources, was_site), "applied") if was_site else None
        languages = [*(old.languages if old else ()), *(site.languages if site else ())]
        always, indexes = beats.everywhere(languages)
        touched |= {*was, *now, *always}
    return beats.Touched(state.number, site, state.doc, sorted(touched), moved), indexes, now


def _finish(
    env: Env,
    state: IssueState,
    commit: str,
    *,
    renames: list[list[str]] | None = None,
    before_doc: IssueDoc | None = None,
    verify: bool = False,
) -> dict[str, Any]:
    """Everything after the issue's state is saved; repeated as often as the job is:
    the issue's own partition reconciled, its renames and search records kept, and the
    shared partitions handed to their group. ``verify`` (a rebuild) trusts no record:
    each file is compared with the bucket."""
    diff_ = _issue_diff(env, state, commit, verify=verify)
    changed = apply(env.sources, env.site, [diff_], clearing(env, commit), workers=env.workers)
    moved = record_renames(env, state, renames or [], before_doc)
    if _search_records(env, state, commit):
        env.queue("search").send(SearchJob(commit, state.number).to_json())
    env.queue("index").send(ShareJob(commit, state.number, verify).to_json())
    if before_doc is not None:
        # The pages readers had that this commit takes away (a rename's old address
        # redirects: it is not among them), said apart from the findings.
        withdrawn = sorted(index.pages(before_doc) - index.pages(state.doc) - moved)
    else:  # a repeat: what the first run found stands
        done = read_json(env.sources, status_key(commit, "index", state.number)) or {}
        withdrawn = list(done.get("withdrawn", []))
    record(
        env,
        commit,
        "index",
        state.number,
        paths=changed,
        revision=state.revision,
        withdrawn=withdrawn,
        **_held(env, state),
    )
    return {"commit": commit, "issue": state.number, "paths": len(changed)}


def _held(env: Env, state: IssueState) -> dict[str, list[str]]:
    """What the issue shows other than the commit says, derived from its state: the
    slugs published at an earlier version (the commit's has findings, or deletes an
    original a translation needs), and those not published at all."""
    verdicts = state.verdicts
    if state.site_blob is not None:
        verdicts = desk.judged(verdicts, _site(blob(env.sources, state.site_blob), "held"))
    committed = {c.path.rsplit("/", 1)[1].removesuffix(".md"): c for c in verdicts}
    held_back = [
        slug
        for slug, accepted in state.accepted.items()
        if slug not in committed or committed[slug].blob != accepted.blob
    ]
    refused = [slug for slug, c in committed.items() if c.findings and slug not in state.accepted]
    return {"held_back": sorted(held_back), "refused": sorted(refused)}


def share(jobs: list[ShareJob], env: Env) -> dict[str, Any]:
    """The shared partitions brought in line with each job's issue as it is now (a later
    state than the job's commit, if one was applied since: its own job follows, and
    finds nothing left to do): the site-wide files, the listings whose share of an issue
    changed, the indexes of sections and tags, and the redirect table. A batch of jobs
    is one reconcile: the site-wide files rendered once, each listing once."""
    numbers = sorted({job.issue for job in jobs})
    verify = any(job.verify for job in jobs)
    states = [load_issue(env.sources, number) for number in numbers]
    issues: list[beats.Touched] = []
    indexes: set[str] = set()
    diffs: list[Diff] = []
    for state in states:
        site = _site(blob(env.sources, state.site_blob), "shared") if state.site_blob else None
        put = load_applied(env.sources, sitewide.listed(state.number))
        touched, named, shares = _listings(env, put, state, site, verify=verify)
        diffs.append(sitewide.shares_diff(put, state, shares))
        issues.append(touched)
        indexes.update(named)
    newest, site_wide = site_diff(env, states, verify=verify)
    diffs.append(site_wide)
    dropped: list[str] = []
    if indexes or any(touched.beats for touched in issues):
        listings, dropped = beats.beat_diffs(env, issues, sorted(indexes), newest, verify=verify)
        diffs += listings
    # The redirects first: the record that says they are made is saved with the rest.
    site_wide.after.data["redirects"] = sync_redirects(env, site_wide.before.data.get("redirects"))
    commits = sorted({job.commit for job in jobs})
    changed = apply(env.sources, env.site, diffs, clearing(env, *commits), workers=env.workers)
    for key in dropped:
        env.sources.delete(key)
    for job in jobs:
        record(env, job.commit, "shared", job.issue, paths=changed)
    return {"commits": commits, "issues": numbers, "paths": len(changed)}


# --- the stage -----------------------------------------------------------------------------


def index_issue(job: IssueJob, env: Env) -> dict[str, Any]:
    state = load_issue(env.sources, job.issue)
    if job.kind == "commit":
        if state.sequence >= job.sequence:  # applied before: make sure it was carried out
            return _finish(env, state, job.commit, renames=job.renames)
        if state.sequence < job.after and job.waits < MAX_WAITS:
            raise NotYet(f"issue {job.issue}: commit #{job.after} is not applied yet")
    elif state.sequence != job.sequence:
        # A rebuild overtaken by a commit, which was made with the new code already.
        return _finish(env, state, job.commit)
    if not job.site_ok:  # site.yml has findings: the commit is held, its turn recorded
        held = replace(state, sequence=job.sequence)
        # Its renames are recorded now: each edge waits, unused, until a later commit
        # makes the old address private and the new one public.
        return _apply(env, state, held, job.commit, renames=job.renames)
    after = _decide(env, job, state, env.now())
    rebuild = job.kind == "rebuild"
    return _apply(env, state, after, job.commit, everything=rebuild, renames=job.renames)


def release(job: ReleaseJob, env: Env) -> dict[str, Any]:
    """An embargo's time has come (or a schedule fired early, or twice: then nothing
    changes and the schedule is set again)."""
    state = load_issue(env.sources, job.issue)
    after = _released(env, state, env.now())
    # The schedule that sent this has run (the service deletes it): set it again if its
    # time has not come after all.
    after.schedules = {s: at for s, at in after.schedules.items() if s != job.slug}
    return _apply(env, state, after, job.commit)
