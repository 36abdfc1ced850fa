"""The container image (Dockerfile) installs the package as the README does, and what it
copies is enough: no image can be built here (no docker daemon), so the files the
Dockerfile copies are copied into a directory of their own, installed the Dockerfile's
way into a new venv, and run as the image runs them (uid 10001 where the test runs as
root; HOME not writable, XDG directories under the data volume)."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMAGE_UID = 10001


# --- reading the Dockerfile and the README --------------------------------------------------


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    steps: list[tuple[str, str]]  # (INSTRUCTION, arguments), continuation lines joined

    def all(self, instruction: str) -> list[str]:
        return [args for op, args in self.steps if op == instruction]


def dockerfile_stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """The global ARGs and the stages of a Dockerfile (comments dropped, lines joined)."""
    steps: list[tuple[str, str]] = []
    line = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not line):
            continue  # a comment, also inside a continued instruction, as docker reads it
        if stripped.endswith("\\"):
            line += stripped[:-1] + " "
            continue
        line += stripped
        op, _, rest = line.partition(" ")
        steps.append((op.upper(), rest.strip()))
        line = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for op, rest in steps:
        if op == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, []))
        elif not stages:
            assert op == "ARG", f"{op} before the first FROM"
            key, _, value = rest.partition("=")
            args[key] = value
        else:
            stages[-1].steps.append((op, rest))
    return args, stages


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell line (split at &&, ;, |), as argument lists."""
    words = shlex.split(script, posix=True)
    commands: list[list[str]] = [[]]
    for word in words:
        if word in {"&&", ";", "|", "||"}:
            commands.append([])
        else:
            commands[-1].append(word)
    return [c for c in commands if c]


@dataclass(frozen=True)
class Install:
    pip: str  # the pip that runs: <venv>/bin/pip
    venv: str | None  # the venv made before it in the same command line
    path: str  # what is installed: a directory
    extras: frozenset[str]
    editable: bool


def installs(script: str) -> list[Install]:
    """Every `pip install` of a shell line, with the venv made before it."""
    found: list[Install] = []
    venv = None
    for command in shell_commands(script):
        if command[1:3] == ["-m", "venv"]:
            venv = command[-1]
        if len(command) >= 3 and command[0].endswith("pip") and command[1] == "install":
            editable = "-e" in command
            (spec,) = [w for w in command[2:] if not w.startswith("-")]
            match = re.fullmatch(r"([^\[\]]+)(?:\[([^\]]*)\])?", spec)
            assert match, spec
            extras = frozenset(e.strip() for e in (match[2] or "").split(",") if e.strip())
            found.append(Install(command[0], venv, match[1], extras, editable))
    return found


def readme_installs() -> list[Install]:
    text = (ROOT / "README.md").read_text()
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", quick_start, flags=re.S)
    return [i for block in blocks for line in block.splitlines() for i in installs(line)]


DOCKERFILE = (ROOT / "Dockerfile").read_text()
ARGS, STAGES = dockerfile_stages(DOCKERFILE)
FINAL = STAGES[-1]


def build_stage() -> Stage:
    (stage,) = [s for s in STAGES if s.name == "build"]
    return stage


def dockerfile_install() -> tuple[Install, str]:
    """The Dockerfile's one pip install, and the WORKDIR it runs in."""
    workdir = "/"
    found = []
    for op, rest in build_stage().steps:
        if op == "WORKDIR":
            workdir = rest
        if op == "RUN":
            found += [(i, workdir) for i in installs(rest)]
    assert len(found) == 1, found
    return found[0]


def final_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in FINAL.all("ENV"):
        for word in shlex.split(rest):
            key, _, value = word.partition("=")
            env[key] = value
    return env


# --- what the Dockerfile copies --------------------------------------------------------------


def dockerignore_excludes(relpath: str) -> bool:
    """Whether .dockerignore leaves ``relpath`` out of the build context (last match wins)."""
    excluded = False
    parts = relpath.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatchcase(p, pattern) for p in prefixes)
        if hit:
            excluded = not negate
    return excluded


def context_copies() -> list[tuple[list[str], str, str]]:
    """Every COPY from the build context: (sources, destination, WORKDIR at that point)."""
    found = []
    for stage in STAGES:
        workdir = "/"
        for op, rest in stage.steps:
            if op == "WORKDIR":
                workdir = rest
            if op == "COPY" and not rest.startswith("--from"):
                words = rest.split()
                found.append((words[:-1], words[-1], workdir))
    return found


def copied_files() -> dict[str, str]:
    """Image path -> context path of every file the build stage copies from the context."""
    files: dict[str, str] = {}
    for sources, dest, workdir in context_copies():
        target = dest if dest.startswith("/") else os.path.normpath(os.path.join(workdir, dest))
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"Dockerfile copies {source}, which is not in the checkout"
            into_directory = path.is_dir() or len(sources) > 1 or dest.endswith("/")
            names = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in names:
                rel = file.relative_to(ROOT).as_posix()
                if dockerignore_excludes(rel):
                    continue
                inner = file.relative_to(path).as_posix() if path.is_dir() else file.name
                files[os.path.join(target, inner) if into_directory else target] = rel
            assert any(v == source or v.startswith(source + "/") for v in files.values()), (
                f".dockerignore leaves out {source}, which the Dockerfile copies"
            )
    return files


# --- the install is the README's -----------------------------------------------------------


def test_the_image_installs_the_checkout_as_the_readme_does_with_the_postgres_extra() -> None:
    readme = readme_installs()
    assert readme, "the README's Quick start installs with pip"
    image, workdir = dockerfile_install()
    # the same package: the checkout's directory, into a venv made just before
    assert {i.path for i in readme} == {image.path} == {"."}
    for install in [*readme, image]:
        assert install.venv, f"{install.pip} installs outside a venv"
        assert install.pip == f"{install.venv}/bin/pip", install
    # the same extras logic: every extra named is one pyproject defines; the image adds only
    # the team store's driver to the plain install (and is not editable: no source is kept)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    defined = set(pyproject["project"]["optional-dependencies"])
    for install in [*readme, image]:
        assert install.extras <= defined, (install.extras, defined)
    assert frozenset() in {i.extras for i in readme}, "the README's plain install"
    assert image.extras == {"postgres"}
    assert not image.editable
    # '.' is where pyproject.toml was copied to, and the final stage takes the venv whole
    assert f"{workdir.rstrip('/')}/pyproject.toml" in copied_files()
    venv = image.venv
    assert f"--from=build {venv} {venv}" in FINAL.all("COPY")
    assert final_env()["PATH"].startswith(f"{venv}/bin:")


def test_the_image_runs_as_uid_10001_the_recorder_on_a_read_only_root() -> None:
    python = ARGS["PYTHON_IMAGE"]
    assert python == "python:3.12-slim"
    assert all(s.base == "${PYTHON_IMAGE}" for s in STAGES), "one Python for the venv and its run"
    assert FINAL.all("USER") == [f"{IMAGE_UID}:{IMAGE_UID}"]
    assert FINAL.all("ENTRYPOINT") == ['["timetravel"]']
    assert FINAL.all("CMD") == ['["record"]']
    assert FINAL.all("VOLUME") == ['["/data"]']
    env = final_env()
    writable = ("/data", "/tmp")
    for key in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        assert env[key].startswith(writable), (key, env[key])
    run = " ".join(FINAL.all("RUN"))
    assert "git" in run.split() and f"--uid {IMAGE_UID}" in run


def test_the_kustomize_binary_is_pinned_and_checksummed() -> None:
    (run,) = [r for r in build_stage().all("RUN") if "kustomize" in r]
    assert re.search(r"version=v\d+\.\d+\.\d+;", run), "a pinned release"
    sums = re.findall(r"sum=([0-9a-f]+)", run)
    assert sums and all(len(s) == 64 for s in sums), sums
    checked = run.index("sha256sum -c")
    assert run.index("urlretrieve") < checked < run.index("tar -xzf"), "checked before unpacked"
    assert "--from=build /usr/local/bin/kustomize /usr/local/bin/kustomize" in FINAL.all("COPY")


def test_every_path_the_dockerfile_copies_exists_and_is_in_the_build_context() -> None:
    files = copied_files()
    assert "/src/timetravel/cli.py" in files
    assert "/src/README.md" in files  # pyproject's readme: the build needs it
    assert "/src/LICENSE" in files  # pyproject's license-files: the wheel carries it
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    # the package data pyproject names is in the context too
    assert any(f.endswith(".tcss") for f in files) and any(f.endswith(".css") for f in files)


def test_dockerignore_is_read_as_docker_reads_it() -> None:
    # the helper the copy rests on: a wrong reading would let the next test pass on files
    # the image would not have
    assert dockerignore_excludes("tests/test_image.py")
    assert dockerignore_excludes(".venv/bin/python")
    assert dockerignore_excludes("timetravel/__pycache__/cli.cpython-311.pyc")
    assert not dockerignore_excludes("timetravel/cli.py")
    assert not dockerignore_excludes("pyproject.toml")
    assert not dockerignore_excludes("LICENSE")


# --- the copied files are enough -----------------------------------------------------------


@pytest.fixture
def image_root() -> Iterator[Path]:
    # Not under pytest's tmp_path: its parent is 0700, which uid 10001 cannot enter.
    root = Path(tempfile.mkdtemp(prefix="tt-image-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def as_image_user() -> list[str]:
    """How to run a command as the image's user: setpriv as root, else as oneself."""
    if os.geteuid() == 0 and shutil.which("setpriv"):
        return ["setpriv", f"--reuid={IMAGE_UID}", f"--regid={IMAGE_UID}", "--clear-groups"]
    return []


def in_image(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def test_the_copied_files_install_and_run_with_a_read_only_root(image_root: Path) -> None:
    install, workdir = dockerfile_install()
    for image_path, source in copied_files().items():
        target = in_image(image_root, image_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / source, target)
    venv = in_image(image_root, install.venv or "")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The dependencies come from this checkout's venv, appended to sys.path by a .pth line
    # (its editable finder is not run: that would import the checkout, not the copy).
    site = Path(
        subprocess.run(
            [venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "checkout-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    spec = f"{install.path}[{','.join(sorted(install.extras))}]"
    result = subprocess.run(
        [venv / "bin/pip", "install", "--quiet", "--no-deps", spec],
        cwd=in_image(image_root, workdir),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # the distribution's own name (PyPI's `timetravel` is another program), its license
    (licensed,) = site.glob("kube_timetravel-*.dist-info/licenses/LICENSE")
    assert licensed.read_text() == (ROOT / "LICENSE").read_text()

    env_of_image = final_env()
    data = in_image(image_root, "/data")
    data.mkdir()
    home = image_root / "home-not-writable"  # stands for the read-only root's HOME
    home.mkdir(mode=0o555)
    user = as_image_user()
    if user:
        os.chown(data, IMAGE_UID, IMAGE_UID)
    else:
        for path in [venv, in_image(image_root, workdir)]:
            subprocess.run(["chmod", "-R", "a-w", str(path)], check=True)
    env = {
        "PATH": f"{venv}/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": env_of_image["PYTHONDONTWRITEBYTECODE"],
    }
    for key in ("XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        env[key] = str(in_image(image_root, env_of_image[key]))
    env["XDG_CACHE_HOME"] = str(data / "cache-in-tmp")
    run = [*user, str(venv / "bin/timetravel")]

    def check(*args: str) -> str:
        done = subprocess.run(
            [*run, *args], env=env, cwd=data, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    try:
        assert check("--version").strip() == "timetravel, version 0.1.0"
        plugin = subprocess.run(
            [*user, str(venv / "bin/kubectl-timetravel"), "--version"],
            env=env,
            cwd=data,
            capture_output=True,
            text=True,
            check=False,
        )
        assert plugin.stdout.strip() == "timetravel, version 0.1.0", plugin.stderr
        assert "--standby" in check("record", "--help")
        where = check_imported_from(venv, env, user)
        assert where.startswith(str(venv)), f"timetravel imported from {where}, not the copy"

        # and it records: git only, into the default database under XDG_DATA_HOME
        repo = data / "gitops"
        make_repo(repo)
        if user:
            subprocess.run(["chown", "-R", f"{IMAGE_UID}:{IMAGE_UID}", str(repo)], check=True)
        recorder = subprocess.Popen(
            [*run, "record", "--repo", str(repo), "--status-every", "0"],
            env=env,
            cwd=data,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(recorder.stderr or []))
        reader.start()
        try:
            deadline = time.monotonic() + 60
            while not any("recording git only" in line for line in lines):
                assert recorder.poll() is None, "".join(lines)
                assert time.monotonic() < deadline, "".join(lines)
                time.sleep(0.05)
        finally:
            recorder.send_signal(signal.SIGTERM)
            recorder.wait(timeout=30)
            reader.join(timeout=5)
        assert recorder.returncode == 0, "".join(lines)
        assert (data / "timetravel" / "timetravel.db").exists()
        assert list(home.iterdir()) == []
    finally:
        if not user:
            subprocess.run(["chmod", "-R", "u+w", str(image_root)], check=False)


def check_imported_from(venv: Path, env: dict[str, str], user: list[str]) -> str:
    done = subprocess.run(
        [*user, str(venv / "bin/python"), "-c", "import timetravel; print(timetravel.__file__)"],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def make_repo(path: Path) -> None:
    path.mkdir()
    (path / "app.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: payments}\n"
        "data: {k: v}\n"
    )
    git = ["git", "-C", str(path), "-c", "user.name=Dana", "-c", "user.email=dana@example.com"]
    subprocess.run([*git, "init", "--quiet", "--initial-branch=main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "app"], check=True)
