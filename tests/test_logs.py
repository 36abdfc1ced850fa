"""Logs of the long-running commands: -v/--verbose, --log-format text|json, the screen's
recorder log in the XDG state dir, and shell completion."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from timetravel import host
from timetravel.commands.logs import (
    StatusLines,
    level_for,
    log_args,
    mask,
    setup_logging,
    status,
    stop_logging,
)
from timetravel.recorder import background

from .gitrepo import GitOpsRepo
from .recording import configmap, wait_for

TIMETRAVEL = Path(sys.executable).parent / "timetravel"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """What the timetravel loggers write, set up as a command sets them up."""
    out = io.StringIO()
    yield out
    # Back to no handler of ours: other tests' commands set up their own.
    stop_logging()
    logging.getLogger("timetravel").setLevel(logging.NOTSET)


def _lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_levels_by_verbose() -> None:
    assert [level_for(n) for n in (0, 1, 2, 3)] == [
        logging.WARNING,
        logging.INFO,
        logging.DEBUG,
        logging.DEBUG,
    ]


@pytest.mark.parametrize(
    ("verbose", "shown"),
    [
        (0, ["timetravel: recording", "timetravel: warning: slow"]),
        (1, ["timetravel: recording", "timetravel: backfill", "timetravel: warning: slow"]),
        (
            2,
            [
                "timetravel: recording",
                "timetravel: [timetravel.x] backfill",
                "timetravel: [timetravel.x] commit abc",
                "timetravel: [timetravel.x] warning: slow",
            ],
        ),
    ],
)
def test_text_shows_status_always_and_logs_by_level(
    stream: io.StringIO, verbose: int, shown: list[str]
) -> None:
    setup_logging(verbose, "text", stream)
    logger = logging.getLogger("timetravel.x")
    status("recording")
    logger.info("backfill")
    logger.debug("commit abc")
    logger.warning("slow")
    assert _lines(stream) == shown


def test_json_is_one_object_a_line(stream: io.StringIO) -> None:
    setup_logging(1, "json", stream)
    status("recording git only (1 repositories)", repositories=1)
    logging.getLogger("timetravel.commands.record").info(
        "backfill of %s", "repo:/src/gitops#main", extra={"source": "repo:/src/gitops#main"}
    )
    logging.getLogger("timetravel.x").error("line\nbreak")
    entries = [json.loads(line) for line in _lines(stream)]
    assert len(entries) == 3
    for entry in entries:
        assert list(entry)[:4] == ["time", "level", "logger", "message"]
        stamp = datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))
        assert stamp.tzinfo is not None
        assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert entries[0] == {
        "time": entries[0]["time"],
        "level": "info",
        "logger": "timetravel.status",
        "message": "recording git only (1 repositories)",
        "repositories": 1,
    }
    assert entries[1]["message"] == "backfill of repo:/src/gitops#main"
    assert entries[1]["source"] == "repo:/src/gitops#main"
    assert entries[2]["level"] == "error"
    assert entries[2]["message"] == "line\nbreak"  # escaped: still one line


def test_no_passwords_and_no_secret_fields(stream: io.StringIO) -> None:
    setup_logging(2, "json", stream)
    logger = logging.getLogger("timetravel.x")
    logger.info(
        "connecting to %s",
        "postgresql://tt:hunter2@db:5432/tt?sslmode=require",
        extra={
            "db": "postgresql://tt:hunter2@db/tt",
            "password": "hunter2",
            "git_token": "ghp_abc",
            "redaction_key": "k",
        },
    )
    text = stream.getvalue()
    assert "hunter2" not in text and "ghp_abc" not in text
    entry = json.loads(text)
    assert entry["message"] == "connecting to postgresql://tt:***@db:5432/tt?sslmode=require"
    assert entry["db"] == "postgresql://tt:***@db/tt"
    assert not {"password", "git_token", "redaction_key"} & set(entry)


def test_text_masks_passwords_too(stream: io.StringIO) -> None:
    setup_logging(0, "text", stream)
    status("standing by: https://bot:s3cret@git.example.com/gitops.git is recorded by pid 7")
    assert _lines(stream) == [
        "timetravel: standing by: https://bot:***@git.example.com/gitops.git is recorded by pid 7"
    ]
    assert mask("no url here") == "no url here"


def test_status_lines_become_records(stream: io.StringIO) -> None:
    setup_logging(0, "json", stream)
    lines = StatusLines()
    lines.write("timetravel: recording prod (https://k8s): 3 resource types, ")
    lines.write("0 events\ntimetravel: stopped\n")
    messages = [json.loads(line)["message"] for line in _lines(stream)]
    assert messages == ["recording prod (https://k8s): 3 resource types, 0 events", "stopped"]


def test_log_args_for_the_screens_recorder() -> None:
    assert log_args(0, "text") == ["--log-format", "text"]
    assert log_args(2, "json") == ["-vv", "--log-format", "json"]


def test_state_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert host.state_dir() == tmp_path / "state" / "timetravel"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert host.state_dir() == tmp_path / "home" / ".local" / "state" / "timetravel"


def test_screens_recorder_logs_into_the_state_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    repo = GitOpsRepo(tmp_path / "repo")
    repo.write("app.yaml", configmap("web", a="1"))
    repo.commit("first", datetime(2026, 11, 19, 21, 0, tzinfo=UTC))
    plan = background.plan(
        tmp_path / "t.db", repos=(str(repo.path),), log_args=("-v", "--log-format", "json")
    )
    assert plan is not None
    assert plan.argv(with_cluster=False)[-3:] == ["-v", "--log-format", "json"]
    recorder = background.BackgroundRecorder(plan)
    assert recorder.log_path.parent == tmp_path / "state" / "timetravel"
    recorder.start()
    try:
        wait_for(lambda: "recording git only" in recorder.last_line(), what="the recorder")
        assert recorder.status().startswith("git-only")
    finally:
        recorder.stop()
    # Kept after the screen ends, every line an object.
    lines = recorder.log_path.read_text().splitlines()
    assert lines and all(json.loads(line)["message"] for line in lines)
    assert recorder.last_line() == "timetravel: SIGTERM received; stopping"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIMETRAVEL_", "KUBE"))}
    return {**env, "HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(tmp_path / "state")}


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_record_writes_its_log(tmp_path: Path, log_format: str) -> None:
    repo = GitOpsRepo(tmp_path / "repo")
    repo.write("app.yaml", configmap("web", a="1"))
    repo.commit("first", datetime(2026, 11, 19, 21, 0, tzinfo=UTC))
    log = tmp_path / "record.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "timetravel",
                "record",
                "--repo",
                str(repo.path),
                "--db",
                str(tmp_path / "t.db"),
                "-v",
                "--log-format",
                log_format,
            ],
            env=_env(tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        wait_for(lambda: "recording git only" in log.read_text(), what="the recorder")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    lines = log.read_text().splitlines()
    if log_format == "text":
        assert "timetravel: recording git only (1 repositories)" in lines
        assert any(line.startswith("timetravel: backfill of repo:") for line in lines)
        assert "timetravel: SIGINT received; stopping" in lines
        return
    entries = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    said = [(e["logger"], e["message"]) for e in entries]
    assert ("timetravel.status", "recording git only (1 repositories)") in said
    backfill = next(e for e in entries if e["message"].startswith("backfill of"))
    assert backfill["source"].startswith("repo:")


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "_timetravel_completion()"),
        ("zsh", "#compdef timetravel"),
        ("fish", "function _timetravel_completion"),
    ],
)
def test_shell_completion_script(tmp_path: Path, shell: str, marker: str) -> None:
    """What the README tells each shell to run gives a completion script."""
    result = subprocess.run(
        [str(TIMETRAVEL)],
        env={**_env(tmp_path), "_TIMETRAVEL_COMPLETE": f"{shell}_source"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert marker in result.stdout
    assert "_TIMETRAVEL_COMPLETE" in result.stdout


def test_completion_completes_commands(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(TIMETRAVEL)],
        env={
            **_env(tmp_path),
            "_TIMETRAVEL_COMPLETE": "bash_complete",
            "COMP_WORDS": "timetravel rec",
            "COMP_CWORD": "1",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert "plain,record" in result.stdout.splitlines()
