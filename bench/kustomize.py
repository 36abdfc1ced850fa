"""Backfill of a GitOps history with kustomize trees: commits/s and what bounds it.

    .venv/bin/python -m bench.kustomize [--commits 2500] [--workers N] [--real] [--out DIR]

- ``kustomize.generated``: ``GitSource.sync()`` (the backfill of ``timetravel record``) of a
  generated repository into a new SQLite file. The repository looks like microservices-demo:
  a kustomize tree (a root over a base of 10 services with two Components, overlays dev /
  staging / prod with a configMapGenerator, two test roots, unused Components, READMEs), plain
  per-service manifests, a release bundle declaring the same objects, and skaffold.yaml. Over
  2,500 commits (seeded): 2% change a base service (every root reads it), 4% an overlay's
  file, 1% a Component's patch, 20% a README, the rest plain manifests or the bundle; about
  as many renders a commit as microservices-demo's history needs (0.18).
- ``kustomize.real``: the same over ``../shared/testdata/gitops-real/microservices-demo``
  (2,550 first-parent commits), when it is there.

Each figure says the renders run (``kubectl kustomize``), the CPU seconds spent (this process
and its children) and the rate those would give on an idle machine with every core busy
(``cpu bound``): on a shared machine the wall-clock rate says more about the neighbours. The
target is >= 60 commits/s (issue 21); kubectl needs ~0.1 s of CPU to start, so a render costs
that much whatever it renders.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import Context, Figure  # noqa: E402

SERVICES = [f"svc{i:02d}" for i in range(10)]
REAL_BUNDLE = ROOT.parent / "shared" / "testdata" / "gitops-real" / "microservices-demo.bundle"
TARGET = 60.0


def _service(name: str, tag: int, replicas: int = 1) -> str:
    return json.dumps(
        [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {
                            "containers": [
                                {"name": "server", "image": f"registry.example.com/{name}:1.{tag}"}
                            ]
                        },
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
            },
        ]
    )


def _yaml_docs(text: str) -> str:
    """A JSON list of objects as a multi-document YAML file (JSON is YAML)."""
    return "\n---\n".join(json.dumps(obj) for obj in json.loads(text)) + "\n"


def _component(field: str, value: str) -> str:
    patch = f"- op: add\n  path: /metadata/labels/{field}\n  value: {value}\n"
    return json.dumps(
        {
            "apiVersion": "kustomize.config.k8s.io/v1alpha1",
            "kind": "Component",
            "patches": [{"patch": patch, "target": {"kind": "Deployment"}}],
        }
    )


def _kustomization(**fields: object) -> str:
    return json.dumps(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", **fields}
    )


def build(path: Path, commits: int, seed: int) -> None:
    """The generated repository (see the module's docstring), by ``git fast-import``."""
    rnd = random.Random(seed)
    tags = dict.fromkeys(SERVICES, 1)
    files: dict[str, str] = {
        "skaffold.yaml": "apiVersion: skaffold/v4beta6\nkind: Config\nmetadata: {name: app}\n",
        "kustomize/README.md": "how to deploy\n",
        "kustomize/kustomization.yaml": _kustomization(
            resources=["base"], components=["components/team", "components/tier"]
        ),
        "kustomize/base/kustomization.yaml": _kustomization(
            resources=[f"{s}.yaml" for s in SERVICES]
        ),
        "kustomize/components/team/kustomization.yaml": _component("team", "shop"),
        "kustomize/components/tier/kustomization.yaml": _component("tier", "web"),
        "kustomize/components/unused/kustomization.yaml": _component("unused", "yes"),
        "kustomize/components/unused/README.md": "not used\n",
        "kustomize/tests/with-team/kustomization.yaml": _kustomization(
            resources=["../../base"], components=["../../components/team"]
        ),
        "kustomize/tests/with-tier/kustomization.yaml": _kustomization(
            resources=["../../base"], components=["../../components/tier"]
        ),
    }
    for env in ("dev", "staging", "prod"):
        files[f"kustomize/overlays/{env}/kustomization.yaml"] = _kustomization(
            resources=["../../base"],
            namespace=f"shop-{env}",
            configMapGenerator=[{"name": "settings", "files": ["settings.conf"]}],
            images=[{"name": "registry.example.com/svc00", "newTag": f"{env}-1"}],
        )
        files[f"kustomize/overlays/{env}/settings.conf"] = f"env={env}\nversion=1\n"
    for s in SERVICES:
        files[f"kustomize/base/{s}.yaml"] = _yaml_docs(_service(s, 1))
        files[f"kubernetes-manifests/{s}.yaml"] = _yaml_docs(_service(s, 1))
    bundle = "".join(files[f"kubernetes-manifests/{s}.yaml"] for s in SERVICES)
    files["release/bundle.yaml"] = bundle
    out: list[bytes] = []
    start = 1_600_000_000
    for i in range(commits):
        changed = dict(files) if i == 0 else {}
        r = rnd.random()
        service = rnd.choice(SERVICES)
        if i == 0:
            message = "initial"
        elif r < 0.02:
            tags[service] += 1
            changed[f"kustomize/base/{service}.yaml"] = _yaml_docs(_service(service, tags[service]))
            message = f"base: {service}"
        elif r < 0.06:
            env = rnd.choice(("dev", "staging", "prod"))
            changed[f"kustomize/overlays/{env}/settings.conf"] = f"env={env}\nversion={i}\n"
            message = f"overlay {env}"
        elif r < 0.07:
            changed["kustomize/components/tier/kustomization.yaml"] = _component("tier", f"w{i}")
            message = "component tier"
        elif r < 0.27:
            where = rnd.choice(("kustomize/README.md", "kustomize/components/unused/README.md"))
            changed[where] = f"docs {i}\n"
            message = "docs"
        elif r < 0.37:
            tags[service] += 1
            for s in SERVICES:
                files[f"kubernetes-manifests/{s}.yaml"] = _yaml_docs(_service(s, tags[s]))
            changed["release/bundle.yaml"] = "".join(
                files[f"kubernetes-manifests/{s}.yaml"] for s in SERVICES
            )
            message = "release"
        else:
            tags[service] += 1
            changed[f"kubernetes-manifests/{service}.yaml"] = _yaml_docs(
                _service(service, tags[service], replicas=rnd.randint(1, 3))
            )
            message = f"bump {service}"
        files.update(changed)
        when = start + 600 * i
        out.append(b"commit refs/heads/main\n")
        out.append(f"author Dev <dev@example.com> {when} +0000\n".encode())
        out.append(f"committer Dev <dev@example.com> {when} +0000\n".encode())
        body = message.encode()
        out.append(b"data %d\n%s\n" % (len(body), body))
        for name, text in sorted(changed.items()):
            payload = text.encode()
            out.append(f"M 100644 inline {name}\n".encode())
            out.append(b"data %d\n%s\n" % (len(payload), payload))
        out.append(b"\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(out), check=True
    )
    subprocess.run(["git", "-C", str(path), "reset", "-q", "--hard", "main"], check=True)


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def backfill(name: str, repo: Path, branch: str, workdir: Path, workers: int | None) -> Figure:
    """``GitSource.sync()`` of ``repo`` into a new SQLite file, timed."""
    from timetravel.recorder.clock import MonotonicClock
    from timetravel.recorder.git import GitSource

    db_path = workdir / f"{name}.db"
    db_path.unlink(missing_ok=True)
    source = GitSource(db_path, repo, branch, clock=MonotonicClock(), progress=False)
    readers = []
    setup = source._setup

    def kept_setup():  # type: ignore[no-untyped-def]
        parts = setup()
        if workers:
            parts[2]._workers = workers
        readers.append(parts[2])
        return parts

    source._setup = kept_setup  # type: ignore[method-assign]
    cpu = _cpu()
    t = time.perf_counter()
    # As `timetravel record` does: the commits first (the screen and the cluster recorder
    # start then), the renders after, the newest first.
    recorded = source.sync(render=False)
    commits_first = time.perf_counter() - t
    source.sync()
    wall = time.perf_counter() - t
    cpu = _cpu() - cpu
    stats = readers[-1].stats
    cores = workers or os.cpu_count() or 1
    rate = recorded / wall
    bound = recorded / (cpu / cores)
    load = os.getloadavg()[0]
    return Figure(
        f"kustomize.{name}",
        f"{rate:,.1f} commits/s",
        f">= {TARGET:g} commits/s",
        rate >= TARGET,
        f"{recorded:,} commits in {wall:.1f} s (recorded, before any render, in "
        f"{commits_first:.2f} s); {stats.renders:,} renders "
        f"({getattr(stats, 'prefetched', 0):,} ahead, {cores} at a time), "
        f"{stats.render_cache_hits:,} cache hits; CPU {cpu:.1f} s: cpu bound "
        f"{bound:,.0f} commits/s on {cores} cores; "
        f"load {load:.1f}",
        value=rate,
        extra={
            "commits": recorded,
            "wall_s": wall,
            "commits_first_s": commits_first,
            "cpu_s": cpu,
            "renders": stats.renders,
            "cpu_bound_rate": bound,
            "load": load,
        },
    )


def run(ctx: Context, *, commits: int = 2500, workers: int | None = None) -> list[Figure]:
    if not shutil.which("kubectl"):
        return [Figure("kustomize.generated", "not run", "", None, "kubectl is not installed")]
    repo = ctx.out / f"kustomize-repo-{commits}-{ctx.seed}"
    if not (repo / ".git").exists():
        ctx.log(f"kustomize: generating {commits:,} commits")
        build(repo, commits, ctx.seed)
    figures = [backfill("generated", repo, "main", ctx.out, workers)]
    if ctx.shared.get("real") and REAL_BUNDLE.exists():
        clone = ctx.out / "microservices-demo"
        if not clone.exists():
            subprocess.run(
                ["git", "clone", "-q", "-b", "main", str(REAL_BUNDLE), str(clone)], check=True
            )
        figures.append(backfill("real", clone, "main", ctx.out, workers))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=2500)
    parser.add_argument("--workers", type=int, default=None, help="renders at once (cores)")
    parser.add_argument("--real", action="store_true", help="microservices-demo too")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "tt-bench")
    parser.add_argument("--seed", type=int, default=20261119)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ctx = Context(quick=False, out=args.out, seed=args.seed, log=print)
    ctx.shared["real"] = args.real
    for figure in run(ctx, commits=args.commits, workers=args.workers):
        print(figure.line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
