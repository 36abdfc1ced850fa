"""What really ran: image digests per workload, from Pods recorded through the API double."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from timetravel.domain.images import parse_image, running_image
from timetravel.domain.times import to_stored, utc_now
from timetravel.domain.workloads import workload_of
from timetravel.query.artifacts import digest_history, images_at
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

from .apidouble import ApiDouble
from .recording import recording, revisions, wait_for

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
LOCAL = "sha256:" + "c" * 64
REPO = "registry.example.com/payments/api"


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    return any_db


def owned(kind: str, name: str, uid: str = "u") -> list[dict[str, Any]]:
    api = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    return [{"apiVersion": api, "kind": kind, "name": name, "uid": uid, "controller": True}]


def replicaset(name: str, deployment: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "payments",
            "ownerReferences": owned("Deployment", deployment),
        },
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": deployment}}},
    }


def pod(name: str, owner: tuple[str, str], image: str, template_hash: str = "") -> dict:
    labels = {"app": "api", **({"pod-template-hash": template_hash} if template_hash else {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "payments",
            "labels": labels,
            "ownerReferences": owned(*owner),
        },
        "spec": {"containers": [{"name": "api", "image": image}]},
    }


def start(double: ApiDouble, name: str, image_id: str, image: str) -> None:
    def running(o: dict[str, Any]) -> None:
        o["status"] = {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "api",
                    "image": image,
                    "imageID": image_id,
                    "ready": True,
                    "state": {"running": {"startedAt": "2026-11-19T21:00:00Z"}},
                }
            ],
        }

    double.patch("v1", "Pod", "payments", name, running, manager="kubelet", subresource="status")


def pulling(double: ApiDouble, name: str) -> None:
    def waiting(o: dict[str, Any]) -> None:
        o["status"] = {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "api",
                    "image": "x",
                    "imageID": "",
                    "state": {"waiting": {"reason": "ErrImagePull"}},
                }
            ],
        }

    double.patch("v1", "Pod", "payments", name, waiting, manager="kubelet", subresource="status")


def moment(db_path: Path | str, expected_revisions: int) -> str:
    wait_for(
        lambda: len(revisions(db_path)) >= expected_revisions,
        what=f"{expected_revisions} revisions",
    )
    time.sleep(0.01)
    return to_stored(utc_now())


def digests_at(db_path: Path | str, at: str) -> dict[str, list[str]]:
    db = open_database(db_path, readonly=True)
    try:
        return {
            f"{w.workload.kind}/{w.workload.name}": w.digests for w in images_at(Reader(db), at)
        }
    finally:
        db.conn.close()


def test_a_rollout_runs_two_digests_at_once_then_one(tmp_path: Path, db_path: Path | str) -> None:
    with ApiDouble(bookmark_interval=0.1) as double:
        double.create(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "api", "namespace": "payments"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "api"}},
                    "template": {
                        "metadata": {"labels": {"app": "api"}},
                        "spec": {"containers": [{"name": "api", "image": f"{REPO}:2.3.0"}]},
                    },
                },
            }
        )
        with recording(
            double,
            db_path,
            tmp_path,
            resources=["pods", "replicasets", "deployments", "daemonsets"],
        ):
            double.create(replicaset("api-old", "api"), manager="kube-controller-manager")
            for name, form in (
                ("api-old-1", f"{REPO}@{OLD}"),
                ("api-old-2", f"docker-pullable://{REPO}@{OLD}"),
            ):
                double.create(
                    pod(name, ("ReplicaSet", "api-old"), f"{REPO}:2.3.0"),
                    manager="kube-controller-manager",
                )
                start(double, name, form, f"{REPO}:2.3.0")
            t_before = moment(db_path, 6)

            double.create(replicaset("api-new", "api"), manager="kube-controller-manager")
            double.create(
                pod("api-new-1", ("ReplicaSet", "api-new"), f"{REPO}:2.4.0"),
                manager="kube-controller-manager",
            )
            start(double, "api-new-1", f"cri-o://{REPO}@{NEW}", f"{REPO}:2.4.0")
            double.create(
                pod("api-new-2", ("ReplicaSet", "api-new"), f"{REPO}:2.4.0"),
                manager="kube-controller-manager",
            )
            pulling(double, "api-new-2")  # still pulling: ran nothing yet
            t_rollout = moment(db_path, 11)

            double.delete("v1", "Pod", "payments", "api-old-1")
            double.delete("v1", "Pod", "payments", "api-old-2")
            # A node agent built on the node: Docker's bare image ID, no registry digest.
            double.create(
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "metadata": {"name": "agent", "namespace": "payments"},
                    "spec": {
                        "selector": {"matchLabels": {"app": "agent"}},
                        "template": {
                            "metadata": {"labels": {"app": "agent"}},
                            "spec": {"containers": [{"name": "api", "image": "agent:dev"}]},
                        },
                    },
                }
            )
            double.create(
                pod("agent-x", ("DaemonSet", "agent"), "agent:dev"),
                manager="kube-controller-manager",
            )
            start(double, "agent-x", f"docker://{LOCAL}", "agent:dev")
            t_after = moment(db_path, 16)

    assert digests_at(db_path, t_before) == {"Deployment/api": [OLD]}
    assert digests_at(db_path, t_rollout) == {"Deployment/api": [OLD, NEW]}
    assert digests_at(db_path, t_after) == {"Deployment/api": [NEW], "DaemonSet/agent": [LOCAL]}

    db = open_database(db_path, readonly=True)
    try:
        reader = Reader(db)
        (rollout,) = images_at(reader, t_rollout)[:1]
        old_pods = sorted(c.pod.name for c in rollout.by_digest[OLD])
        assert old_pods == ["api-old-1", "api-old-2"]  # two runtimes' forms, one digest
        assert {c.repository for c in rollout.by_digest[OLD]} == {REPO}
        (agent,) = [w for w in images_at(reader, t_after) if w.workload.kind == "DaemonSet"]
        (local,) = agent.by_digest[LOCAL]
        assert not local.repo_digest and local.repository == "docker.io/library/agent"

        api = rollout.workload  # named by the cluster the recorder watched
        assert (api.group, api.kind, api.namespace, api.name) == (
            "apps",
            "Deployment",
            "payments",
            "api",
        )
        spans = digest_history(reader, t_before, t_after, workloads=[api])
        assert [s.digest for s in spans] == [OLD, NEW]
        old, new = spans
        assert old.first_seen == t_before and new.first_seen < t_rollout
        assert t_rollout < old.last_seen < t_after  # until the old Pods were deleted
        assert new.last_seen == t_after and new.pods == {"api-new-1"}
        assert old.images == {f"{REPO}:2.3.0"} and new.images == {f"{REPO}:2.4.0"}
    finally:
        db.conn.close()


@pytest.mark.parametrize(
    ("image_id", "digest", "repository", "repo_digest"),
    [
        (f"{REPO}@{OLD}", OLD, REPO, True),  # containerd, CRI-O
        (f"docker-pullable://nginx@{OLD}", OLD, "docker.io/library/nginx", True),
        (f"docker.io/acme/api@{OLD}", OLD, "docker.io/acme/api", True),
        (f"index.docker.io/acme/api@{OLD}", OLD, "docker.io/acme/api", True),
        (f"docker://{OLD}", OLD, None, False),  # built on the node
        (OLD, OLD, None, False),  # containerd, loaded by ID
        ("", None, None, None),  # still pulling
        ("sha256:abc", None, None, None),  # not a digest
        (f"{REPO}@sha256:{'a' * 63}", None, None, None),
    ],
)
def test_runtime_image_id_forms(image_id: str, digest, repository, repo_digest) -> None:
    found = running_image(image_id)
    if digest is None:
        assert found is None
        return
    assert found is not None
    assert (found.digest, found.repository, found.repo_digest) == (digest, repository, repo_digest)


def test_image_references_split_and_normalize() -> None:
    ref = parse_image("localhost:5000/api:1.2@" + OLD)
    assert ref is not None and (ref.repository, ref.tag, ref.digest) == (
        "localhost:5000/api",
        "1.2",
        OLD,
    )
    assert str(parse_image("nginx")) == "docker.io/library/nginx"
    assert str(parse_image("docker.io/nginx:1")) == "docker.io/library/nginx:1"
    assert parse_image("api:") is None and parse_image("a b") is None


def test_owner_chain_with_and_without_the_replicaset_recorded() -> None:
    the_pod = pod("api-7d9f-x", ("ReplicaSet", "api-7d9f"), "x", template_hash="7d9f")
    rs = replicaset("api-7d9f", "api")
    assert workload_of(
        the_pod, lambda k, n: rs if (k, n) == ("ReplicaSet", "api-7d9f") else None
    ) == ("Deployment", "api")
    assert workload_of(the_pod, lambda k, n: None) == ("Deployment", "api")  # from the name
    job_pod = pod("nightly-1-x", ("Job", "nightly-1"), "x")
    job = {"metadata": {"name": "nightly-1", "ownerReferences": owned("CronJob", "nightly")}}
    assert workload_of(job_pod, lambda k, n: job) == ("CronJob", "nightly")
    bare = pod("debug", ("Pod", "x"), "x")
    bare["metadata"].pop("ownerReferences")
    assert workload_of(bare, lambda k, n: None) == ("Pod", "debug")


def deployment(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "payments"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "api", "image": image}]},
            },
        },
    }


def test_the_chain_names_build_deploy_and_unknown_and_retagged_images(
    tmp_path: Path, db_path: Path | str
) -> None:
    from datetime import UTC, datetime

    from timetravel.domain.attribution import ManagerRules
    from timetravel.domain.builds import BuildFacts
    from timetravel.query.causes import CauseFinder
    from timetravel.query.chain import BUILT, NODE_LOCAL, UNKNOWN, chains_at
    from timetravel.store.builds import upsert_build

    web = "registry.example.com/payments/web"
    d1, d2 = "sha256:" + "d" * 64, "sha256:" + "e" * 64
    with (
        ApiDouble(bookmark_interval=0.1) as double,
        recording(double, db_path, tmp_path, resources=["pods", "replicasets", "deployments"]),
    ):
        since = moment(db_path, 0)
        double.create(deployment("api", f"{REPO}:2.3.0"))
        double.create(deployment("web", f"{web}:latest"))
        moment(db_path, 2)

        def bump(o: dict[str, Any]) -> None:
            o["spec"]["template"]["spec"]["containers"][0]["image"] = f"{REPO}:2.4.0"

        double.patch("apps/v1", "Deployment", "payments", "api", bump, manager="kubectl-edit")
        t_edit = moment(db_path, 3)
        double.create(replicaset("api-new", "api"), manager="kube-controller-manager")
        double.create(pod("api-new-1", ("ReplicaSet", "api-new"), f"{REPO}:2.4.0"))
        start(double, "api-new-1", f"{REPO}@{NEW}", f"{REPO}:2.4.0")
        double.create(replicaset("web-1", "web"), manager="kube-controller-manager")
        double.create(pod("web-1-a", ("ReplicaSet", "web-1"), f"{web}:latest"))
        start(double, "web-1-a", f"{web}@{d1}", f"{web}:latest")
        moment(db_path, 9)
        # latest is pushed again; a new Pod of the same spec pulls the other binary.
        double.delete("v1", "Pod", "payments", "web-1-a")
        double.create(pod("web-1-b", ("ReplicaSet", "web-1"), f"{web}:latest"))
        start(double, "web-1-b", f"{web}@{d2}", f"{web}:latest")
        double.create(
            pod("debug", ("Pod", "x"), "busybox:1.36")
            | {"metadata": {"name": "debug", "namespace": "payments"}}
        )
        start(double, "debug", f"docker://{LOCAL}", "busybox:1.36")
        at = moment(db_path, 14)

    db = open_database(db_path)
    try:
        upsert_build(
            db,
            BuildFacts(
                repository=REPO,
                digest=NEW,
                reported_at=datetime.now(UTC),
                tags=("2.4.0",),
                source_repo="https://github.com/acme/api",
                commit="a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
                provider="github-actions",
                run_id="8123456",
            ),
        )
        reader = Reader(db)
        chains = {
            (c.workload.kind, c.workload.name, c.digest): c
            for c in chains_at(reader, db, CauseFinder(db, ManagerRules()), at, since)
        }
    finally:
        db.conn.close()
    api = chains[("Deployment", "api", NEW)]
    assert api.provenance == BUILT and api.builds[0].commit.startswith("a1b2c3d4")
    assert api.deployed is not None and api.deployed.image == f"{REPO}:2.4.0"
    assert api.deployed.at <= t_edit and api.deployed.cause == "manual"
    assert api.first_seen is not None and api.first_seen > t_edit and not api.retagged
    web_now = chains[("Deployment", "web", d2)]
    assert web_now.provenance == UNKNOWN and web_now.retagged == (f"{web}:latest",)
    assert web_now.deployed is not None and web_now.deployed.at < t_edit  # no config change
    debug = chains[("Pod", "debug", LOCAL)]
    assert debug.provenance == NODE_LOCAL and debug.unknown_provenance
    assert set(chains) == {
        ("Deployment", "api", NEW),
        ("Deployment", "web", d2),
        ("Pod", "debug", LOCAL),
    }


def test_a_snapshot_carries_its_running_images_and_their_builds(
    tmp_path: Path, db_path: Path | str
) -> None:
    import json
    from datetime import UTC, datetime, timedelta

    import jsonschema

    from timetravel.domain.builds import BuildFacts
    from timetravel.domain.model import Observation
    from timetravel.domain.times import to_stored
    from timetravel.export.json_export import render_json
    from timetravel.export.markdown import render_markdown
    from timetravel.query.moment import build_snapshot
    from timetravel.store.builds import upsert_build
    from timetravel.store.writer import RevisionWriter

    t0 = datetime(2026, 11, 19, 21, 0, tzinfo=UTC)

    def running(p: dict[str, Any], image_id: str) -> dict[str, Any]:
        return {
            **p,
            "status": {
                "containerStatuses": [
                    {"name": "api", "imageID": image_id, "state": {"running": {}}}
                ]
            },
        }

    db = open_database(db_path)
    try:
        RevisionWriter(db).write(
            [
                Observation("prod", "ADDED", deployment("api", f"{REPO}:2.4.0"), to_stored(t0)),
                Observation("prod", "ADDED", replicaset("api-new", "api"), to_stored(t0)),
                Observation(
                    "prod",
                    "ADDED",
                    running(
                        pod("api-new-1", ("ReplicaSet", "api-new"), f"{REPO}:2.4.0"),
                        f"{REPO}@{NEW}",
                    ),
                    to_stored(t0 + timedelta(minutes=1)),
                ),
                Observation(
                    "prod",
                    "ADDED",
                    running(
                        pod("mystery", ("Pod", "x"), "ghcr.io/someone/miner:latest")
                        | {"metadata": {"name": "mystery", "namespace": "payments"}},
                        f"ghcr.io/someone/miner@{OLD}",
                    ),
                    to_stored(t0 + timedelta(minutes=2)),
                ),
            ]
        )
        upsert_build(
            db,
            BuildFacts(
                REPO,
                NEW,
                reported_at=t0,
                tags=("2.4.0",),
                commit="c0ffee" * 6 + "abcd",
                source_repo="https://github.com/acme/api",
            ),
        )
        snapshot = build_snapshot(db, t0 + timedelta(minutes=5), window=timedelta(hours=1))
    finally:
        db.conn.close()
    document = json.loads(render_json(snapshot))
    schema = json.loads(
        (Path(__file__).parent.parent / "docs" / "snapshot.schema.json").read_text()
    )
    jsonschema.validate(document, schema)
    by_name = {a["workload"]["name"]: a for a in document["artifacts"]}
    assert set(by_name) == {"api", "mystery"}
    api, mystery = by_name["api"], by_name["mystery"]
    assert (api["provenance"], api["build"]["commit"], api["pods"]) == (
        "built",
        "c0ffee" * 6 + "abcd",
        ["api-new-1"],
    )
    assert (
        api["deployed"]["cause"] and api["deployed"]["image"] == f"{REPO}:2.4.0"
    )  # created in the window
    assert api["first_seen"] == "2026-11-19T21:01:00Z"
    assert (mystery["provenance"], mystery["build"], mystery["workload"]["kind"]) == (
        "unknown",
        None,
        "Pod",
    )
    report = render_markdown(snapshot).decode()
    assert "## Running images" in report
    assert "1 image** of unknown provenance" in report or "1 image of unknown provenance" in report
