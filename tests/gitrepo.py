"""A small helper for real throwaway git repositories in tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Mapping, Optional


class GitRepo:
    """A real git repository in a temp folder, driven through the git command line."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def init(cls, path: Path, branch: str = "main") -> "GitRepo":
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path)
        repo.git("init", "-q", "-b", branch)
        repo.git("config", "user.name", "Test Author")
        repo.git("config", "user.email", "author@example.com")
        repo.git("config", "commit.gpgsign", "false")
        return repo

    def git(self, *args: str, env: Optional[Mapping[str, str]] = None) -> str:
        full_env = {**os.environ, **(env or {})}
        result = subprocess.run(
            ["git", *args], cwd=self.path, env=full_env, check=True,
            capture_output=True, text=True,
        )
        return result.stdout.strip()

    def write(self, relpath: str, content: str) -> None:
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)

    def commit(
        self,
        message: str,
        files: Optional[Mapping[str, Optional[str]]] = None,
        date: str = "2024-01-16T10:00:00+00:00",
    ) -> str:
        """Write (or, for a None value, delete) files, commit them at `date`, return the sha."""
        for relpath, content in (files or {"file.txt": message}).items():
            if content is None:
                self.git("rm", "-q", relpath)
            else:
                self.write(relpath, content)
                self.git("add", relpath)
        dated = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        self.git("commit", "-q", "--allow-empty", "-m", message, env=dated)
        return self.head()

    def merge(self, branch: str, message: str, date: str = "2024-01-16T10:00:00+00:00") -> str:
        """Merge `branch` into the current branch with a merge commit at `date`, return its sha."""
        dated = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        self.git("merge", "-q", "--no-ff", "-m", message, branch, env=dated)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, annotated: bool = False) -> None:
        if annotated:
            self.git("tag", "-a", name, "-m", name)
        else:
            self.git("tag", name)

    def clone(self, dest: Path, depth: Optional[int] = None) -> "GitRepo":
        args = ["clone", "-q"]
        if depth is not None:
            args += ["--depth", str(depth)]
        subprocess.run(
            ["git", *args, f"file://{self.path}", str(dest)], check=True, capture_output=True
        )
        clone = GitRepo(dest)
        clone.git("config", "user.name", "Test Author")
        clone.git("config", "user.email", "author@example.com")
        return clone
