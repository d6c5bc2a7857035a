"""A throwaway git repository holding a copy of the demo content (or nothing yet)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import CONTENT


class Repo:
    """A repository whose content folder starts as a copy of ``source`` (the demo)."""

    def __init__(self, root: Path, source: Path | None = CONTENT) -> None:
        self.root = root
        self.content = root / "content"
        if source is not None:
            shutil.copytree(source, self.content)
        self.content.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.name", "Ed Itor")
        self.git("config", "user.email", "editor@example.org")
        if any(self.content.iterdir()):
            self.commit("The content as it starts")

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.root), *args], check=True, capture_output=True, text=True
        ).stdout

    def write(self, path: str, text: str) -> None:
        target = self.content / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").strip()
