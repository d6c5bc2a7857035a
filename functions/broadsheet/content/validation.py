"""Checks of articles against each other: slugs, translations, issues.

The archive is described by ``Entry`` facts, which the local tree and the published
issue indexes can both supply, so the pipeline checks a commit exactly as
``broadsheet validate`` does without re-reading every source.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from broadsheet.content.article import Article
from broadsheet.content.findings import WARNING, Finding, errors
from broadsheet.content.folding import fold
from broadsheet.content.photo import LEAD_MIN_WIDTH, Photo

# An issue is what one invocation of the pipeline handles: a bound no paper reaches.
MAX_ARTICLES_PER_ISSUE = 500


@dataclass(frozen=True)
class Entry:
    """What the archive knows of one article."""

    issue: int
    slug: str
    language: str
    translation_of: str | None
    path: str
    tags: tuple[str, ...] = ()

    @classmethod
    def of(cls, article: Article) -> Entry:
        return cls(
            article.issue,
            article.slug,
            article.language,
            article.translation_of,
            article.path,
            tuple(article.tags),
        )


Media = Mapping[int, Mapping[str, Photo]]  # issue -> media/<name> -> what it is


def check_photos(article: Article, media: Mapping[str, Photo]) -> list[Finding]:
    """The article's photographs against the files its issue holds."""
    found = []
    for ref in article.photos:
        photo = media.get(ref.src)
        if photo is None:
            problem = (
                f"no file {ref.src} in issue {article.issue}: commit the photograph in "
                f"issues/{article.issue}/media/"
            )
        elif photo.problem is not None:
            problem = f"{ref.src} {photo.problem}"
        elif ref.lead and photo.width < LEAD_MIN_WIDTH:
            problem = (
                f"{ref.src} is {photo.width} px wide; a lead photograph needs at least "
                f"{LEAD_MIN_WIDTH:,} (search engines show smaller ones poorly)"
            )
        else:
            continue
        found.append(Finding(article.path, ref.line, ref.column, ref.field, problem))
    return found


def in_no_site_language(findings: Iterable[Finding]) -> set[tuple[int, str]]:
    """The articles whose ``language`` is not one the site has (a language removed from
    site.yml, or mistyped): a translation of one is published on its own."""
    found = set()
    for f in findings:
        match = ARTICLE_PATH.search(f.path)
        if f.field == "language" and match:
            found.add((int(match[1]), match[2]))
    return found


ARTICLE_PATH = re.compile(r"(?:^|/)issues/(\d+)/([^/]+)\.md$")


def check_archive(
    candidates: Iterable[Article],
    archive: Iterable[Entry],
    broken: Iterable[tuple[int, str]] = (),
    media: Media | None = None,
    foreign: Iterable[tuple[int, str]] = (),
) -> list[Finding]:
    """Findings for ``candidates`` checked against every entry of ``archive``.

    A candidate replaces an archive entry with its path (an edit); ``broken`` names
    articles that exist but are invalid themselves, so a translation of one is not
    reported as pointing at nothing. With ``media``, each candidate's photographs are
    checked against the files of its issue.
    """
    candidates = list(candidates)
    replaced = {a.path for a in candidates}
    entries = [e for e in archive if e.path not in replaced] + [Entry.of(a) for a in candidates]
    broken, foreign = set(broken), set(foreign)
    by_key: dict[tuple[int, str], list[Entry]] = defaultdict(list)
    by_slug: dict[str, list[Entry]] = defaultdict(list)
    translations: dict[tuple[int, str, str], list[Entry]] = defaultdict(list)
    # Per issue and language, each tag page's spellings (and the first article with each):
    # two spellings of one page are a finding on every article using either, so which is
    # right is never decided by the order articles happen to be read in.
    spellings: dict[tuple[int, str, str], dict[str, str]] = defaultdict(dict)
    for entry in sorted(entries, key=lambda e: e.path):
        by_key[(entry.issue, entry.slug)].append(entry)
        by_slug[entry.slug].append(entry)
        if entry.translation_of:
            translations[(entry.issue, entry.translation_of, entry.language)].append(entry)
        for tag in entry.tags:
            spellings[(entry.issue, entry.language, fold(tag))].setdefault(tag, entry.path)

    findings = []
    per_issue: dict[int, list[str]] = defaultdict(list)
    for number, slug in by_key:
        per_issue[number].append(slug)
    over = {
        (number, slug)
        for number, slugs in per_issue.items()
        if len(slugs) > MAX_ARTICLES_PER_ISSUE
        for slug in sorted(slugs)[MAX_ARTICLES_PER_ISSUE:]
    }
    for article in candidates:

        def report(
            field: str | None, message: str, article: Article = article, severity: str = "error"
        ) -> None:
            line = article.lines.get(field, 1) if field else 1
            findings.append(Finding(article.path, line, 1, field, message, severity))

        if article.key in over:
            report(
                None,
                f"issue {article.issue} holds more than {MAX_ARTICLES_PER_ISSUE} articles: "
                "this one and those after it (in file name order) are not published; "
                "move some to another issue",
            )
            continue
        if media is not None:
            findings.extend(check_photos(article, media.get(article.issue, {})))
        for tag in article.tags:
            others = spellings[(article.issue, article.language, fold(tag))]
            for spelled, by in sorted(others.items(), key=lambda pair: pair[1]):
                if spelled == tag:
                    continue
                report(
                    "tags",
                    f"'{tag}' and '{spelled}' (in {by}) would share one page "
                    f"(/{article.language}/tags/{fold(tag)}/): write them the same way",
                )
                break
        clashes = [e for e in by_key[article.key] if e.path != article.path]
        for other in clashes:
            report(
                None,
                f"slug '{article.slug}' is already used in issue {article.issue} "
                f"by {other.path}: rename one of them",
            )
        target = article.translation_of
        if not target:
            continue
        here = by_key.get((article.issue, target), [])
        if not here:
            if (article.issue, target) in foreign:
                report(
                    "translation_of",
                    f"'{target}' is not in a language this site has: this one is "
                    "published on its own",
                    severity=WARNING,
                )
                continue
            if (article.issue, target) in broken:
                report("translation_of", f"'{target}' has errors of its own: fix it first")
                continue
            elsewhere = sorted({e.issue for e in by_slug.get(target, [])})
            if elsewhere:
                report(
                    "translation_of",
                    f"'{target}' is in issue "
                    f"{', '.join(map(str, elsewhere))}, not {article.issue}: a translation "
                    "lives in the same issue as its original",
                )
            else:
                report(
                    "translation_of",
                    f"no article '{target}' in issue {article.issue}: "
                    "give the file name, without .md, of the article this translates",
                )
            continue
        original = here[0]
        if original.language == article.language:
            report(
                "translation_of",
                f"'{target}' is also in '{article.language}': a "
                "translation must be in another language",
            )
        elif original.translation_of:
            report(
                "translation_of",
                f"'{target}' is itself a translation of "
                f"'{original.translation_of}': point at '{original.translation_of}'",
            )
        rivals = [
            e
            for e in translations[(article.issue, target, article.language)]
            if e.path != article.path
        ]
        for rival in rivals:
            report(
                "translation_of",
                f"'{target}' already has a translation into '{article.language}': {rival.path}",
            )
    return findings


@dataclass
class Verdict:
    """What publishing one issue folder decides, article by article."""

    findings: list[Finding]  # every problem in the folder as committed, as validate says it
    published: list[Article]  # what goes out: committed versions, and held-back ones
    held_back: list[str] = field(default_factory=list)  # slugs kept at an earlier version
    refused: list[str] = field(default_factory=list)  # slugs with findings and nothing kept
    # photographs the commit deleted or broke, kept at their published version for the
    # articles published that still use them
    kept_photos: list[str] = field(default_factory=list)


def check_settled(
    candidates: Iterable[Article],
    archive: Iterable[Entry],
    broken: Iterable[tuple[int, str]] = (),
    media: Media | None = None,
    foreign: Iterable[tuple[int, str]] = (),
) -> list[Finding]:
    """``check_archive`` until no more articles fall: one refused for a problem beside
    others (its photograph, a tag spelled two ways) is, to the rest, an article with
    errors, so a translation of it waits too, as it would for one that does not parse."""
    candidates, archive, broken = list(candidates), list(archive), set(broken)
    findings: list[Finding] = []
    while candidates:
        found = check_archive(candidates, archive, broken, media, foreign)
        findings += found
        refused = {f.path for f in errors(found)}
        if not refused:
            break
        broken |= {(a.issue, a.slug) for a in candidates if a.path in refused}
        candidates = [a for a in candidates if a.path not in refused]
        archive = [e for e in archive if e.path not in refused]
    return findings


def judge_issue(
    number: int,
    committed: Iterable[tuple[str, Article | None, list[Finding]]],
    accepted: Mapping[str, Article] | None = None,
    media: Mapping[str, Photo] | None = None,
    published_media: Mapping[str, Photo] | None = None,
    successors: Mapping[str, str] | None = None,
) -> Verdict:
    """Decide an issue folder: ``committed`` is each article file as read on its own
    (its slug, the article or None, its findings); ``accepted`` what was published of
    each slug before; ``media`` the folder's photographs as committed, and
    ``published_media`` those the articles published before used.

    Every committed article is checked against the others, as ``broadsheet validate``
    checks them. One with findings keeps its accepted version when it has one, as long
    as that version still fits beside what the commit brings (its translation target
    exists, no rival translation): an editor's mistake never takes a published article
    down. Held-back versions are checked against each other until none is dropped, so
    deciding the same folder again decides the same.

    A photograph is held back the same way: one published before that the commit
    deletes, or replaces with a file that is not a photograph, stays at its published
    version while an article published uses it. The findings are validate's (the
    article names the file it lacks), but the articles are decided as though the
    photograph were still there: its deletion waits until no article uses it. So is an
    original the commit deletes (or renames) while a translation published points at
    it: the translation keeps its original, until it points elsewhere or goes too.

    And an article renamed into a file with findings (a rename and a typo in one
    commit): ``successors`` maps each accepted slug the folder no longer holds to the
    slug its renames lead to here. While that one is refused, the old one stays at its
    accepted version, at its old address; once it is accepted, the old one goes and
    its address redirects.
    """
    committed = list(committed)
    accepted = accepted or {}
    media = dict(media or {})
    fallback = {
        name: photo
        for name, photo in (published_media or {}).items()
        if photo.problem is None and (name not in media or media[name].problem is not None)
    }
    deciding = {number: {**media, **fallback}}
    findings = [f for _slug, _article, found in committed for f in found]
    alone = [a for _slug, a, found in committed if a is not None and not found]
    broken = [(number, slug) for slug, a, found in committed if a is None or found]
    gone = in_no_site_language(findings)
    entries = [Entry.of(a) for a in alone]
    findings.extend(check_settled(alone, entries, broken, {number: media}, gone))
    rejected = [slug for slug, a, found in committed if a is None or found]
    # An original the commit deletes while an article published translates it stays at
    # its accepted version: begin with every one a translation at hand points at, and
    # let go of those no article published points at until none is let go.
    present = {slug for slug, _a, _f in committed}
    targets = {a.translation_of for a in [*alone, *accepted.values()] if a.translation_of}
    originals = {
        slug: a
        for slug, a in accepted.items()
        if slug not in present and slug in targets and not a.translation_of
    }
    while True:
        kept = [Entry.of(a) for a in originals.values()]
        against = check_settled(alone, entries + kept, broken, deciding, gone)
        refused_paths = {f.path for f in errors(against)}
        current = [a for a in alone if a.path not in refused_paths]
        refused = rejected + [a.slug for a in alone if a.path in refused_paths]
        held = {slug: accepted[slug] for slug in refused if slug in accepted} | originals
        held |= {
            slug: accepted[slug]
            for slug, successor in (successors or {}).items()
            if slug in accepted and slug not in present and successor in refused
        }
        archive = [Entry.of(a) for a in current]
        while held:
            problems = check_archive(held.values(), archive, media=deciding, foreign=gone)
            failing = {f.path for f in errors(problems)}
            if not failing:
                break
            held = {slug: a for slug, a in held.items() if a.path not in failing}
        pointed = {a.translation_of for a in [*current, *held.values()] if a.translation_of}
        still = {slug: a for slug, a in originals.items() if slug in held and slug in pointed}
        if still == originals:
            break
        originals = still
    rejected = refused
    findings.sort()
    published = current + list(held.values())
    used = {ref.src for article in published for ref in article.photos}
    return Verdict(
        findings,
        published,
        sorted(held),
        sorted(set(rejected) - set(held)),
        sorted(used & set(fallback)),
    )
