"""A generated GitOps repository: ``manifests`` files changed over ``commits`` commits.

Built with ``git fast-import`` (a real repository, in seconds rather than the minutes a
commit-per-subprocess build takes), cached under the output directory. Half the manifests
are Deployments and half ConfigMaps, named like the state store's objects so that desired
and actual meet; each later commit changes one to three files (an image bump, a replica
count, a config value), the way a GitOps repository moves.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bench.common import Context

AUTHORS = (
    ("Dana Dev", "dana@example.com"),
    ("CI Bot", "ci@example.com"),
    ("Sam Ops", "sam@example.com"),
)


def deployment_manifest(ns: str, name: str, tag: int, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app": name, "team": ns.split("-")[0], "app.kubernetes.io/part-of": ns},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "team": ns.split("-")[0]}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": f"registry.example.com/{ns}/{name}:1.{tag}.0",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "env": [
                                {"name": "LOG_LEVEL", "value": "info"},
                                {"name": "SERVICE_NAME", "value": name},
                                {
                                    "name": "OTEL_EXPORTER_OTLP_ENDPOINT",
                                    "value": "http://otel:4317",
                                },
                            ],
                            "resources": {
                                "limits": {"cpu": "500m", "memory": "512Mi"},
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": 8080},
                                "periodSeconds": 10,
                            },
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}}],
                },
            },
        },
    }


def configmap_manifest(ns: str, name: str, version: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app": name.removesuffix("-config")},
        },
        "data": {
            "FEATURE_FLAGS": f"checkout-v2={'on' if version % 2 else 'off'},fast-path=on",
            "app.yaml": (
                "server:\n  port: 8080\n  timeout: 30s\n"
                f"cache:\n  ttl: {60 * version}s\n  size: 1024\n"
                "database:\n  pool: 20\n  host: db.internal\n"
                f"limits:\n  rps: {100 + version}\n  burst: 50\n"
                "logging:\n  format: json\n  sampling: 0.1\n"
            ),
        },
    }


def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def build_repo(
    ctx: Context,
    *,
    commits: int,
    manifests: int,
    apps: list[tuple[str, str]],
    start: datetime,
    span: timedelta,
) -> Path:
    """The repository (cached): ``apps`` are (namespace, deployment name) pairs to declare."""
    params = {
        "commits": commits,
        "manifests": manifests,
        "apps": len(apps),
        "start": start.isoformat(),
        "span": span.total_seconds(),
    }
    path = ctx.cache_path("gitrepo", params, suffix="")
    if (path / ".bench-complete").exists():
        ctx.log(f"git repo: cached {path.name}")
        return path
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    ctx.log(f"git repo: generating {commits:,} commits over {manifests:,} manifests")
    rnd = random.Random(ctx.seed + 4)
    declared = apps[: manifests // 2]
    tags = {name: 1 for _, name in declared}
    replicas = {name: 3 for _, name in declared}
    versions = {name: 1 for _, name in declared}

    def dep_file(ns: str, name: str) -> tuple[str, bytes]:
        text = yaml.safe_dump(
            deployment_manifest(ns, name, tags[name], replicas[name]), sort_keys=False
        )
        return f"apps/{ns}/{name}/deployment.yaml", text.encode()

    def cm_file(ns: str, name: str) -> tuple[str, bytes]:
        text = yaml.safe_dump(
            configmap_manifest(ns, f"{name}-config", versions[name]), sort_keys=False
        )
        return f"apps/{ns}/{name}/configmap.yaml", text.encode()

    out: list[bytes] = []
    step = span / max(1, commits)
    for i in range(commits):
        when = int((start + step * i + timedelta(seconds=30)).timestamp())
        name_, email = AUTHORS[i % len(AUTHORS)]
        files: list[tuple[str, bytes]] = []
        if i == 0:
            message = "Initial import of the platform manifests"
            for ns, name in declared:
                files += [dep_file(ns, name), cm_file(ns, name)]
        else:
            changed = rnd.sample(declared, k=min(len(declared), rnd.randint(1, 3)))
            what = []
            for ns, name in changed:
                r = rnd.random()
                if r < 0.6:
                    tags[name] += 1
                    files.append(dep_file(ns, name))
                    what.append(f"{name} to 1.{tags[name]}.0")
                elif r < 0.8:
                    replicas[name] = rnd.randint(2, 8)
                    files.append(dep_file(ns, name))
                    what.append(f"scale {name} to {replicas[name]}")
                else:
                    versions[name] += 1
                    files.append(cm_file(ns, name))
                    what.append(f"config of {name}")
            message = "Update " + ", ".join(what)
        out.append(b"commit refs/heads/main\nmark :%d\n" % (i + 1))
        out.append(f"author {name_} <{email}> {when} +0000\n".encode())
        out.append(f"committer {name_} <{email}> {when} +0000\n".encode())
        out.append(_data(message.encode()))
        for file_path, payload in files:
            out.append(f"M 100644 inline {file_path}\n".encode())
            out.append(_data(payload))
        out.append(b"\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(out), check=True
    )
    subprocess.run(["git", "-C", str(path), "reset", "-q", "--hard", "main"], check=True)
    (path / ".git" / "info" / "exclude").write_text(".bench-complete\n")
    (path / ".bench-complete").write_text("ok\n")
    return path
