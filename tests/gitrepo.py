"""Real git repositories for tests, with commits at chosen times."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import git
import yaml


class GitOpsRepo:
    """A real repository in a temporary directory, written to like a person would."""

    def __init__(self, path: Path, branch: str = "main") -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.repo = git.Repo.init(path, initial_branch=branch)
        with self.repo.config_writer() as config:
            config.set_value("user", "name", "Dana Dev")
            config.set_value("user", "email", "dana@example.com")

    def write(self, relpath: str, *objects: dict[str, Any]) -> None:
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump_all(objects, sort_keys=False))

    def remove(self, relpath: str) -> None:
        self.repo.index.remove([relpath], working_tree=True)

    def commit(self, message: str, when: datetime) -> str:
        self.repo.git.add(A=True)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S%z")
        commit = self.repo.index.commit(
            message,
            author_date=stamp,
            commit_date=stamp,
        )
        return str(commit.hexsha)
