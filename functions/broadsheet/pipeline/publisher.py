"""``broadsheet publish``: turn the commits since the last publish into manifests.

Each commit gets one manifest: the issue folders it touches, each as a whole tree, and
the files it changed uploaded by git object id. The first publish (or ``--snapshot``) is
HEAD alone, every issue folder included: a snapshot of everything, not a replay of
history. Committed bytes are read from git, never the working tree, and every name git
gives is read NUL-separated, so no file name, however odd, stops a publish: a bad name
is a finding for validate like any other.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from broadsheet.adapters.store import ObjectStore, PreconditionFailed, put_new
from broadsheet.content.issue import is_article_name, misplaced
from broadsheet.edition import urls
from broadsheet.errors import CommandError
from broadsheet.pipeline.manifest import (
    SITE_PATH,
    SUBMODULE,
    Change,
    Head,
    Manifest,
    Rename,
    Touch,
    Tree,
    issue_of,
)
from broadsheet.pipeline.messages import HEAD_KEY, blob_key, manifest_key, tree_key
from broadsheet.pipeline.release import release


def _name(raw: bytes) -> str:
    # git hands names over as bytes; one that is not UTF-8 keeps its bytes visible.
    return raw.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Git:
    repo: Path  # the repository's top folder
    content: str = "content"  # the content folder inside it ("" when it is the top)

    @classmethod
    def of(cls, content: Path) -> Git:
        """The repository holding a content folder, and where that folder sits in it."""
        if not content.is_dir():
            raise CommandError(f"{content}/ is not a folder", 2)
        try:
            top = subprocess.run(
                ["git", "-C", str(content), "rev-parse", "--show-toplevel", "--show-prefix"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split("\n")
        except subprocess.CalledProcessError as error:
            raise CommandError(f"{content}/ is not inside a git repository", 2) from error
        return cls(Path(top[0]), top[1].rstrip("/"))

    def _prefix(self) -> str:
        return f"{self.content}/" if self.content else ""

    def run(self, *args: str) -> bytes:
        result = subprocess.run(["git", "-C", str(self.repo), *args], capture_output=True)
        if result.returncode != 0:
            error = result.stderr.decode(errors="replace").strip()
            raise CommandError(f"git {' '.join(args)}: {error}")
        return result.stdout

    def leads_to_head(self, commit: str) -> bool:
        """Whether HEAD descends from ``commit`` (false when history was rewritten)."""
        result = subprocess.run(
            ["git", "-C", str(self.repo), "merge-base", "--is-ancestor", commit, "HEAD"],
            capture_output=True,
        )
        return result.returncode == 0

    def head(self) -> str:
        return self.run("rev-parse", "HEAD").decode().strip()

    def branch(self) -> str | None:
        """The branch checked out (None: a detached HEAD)."""
        result = subprocess.run(
            ["git", "-C", str(self.repo), "symbolic-ref", "--quiet", "--short", "HEAD"],
            capture_output=True,
        )
        return result.stdout.decode().strip() or None if result.returncode == 0 else None

    def commits_since(self, last: str) -> list[str]:
        """The commits after ``last`` on the first-parent line to HEAD, oldest first."""
        return self.run("rev-list", "--reverse", "--first-parent", f"{last}..HEAD").decode().split()

    def parent(self, commit: str) -> str | None:
        parents = self.run("rev-list", "--parents", "-n", "1", commit).decode().split()[1:]
        return parents[0] if parents else None

    def changes(self, commit: str, parent: str | None) -> list[Change]:
        """What git says changed under the content folder, renames detected."""
        prefix = self._prefix()
        if parent is None:
            raw = self.run(
                "diff-tree",
                "-r",
                "-z",
                "--root",
                "--name-status",
                "-M",
                commit,
                "--",
                prefix or ".",
            )
        else:
            raw = self.run("diff", "-z", "--name-status", "-M", parent, commit, "--", prefix or ".")
        tokens = [_name(t) for t in raw.split(b"\0") if t]
        if parent is None and tokens and tokens[0] == commit:
            tokens = tokens[1:]
        changes = []
        index = 0
        while index < len(tokens):
            status = tokens[index]
            if status[0] in "RC":
                old, new = tokens[index + 1], tokens[index + 2]
                index += 3
                old, new = old[len(prefix) :], new[len(prefix) :]
                changes.append(Change("R", new, old) if status[0] == "R" else Change("A", new))
            else:
                path = tokens[index + 1][len(prefix) :]
                index += 2
                changes.append(Change("M" if status[0] == "T" else status[0], path))
        return changes

    def rename_history(self, commit: str) -> list[tuple[str, str, str]]:
        """Every rename under the content folder on the first-parent line to ``commit``,
        oldest first: (the commit, old path, new path), content-relative."""
        prefix = self._prefix()
        raw = self.run(
            "log",
            "--first-parent",
            "--reverse",
            "-M",
            "--diff-filter=R",
            "--name-status",
            "-z",
            "--pretty=format:%x01%H",
            commit,
            "--",
            prefix or ".",
        )
        found = []
        for chunk in raw.split(b"\x01")[1:]:
            sha, _, rest = chunk.partition(b"\n")
            tokens = [_name(t) for t in rest.split(b"\0") if t]
            for at in range(0, len(tokens) - 2, 3):
                if tokens[at].startswith("R"):
                    old, new = tokens[at + 1], tokens[at + 2]
                    found.append((sha.decode(), old[len(prefix) :], new[len(prefix) :]))
        return found

    def show(self, commit: str, path: str) -> bytes | None:
        """A content file's bytes at ``commit`` (None: not there)."""
        result = subprocess.run(
            ["git", "-C", str(self.repo), "show", f"{commit}:{self._prefix()}{path}"],
            capture_output=True,
        )
        return result.stdout if result.returncode == 0 else None

    def listing(self, commit: str, paths: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Every file under ``paths`` (content-relative) at ``commit``: path → (mode, id)."""
        prefix = self._prefix()
        wanted = [prefix + p for p in paths]
        if not wanted:
            return {}
        raw = self.run("ls-tree", "-r", "-z", "--full-tree", commit, "--", *wanted)
        found = {}
        for line in raw.split(b"\0"):
            if not line:
                continue
            meta, _, path = line.partition(b"\t")
            mode, _kind, oid = meta.decode().split()
            found[_name(path)[len(prefix) :]] = (mode, oid)
        return found

    def blobs(self, oids: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """The bytes of each object, through one ``git cat-file --batch``."""
        wanted = list(dict.fromkeys(oids))
        if not wanted:
            return
        process = subprocess.Popen(
            ["git", "-C", str(self.repo), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            for oid in wanted:
                process.stdin.write(oid.encode() + b"\n")
                process.stdin.flush()
                header = process.stdout.readline().split()
                if len(header) != 3:  # "<oid> missing": what a listing names is not here
                    raise CommandError(f"git object {oid} is not in {self.repo}")
                size = int(header[2])
                data = process.stdout.read(size)
                process.stdout.read(1)  # the newline after the object
                yield oid, data
        finally:
            process.stdin.close()
            process.wait()

    def commit_info(self, commit: str) -> tuple[str, str]:
        text = self.run("log", "-1", "--format=%an <%ae>%x00%cI", commit).decode().strip()
        author, _, time = text.partition("\0")
        return author, time


def _front_matter(data: bytes) -> dict[str, object]:
    """An article's front matter, as far as it reads (empty when it does not)."""
    import yaml

    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    if not text.startswith("---"):
        return {}
    block = text[3:].split("\n---", 1)[0]
    try:
        found = yaml.safe_load(block)
    except (yaml.YAMLError, ValueError):  # ValueError: a date no calendar has (2025-13-40)
        return {}
    return found if isinstance(found, dict) else {}


def renames_before(git: Git, commit: str) -> tuple[Rename, ...]:
    """The renames of articles in the history up to ``commit``, each with the address the
    old article had if it was public when it was renamed (a draft's, or an embargoed
    one's before its release, is never made a redirect)."""
    found = []
    for sha, old, new in git.rename_history(commit):
        number = issue_of(old)
        if number is None or issue_of(new) is None or not is_article_name(old.split("/")[-1]):
            continue
        url = None
        parent = git.parent(sha)
        front = _front_matter(git.show(parent, old) or b"") if parent else {}
        language, status = front.get("language"), front.get("status", "published")
        embargo = front.get("publish_at")
        moment = dt.datetime.fromisoformat(git.commit_info(sha)[1])
        held = embargo is not None and not (
            isinstance(embargo, dt.datetime) and embargo.tzinfo and embargo <= moment
        )
        if isinstance(language, str) and status == "published" and not held:
            url = urls.article(language, number, old.split("/")[-1].removesuffix(".md"))
        found.append(Rename(old, new, url))
    return tuple(found)


def _upload(git: Git, store: ObjectStore, oids: Iterable[str]) -> int:
    """Upload what is not there yet; a blob is immutable under its id."""
    return sum(put_new(store, blob_key(oid), data) for oid, data in git.blobs(oids))


def _put_tree(store: ObjectStore, tree: Tree) -> str:
    put_new(store, tree_key(tree.digest), tree.to_json(), content_type="application/json")
    return tree.digest


def manifest_for(
    git: Git, store: ObjectStore, commit: str, head: Head | None, *, snapshot: bool = False
) -> Manifest:
    """The manifest of one commit after ``head``, its changed files and trees uploaded.
    A snapshot (always so when nothing was published yet) lists every issue folder,
    those that are gone included."""
    snapshot = snapshot or head is None
    parent = git.parent(commit)
    touches = head.touches if head else {}
    changes = [] if snapshot else git.changes(commit, parent)
    changed = {p for c in changes for p in (c.path, c.old_path) if p}
    site_changed = snapshot or SITE_PATH in changed
    if site_changed:
        listed = git.listing(commit, ["issues/"])
        folders = {issue_of(p) for p in listed} | set(touches)
    else:
        folders = {issue_of(p) for p in changed}
        # What changed outside any issue folder is listed too: a gitlink can be there.
        loose = sorted(p for p in changed if issue_of(p) is None and p != SITE_PATH)
        listed = git.listing(
            commit, [*(f"issues/{n}/" for n in sorted(n for n in folders if n)), *loose]
        )
    # A submodule is another repository's commit: it has no bytes here, so it is read as
    # nothing (as the build reads a folder with a .git in it) and named as a finding.
    submodules = {p for p, (mode, _) in listed.items() if mode == SUBMODULE}
    listed = {p: e for p, e in listed.items() if p not in submodules}
    numbers = sorted(n for n in folders if n is not None)
    # What this commit adds that will not be read (a snapshot: all there is), so the
    # editor hears of it once; what it removes is no longer anyone's concern.
    present = listed if snapshot else [c.path for c in changes if c.status != "D"]
    ignored = sorted(p for p in present if p not in submodules and misplaced(p))
    site = git.listing(commit, [SITE_PATH]).get(SITE_PATH)
    if site is not None and site[0] == SUBMODULE:
        submodules.add(SITE_PATH)
    announced = sorted(p for p in submodules if snapshot or p in changed)
    # Only what this commit changed is uploaded: the rest was uploaded when it changed.
    fresh = [e[1] for p, e in listed.items() if snapshot or p in changed]
    if site is not None and site_changed and site[0] != SUBMODULE:
        fresh.append(site[1])
    _upload(git, store, (oid for oid in fresh))
    issues = {}
    for number in numbers:
        folder = f"issues/{number}/"
        files = {p[len(folder) :]: e for p, e in listed.items() if p.startswith(folder)}
        tree = _put_tree(store, Tree(files)) if files else None
        issues[number] = Touch(tree, touches.get(number, 0))
    author, time = git.commit_info(commit)
    return Manifest(
        commit=commit,
        sequence=(head.sequence if head else 0) + 1,
        parent=parent,
        author=author,
        time=time,
        site_blob=site[1] if site and site[0] != SUBMODULE else None,
        issues=issues,
        changes=tuple(changes),
        ignored=tuple(ignored),
        submodules=tuple(announced),
        snapshot=snapshot,
        site_mode=site[0] if site else "100644",
        history=renames_before(git, commit) if snapshot else (),
        release=release(),
    )


def read_head(store: ObjectStore) -> tuple[Head | None, str | None]:
    stored = store.get(HEAD_KEY)
    return (Head.from_json(stored.body), stored.etag) if stored else (None, None)


def history_rewritten(git: Git, head: Head | None) -> bool:
    """Whether the last published commit is no longer in HEAD's history (an amend, a
    rebase, a reset): then only a snapshot of HEAD can say what the site should be."""
    return head is not None and not git.leads_to_head(head.commit)


# The most commits one publish sends one by one (a push of more is published as one
# snapshot of HEAD): the bound of a publish's cost, whatever is pushed.
MAX_COMMITS = 25


def publish(
    git: Git,
    store: ObjectStore,
    *,
    snapshot: bool = False,
    say: Callable[[str], object] = print,
) -> list[str]:
    """Upload one manifest per unpublished commit; returns the commits published."""
    head, etag = read_head(store)
    if head is not None and not snapshot and history_rewritten(git, head):
        raise CommandError(
            f"the last published commit {head.commit[:12]} is not in the history of HEAD "
            "(history rewritten?): run `broadsheet publish --snapshot` to publish HEAD "
            "as a whole"
        )
    commits = [git.head()] if head is None or snapshot else git.commits_since(head.commit)
    if len(commits) > MAX_COMMITS:
        # Each commit is a manifest, its issues' jobs and an invalidation: a push of
        # thousands would cost thousands of each. HEAD as a whole costs one of each.
        say(
            f"{len(commits)} commits since the last publish, more than {MAX_COMMITS}: "
            "publishing HEAD as one snapshot"
        )
        commits, snapshot = [git.head()], True
    for commit in commits:
        manifest = manifest_for(git, store, commit, head, snapshot=snapshot)
        touches = dict(head.touches) if head else {}
        touches.update({n: manifest.sequence for n in manifest.issues})
        store.put(manifest_key(commit), manifest.to_json(), content_type="application/json")
        new_head = Head(commit, manifest.sequence, touches)
        try:
            etag = store.put(
                HEAD_KEY,
                new_head.to_json(),
                content_type="application/json",
                if_match=etag,
                if_none_match=etag is None,
            )
        except PreconditionFailed as error:
            raise CommandError(
                "another `broadsheet publish` ran at the same time: run it again"
            ) from error
        head, snapshot = new_head, False
        say(
            f"{commit[:12]}  {len(manifest.issues)} issue(s) touched; follow it with "
            f"`broadsheet status {commit[:12]}`"
        )
    if not commits:
        say("nothing to publish: every commit is already published")
    return commits
