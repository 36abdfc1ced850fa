"""A week in a small company's cluster, ending in a Thursday-night incident.

The story is data: commits to a GitOps repository, writes to the cluster (with the field
managers a real API server would record), pipeline runs, audit events and a recorder
outage. ``timetravel.demo.build`` feeds it through the real ingest paths.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from timetravel.demo import objects as o
from timetravel.domain.times import to_stored

CLUSTER = "prod-eu1"
PIPELINE_SA = "system:serviceaccount:ci:deployer"
COMMIT_REF = "@commit:"  # replaced by the commit id when the repository is written
# The application repository the images are built from (the demo writes it as a real one).
APP_REPO_URL = "https://github.com/acme/shop"


@dataclass
class Commit:
    at: datetime
    author: str
    message: str
    files: dict[str, list[dict[str, Any]]]  # path -> objects


@dataclass
class Write:
    at: datetime
    event: str  # ADDED | MODIFIED | DELETED
    obj: dict[str, Any]
    inferred: bool = False


@dataclass
class Run:
    provider: str
    pipeline: str
    run_id: str
    commit_index: int  # which commit it deployed
    started_at: datetime
    finished_at: datetime
    status: str
    actor: str
    targets: tuple[str, ...]
    url: str


@dataclass
class AppCommit:
    """A commit to the application repository (source code, built into images)."""

    at: datetime
    author: str
    message: str
    files: dict[str, str]  # path -> text


@dataclass
class BuildJob:
    """A CI job that built an image from an application commit and reported it
    (``record-build``)."""

    at: datetime
    image: str
    commit_index: int  # into Story.app_commits
    pipeline: str
    run_id: str
    actor: str

    @property
    def url(self) -> str:
        return f"{APP_REPO_URL}/actions/runs/{self.run_id}"


@dataclass
class Story:
    start: datetime
    incident: datetime
    end: datetime
    commits: list[Commit] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    outage: tuple[datetime, datetime] | None = None
    syncs: list[tuple[datetime, str, str]] = field(default_factory=list)  # (when, app, phase)
    app_commits: list[AppCommit] = field(default_factory=list)
    builds: list[BuildJob] = field(default_factory=list)

    def runs_near_incident(self, window: timedelta) -> tuple[int, int]:
        """CI runs and Argo CD syncs that ended within ``window`` of the incident, as the
        incident's export counts them (its "pipeline runs" are both)."""
        lo, hi = self.incident - window, self.incident + window
        ci = sum(1 for r in self.runs if lo <= r.finished_at <= hi)
        syncs = sum(1 for when, _, _ in self.syncs if lo <= when <= hi)
        return ci, syncs


class _Cluster:
    """Produces watch events in time order, keeping resourceVersions and managedFields."""

    def __init__(self, story: Story) -> None:
        self.story = story
        self.rv = 1000
        self.live: dict[tuple[str, str, str], o.Live] = {}
        self.uids = 0

    def _key(self, obj: dict[str, Any]) -> tuple[str, str, str]:
        meta = obj["metadata"]
        return (obj["kind"], meta.get("namespace", ""), meta["name"])

    def apply(
        self,
        at: datetime,
        obj: dict[str, Any],
        manager: str,
        paths: tuple[str, ...] = ("spec",),
        *,
        operation: str = "Update",
        subresource: str = "",
        inferred: bool = False,
    ) -> dict[str, Any]:
        key = self._key(obj)
        live = self.live.get(key)
        event = "MODIFIED"
        if live is None:
            self.uids += 1
            live = o.Live(o.with_server_defaults(obj), f"7f3c{self.uids:04d}-demo-{key[2]}")
            self.live[key] = live
            event = "ADDED"
        else:
            status = live.obj.get("status")
            uid = live.obj["metadata"]["uid"]
            live.obj = o.with_server_defaults(obj)
            live.obj["metadata"]["uid"] = uid
            if status is not None:
                live.obj["status"] = status
        self.rv += 1
        served = live.write(
            self.rv, to_stored(at), manager, paths, operation=operation, subresource=subresource
        )
        self.story.writes.append(Write(at, event, served, inferred))
        return served

    def change(
        self,
        at: datetime,
        kind: str,
        namespace: str,
        name: str,
        mutate: Any,
        manager: str,
        paths: tuple[str, ...],
        *,
        subresource: str = "",
        operation: str = "Update",
        inferred: bool = False,
    ) -> None:
        live = self.live[(kind, namespace, name)]
        mutate(live.obj)
        self.rv += 1
        served = live.write(
            self.rv, to_stored(at), manager, paths, operation=operation, subresource=subresource
        )
        self.story.writes.append(Write(at, "MODIFIED", served, inferred))

    def status(
        self, at: datetime, kind: str, namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        def set_status(obj: dict[str, Any]) -> None:
            obj["status"] = copy.deepcopy(status)

        self.change(
            at,
            kind,
            namespace,
            name,
            set_status,
            "kube-controller-manager",
            ("status",),
            subresource="status",
        )

    def delete(self, at: datetime, kind: str, namespace: str, name: str) -> None:
        live = self.live.pop((kind, namespace, name))
        self.rv += 1
        served = copy.deepcopy(live.obj)
        served["metadata"]["resourceVersion"] = str(self.rv)
        self.story.writes.append(Write(at, "DELETED", served))


def _deploy_status(
    replicas: int, ready: int, *, progressing: str = "True", reason: str = "NewReplicaSetAvailable"
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": 1,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": [
            {"type": "Available", "status": "True" if ready else "False"},
            {"type": "Progressing", "status": progressing, "reason": reason},
        ],
    }
    if ready < replicas:
        status["unavailableReplicas"] = replicas - ready
    return status


def _audit(
    at: datetime,
    user: str,
    verb: str,
    resource: str,
    namespace: str,
    name: str,
    manager: str,
    agent: str,
    seq: int,
    *,
    impersonated: str | None = None,
    subresource: str | None = None,
) -> dict[str, Any]:
    group = "apps" if resource == "deployments" else ""
    path = (
        f"/apis/apps/v1/namespaces/{namespace}/{resource}/{name}"
        if group
        else f"/api/v1/namespaces/{namespace}/{resource}/{name}"
    )
    if subresource:
        path += f"/{subresource}"
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": f"5d1c0c9e-demo-{seq:04d}",
        "stage": "ResponseComplete",
        "requestURI": f"{path}?fieldManager={manager}",
        "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.20.0.14"],
        "userAgent": agent,
        "objectRef": {
            "resource": resource,
            "namespace": namespace,
            "name": name,
            "apiGroup": group,
            "apiVersion": "v1",
        },
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": stamp,
        "stageTimestamp": stamp,
    }
    if subresource:
        event["objectRef"]["subresource"] = subresource
    if impersonated:
        event["impersonatedUser"] = {"username": impersonated}
    return event


def _incident_day(now: datetime, zone: tzinfo) -> datetime:
    """The latest Thursday 21:30 (local) at least a day before ``now``."""
    local = now.astimezone(zone)
    day = local.date() - timedelta(days=1)
    while day.weekday() != 3:
        day -= timedelta(days=1)
    return datetime(day.year, day.month, day.day, 21, 30, tzinfo=zone)


def write_story(now: datetime, zone: tzinfo) -> Story:
    """The whole week, anchored so that the incident is last Thursday at 21:30 local."""
    incident = _incident_day(now, zone)
    monday = (incident - timedelta(days=3)).replace(hour=8, minute=0)
    story = Story(start=monday, incident=incident, end=now)
    c = _Cluster(story)

    def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
        return monday + timedelta(days=day, hours=hour - 8, minutes=minute, seconds=second)

    api_env = {"LOG_LEVEL": "info", "PAYMENTS_PROVIDER": "stripe"}
    manifests: dict[str, dict[str, Any]] = {
        "apps/payments/api.yaml": o.deployment(
            "payments", "api", f"{o.REGISTRY}/payments/api:2.3.0", 3, env=api_env
        ),
        "apps/payments/worker.yaml": o.deployment(
            "payments",
            "worker",
            f"{o.REGISTRY}/payments/worker:2.3.0",
            None,
            env={"QUEUE": "payments"},
        ),
        "apps/payments/worker-hpa.yaml": o.hpa("payments", "worker", 2, 8),
        "apps/payments/service.yaml": o.service("payments", "api"),
        "apps/payments/config.yaml": o.configmap(
            "payments", "payments-config", {"retry_limit": "3", "timeout_ms": "800"}
        ),
        "apps/checkout/checkout.yaml": o.deployment(
            "checkout", "checkout", f"{o.REGISTRY}/shop/checkout:5.2.1", 2
        ),
        "apps/checkout/service.yaml": o.service("checkout", "checkout"),
        "apps/frontend/web.yaml": o.deployment(
            "frontend", "web", f"{o.REGISTRY}/shop/web:1.7.4", 3, port=3000
        ),
        "apps/frontend/service.yaml": o.service("frontend", "web", target=3000),
        "apps/frontend/config.yaml": o.configmap(
            "frontend", "web-config", {"feature_new_cart": "false"}
        ),
        "apps/monitoring/prometheus.yaml": o.deployment(
            "monitoring",
            "prometheus",
            "quay.io/prometheus/prometheus:v2.54.1",
            1,
            port=9090,
            memory="2Gi",
        ),
        "apps/monitoring/alert-rules.yaml": o.configmap(
            "monitoring", "alert-rules", {"payments.yaml": "groups: []"}
        ),
    }
    apps = {
        name: o.application(name, f"apps/{name}", name)
        for name in ("payments", "checkout", "frontend", "monitoring")
    }
    for name, app in apps.items():
        manifests[f"argocd/{name}.yaml"] = app

    revision = {"value": ""}

    def commit(when: datetime, author: str, message: str, *paths: str) -> int:
        files = {p: [copy.deepcopy(manifests[p])] for p in paths}
        story.commits.append(Commit(when, author, message, files))
        # Argo CD reports the commit it synced; its id is known once the repo is written.
        revision["value"] = f"{COMMIT_REF}{len(story.commits) - 1}"
        return len(story.commits) - 1

    def sync(when: datetime, *paths: str, app: str) -> None:
        for p in paths:
            c.apply(
                when,
                manifests[p],
                "argocd-controller",
                ("spec", "metadata.labels"),
                operation="Apply",
            )
        sync_app(when, app, "Succeeded")

    def sync_app(
        when: datetime, app: str, phase: str, message: str = "successfully synced"
    ) -> None:
        def mutate(obj: dict[str, Any]) -> None:
            obj["status"] = {
                "sync": {
                    "status": "Synced" if phase == "Succeeded" else "OutOfSync",
                    "revision": revision["value"],
                },
                "health": {"status": "Healthy" if phase == "Succeeded" else "Degraded"},
                "operationState": {
                    "phase": phase,
                    "message": message,
                    "startedAt": to_stored(when - timedelta(seconds=20))[:19] + "Z",
                    "finishedAt": to_stored(when)[:19] + "Z",
                    "syncResult": {"revision": revision["value"]},
                    "operation": {
                        "sync": {"revision": revision["value"]},
                        "initiatedBy": {"automated": True},
                    },
                },
            }

        c.change(
            when, "Application", "argocd", app, mutate, "argocd-application-controller", ("status",)
        )
        story.syncs.append((when, app, phase))

    # Monday: the platform is bootstrapped from git and synced by Argo CD.
    for ns in ("payments", "checkout", "frontend", "monitoring"):
        c.apply(at(0, 7, 50), o.namespace(ns), "kubectl-create", ("metadata",))
    commit(
        at(0, 8),
        "Dana Ops <dana@acme.io>",
        "Bootstrap platform: payments, checkout, frontend, monitoring",
        *manifests,
    )
    for app in apps.values():
        c.apply(at(0, 8, 1), app, "argocd-server", ("spec",))
    for name in apps:
        sync(at(0, 8, 3), *[p for p in manifests if p.startswith(f"apps/{name}/")], app=name)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "payments-db", "namespace": "payments"},
        "data": {"password": "czNjcjN0LXBhc3N3b3JkLTIwMjY=", "username": "cGF5bWVudHM="},
    }
    c.apply(at(0, 8, 5), secret, "external-secrets", ("data",))
    for name, replicas in (
        ("api", 3),
        ("worker", 1),
        ("checkout", 2),
        ("web", 3),
        ("prometheus", 1),
    ):
        ns = {
            "api": "payments",
            "worker": "payments",
            "checkout": "checkout",
            "web": "frontend",
            "prometheus": "monitoring",
        }[name]
        c.status(at(0, 8, 6), "Deployment", ns, name, _deploy_status(replicas, replicas))

    # The application repository: source commits, each image built from one by CI and
    # reported with record-build (2.4.0's push failed: it was never in the registry).
    def app_commit(when: datetime, author: str, message: str, files: dict[str, str]) -> int:
        story.app_commits.append(AppCommit(when, author, message, files))
        return len(story.app_commits) - 1

    def built(when: datetime, image: str, index: int, pipeline: str, run: int, actor: str) -> None:
        story.builds.append(BuildJob(when, image, index, pipeline, str(run), actor))

    api_230 = f"{o.REGISTRY}/payments/api:2.3.0"
    web_174 = f"{o.REGISTRY}/shop/web:1.7.4"
    web_180 = f"{o.REGISTRY}/shop/web:1.8.0"
    retry = app_commit(
        at(-3, 11),
        "Carol Pay <carol@acme.io>",
        "api: retry on 5xx from the payment provider",
        {"payments-api/VERSION": "2.3.0\n", "payments-api/retry.py": "RETRIES = 3\n"},
    )
    built(at(-3, 11, 14), api_230, retry, "build-api", 801, "carol")
    footer = app_commit(
        at(-3, 15),
        "Erin Front <erin@acme.io>",
        "web: footer links",
        {"web/VERSION": "1.7.4\n", "web/footer.html": "<footer>acme</footer>\n"},
    )
    built(at(-3, 15, 12), web_174, footer, "build-web", 802, "erin")

    # Pods: the ReplicaSets' (not recorded: the Deployment is known from the
    # pod-template-hash) and the kubelet's status once the image runs. The hashes are
    # short ones (a real one has up to 10 characters): a Pod's name fits the list at 80x24.
    def pod_status(when: datetime, ns: str, name: str, status: dict[str, Any]) -> None:
        def mutate(obj: dict[str, Any]) -> None:
            obj["status"] = copy.deepcopy(status)

        c.change(when, "Pod", ns, name, mutate, "kubelet", ("status",), subresource="status")

    def start_pods(
        when: datetime, ns: str, app: str, template_hash: str, suffixes: str, image: str
    ) -> None:
        replicaset = f"{app}-{template_hash}"
        for index, suffix in enumerate(suffixes.split()):
            name = f"{replicaset}-{suffix}"
            created = when + timedelta(seconds=2 * index)
            obj = o.pod(
                ns, name, app, image, app=app, replicaset=replicaset, template_hash=template_hash
            )
            c.apply(created, obj, "kube-controller-manager", ("metadata", "spec"))
            started = created + timedelta(seconds=20)
            pod_status(started, ns, name, o.pod_running(app, image, to_stored(started)[:19] + "Z"))

    def stop_pods(when: datetime, ns: str, names: str) -> None:
        for index, name in enumerate(names.split()):
            c.delete(when + timedelta(seconds=5 * index), "Pod", ns, name)

    start_pods(at(0, 8, 4), "payments", "api", "5d8f7b", "7q2mz b8xkd hw4lp", api_230)
    start_pods(at(0, 8, 4), "frontend", "web", "7c9d8b", "2vnrt k5m8q xw9cj", web_174)

    def scale_worker(when: datetime, replicas: int) -> None:
        def mutate(obj: dict[str, Any]) -> None:
            obj["spec"]["replicas"] = replicas

        c.change(
            when,
            "Deployment",
            "payments",
            "worker",
            mutate,
            "kube-controller-manager",
            ("spec.replicas",),
            subresource="scale",
        )
        c.status(
            when + timedelta(seconds=40),
            "Deployment",
            "payments",
            "worker",
            _deploy_status(replicas, replicas),
        )

    # The autoscaler follows the daily load of the worker all week.
    for day in range(0, 8):
        for hour, replicas in ((11, 4), (19, 6), (23, 2)):
            when = at(day, hour, 10)
            if when < now - timedelta(minutes=5):
                scale_worker(when, replicas)

    seq = {"n": 0}

    def audit(
        when: datetime,
        user: str,
        verb: str,
        resource: str,
        ns: str,
        name: str,
        manager: str,
        agent: str,
        **kw: Any,
    ) -> None:
        seq["n"] += 1
        story.audit.append(
            _audit(when, user, verb, resource, ns, name, manager, agent, seq["n"], **kw)
        )

    def pipeline_deploy(
        number: int,
        pipeline: str,
        commit_index: int,
        start: datetime,
        path: str,
        actor: str,
        status: str = "success",
    ) -> None:
        run_url = f"https://github.com/acme/gitops/actions/runs/{number}"
        obj = copy.deepcopy(manifests[path])
        obj["metadata"].setdefault("annotations", {}).update(
            {
                "timetravel.io/pipeline-run-url": run_url,
            }
        )
        applied = start + timedelta(minutes=3)
        c.apply(applied, obj, "kubectl-client-side-apply", ("spec", "metadata.annotations"))
        kind, ns, name = obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]
        audit(
            applied - timedelta(seconds=1),
            PIPELINE_SA,
            "patch",
            "deployments",
            ns,
            name,
            "kubectl-client-side-apply",
            "kubectl/v1.31.2 (linux/amd64)",
        )
        story.runs.append(
            Run(
                "github-actions",
                pipeline,
                str(number),
                commit_index,
                start,
                start + timedelta(minutes=5),
                status,
                actor,
                (f"{kind}/{ns}/{name}",),
                run_url,
            )
        )

    # Monday afternoon: frontend ships through its GitHub Actions pipeline.
    manifests["apps/frontend/web.yaml"]["spec"]["template"]["spec"]["containers"][0]["image"] = (
        f"{o.REGISTRY}/shop/web:1.8.0"
    )
    idx = commit(
        at(0, 14),
        "Erin Front <erin@acme.io>",
        "frontend: web 1.8.0 (new cart page)",
        "apps/frontend/web.yaml",
    )
    pipeline_deploy(4101, "deploy-frontend", idx, at(0, 14, 1), "apps/frontend/web.yaml", "erin")
    # ...whose image CI built from the new cart page's commit 45 minutes earlier: the lead
    # time `timetravel report` shows (source commit to the first Pod running it).
    cart = app_commit(
        at(0, 13, 20),
        "Erin Front <erin@acme.io>",
        "web: new cart page",
        {"web/VERSION": "1.8.0\n", "web/cart.html": "<main>cart</main>\n"},
    )
    built(at(0, 13, 33), web_180, cart, "build-web", 4097, "erin")
    start_pods(at(0, 14, 4, 10), "frontend", "web", "5f6b7d", "4gq7d m2zpx t9hcv", web_180)
    stop_pods(at(0, 14, 4, 45), "frontend", "web-7c9d8b-2vnrt web-7c9d8b-k5m8q")
    stop_pods(at(0, 14, 4, 55), "frontend", "web-7c9d8b-xw9cj")

    # Tuesday: checkout to 3 replicas through git, synced by Argo CD.
    manifests["apps/checkout/checkout.yaml"]["spec"]["replicas"] = 3
    commit(
        at(1, 10),
        "Bob Shop <bob@acme.io>",
        "checkout: run 3 replicas for the sale",
        "apps/checkout/checkout.yaml",
    )
    sync(at(1, 10, 3), "apps/checkout/checkout.yaml", app="checkout")

    # Wednesday: bob scales checkout by hand; Argo CD self-heal puts it back two minutes later.
    def scale_checkout(obj: dict[str, Any]) -> None:
        obj["spec"]["replicas"] = 5

    c.change(
        at(2, 15),
        "Deployment",
        "checkout",
        "checkout",
        scale_checkout,
        "kubectl-scale",
        ("spec.replicas",),
        subresource="scale",
    )
    audit(
        at(2, 15) - timedelta(seconds=1),
        "bob@acme.io",
        "patch",
        "deployments",
        "checkout",
        "checkout",
        "kubectl-scale",
        "kubectl/v1.31.2 (darwin/arm64)",
        subresource="scale",
    )
    sync(at(2, 15, 2), "apps/checkout/checkout.yaml", app="checkout")

    # Wednesday 16:40: bob starts a debugging Pod from Docker Hub and forgets it: an image
    # no build of the company produced (unknown provenance), running from then on.
    netshoot = "nicolaka/netshoot:latest"
    debug = o.pod("checkout", "debug-bob", "debug-bob", netshoot, app="debug-bob")
    c.apply(at(2, 16, 40), debug, "kubectl-run", ("metadata", "spec"))
    audit(
        at(2, 16, 40) - timedelta(seconds=1),
        "bob@acme.io",
        "create",
        "pods",
        "checkout",
        "debug-bob",
        "kubectl-run",
        "kubectl/v1.31.2 (darwin/arm64)",
    )
    pod_status(
        at(2, 16, 40, 30),
        "checkout",
        "debug-bob",
        o.pod_running(
            "debug-bob",
            "docker.io/nicolaka/netshoot:latest",
            to_stored(at(2, 16, 40, 28))[:19] + "Z",
        ),
    )

    # Wednesday evening: frontend feature flag through git.
    manifests["apps/frontend/config.yaml"]["data"]["feature_new_cart"] = "true"
    commit(
        at(2, 18),
        "Erin Front <erin@acme.io>",
        "frontend: enable the new cart",
        "apps/frontend/config.yaml",
    )
    sync(at(2, 18, 3), "apps/frontend/config.yaml", app="frontend")

    # Thursday night: the incident.
    api_path = "apps/payments/api.yaml"
    api_container = manifests[api_path]["spec"]["template"]["spec"]["containers"][0]
    api_container["image"] = f"{o.REGISTRY}/payments/api:2.4.0"
    bad = commit(
        at(3, 21), "Carol Pay <carol@acme.io>", "payments: api 2.4.0 (new retry logic)", api_path
    )
    app_commit(
        at(3, 20, 40),
        "Carol Pay <carol@acme.io>",
        "api: new retry logic",
        {"payments-api/VERSION": "2.4.0\n", "payments-api/retry.py": "RETRIES = 5\n"},
    )  # built, but its push failed: no build reported, and no such image to pull
    pipeline_deploy(5121, "deploy-payments", bad, at(3, 21, 1), api_path, "carol")
    api_240 = f"{o.REGISTRY}/payments/api:2.4.0"
    new_pod = o.pod(
        "payments",
        "api-6f7d9c-x2x4k",
        "api",
        api_240,
        app="api",
        replicaset="api-6f7d9c",
        template_hash="6f7d9c",
    )
    c.apply(at(3, 21, 4, 5), new_pod, "kube-controller-manager", ("metadata", "spec"))
    stop_pods(at(3, 21, 4, 30), "payments", "api-5d8f7b-hw4lp")
    pod_status(
        at(3, 21, 5),
        "payments",
        "api-6f7d9c-x2x4k",
        o.pod_waiting("api", api_240, "ImagePullBackOff", f'Back-off pulling image "{api_240}"'),
    )
    c.status(
        at(3, 21, 5),
        "Deployment",
        "payments",
        "api",
        _deploy_status(3, 2, progressing="True", reason="ReplicaSetUpdated"),
    )
    for minute in (5, 9, 14):
        story.warnings.append(
            (
                at(3, 21, minute),
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "type": "Warning",
                    "metadata": {
                        "name": f"api-6f7d9c-x2x4k.{minute}",
                        "namespace": "payments",
                        "uid": f"evt-{minute}",
                    },
                    "involvedObject": {
                        "kind": "Pod",
                        "namespace": "payments",
                        "name": "api-6f7d9c-x2x4k",
                        "apiVersion": "v1",
                    },
                    "reason": "Failed" if minute == 5 else "BackOff",
                    "message": (
                        'Failed to pull image "registry.example.com/payments/api:2.4.0": not found'
                        if minute == 5
                        else 'Back-off pulling image "registry.example.com/payments/api:2.4.0"'
                    ),
                    "count": 1 if minute == 5 else minute,
                    "firstTimestamp": to_stored(at(3, 21, 5))[:19] + "Z",
                    "lastTimestamp": to_stored(at(3, 21, minute))[:19] + "Z",
                },
            )
        )
    story.warnings.append(
        (
            at(3, 21, 16),
            {
                "apiVersion": "v1",
                "kind": "Event",
                "type": "Warning",
                "metadata": {
                    "name": "api.progress",
                    "namespace": "payments",
                    "uid": "evt-progress",
                },
                "involvedObject": {
                    "kind": "Deployment",
                    "namespace": "payments",
                    "name": "api",
                    "apiVersion": "apps/v1",
                },
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "api-6f7d9c" has timed out progressing.',
                "count": 1,
                "firstTimestamp": to_stored(at(3, 21, 16))[:19] + "Z",
                "lastTimestamp": to_stored(at(3, 21, 16))[:19] + "Z",
            },
        )
    )
    c.status(
        at(3, 21, 16),
        "Deployment",
        "payments",
        "api",
        _deploy_status(3, 1, progressing="False", reason="ProgressDeadlineExceeded"),
    )
    sync_app(
        at(3, 21, 12),
        "payments",
        "Failed",
        "one or more objects failed to apply: Deployment payments/api: progress deadline exceeded",
    )

    # 21:24 alice, on call, doubles the replicas and turns on debug logging by hand.
    def alice_edit(obj: dict[str, Any]) -> None:
        obj["spec"]["replicas"] = 6
        obj["spec"]["template"]["spec"]["containers"][0]["env"].append(
            {"name": "DEBUG", "value": "true"}
        )

    c.change(
        at(3, 21, 24),
        "Deployment",
        "payments",
        "api",
        alice_edit,
        "kubectl-edit",
        ("spec.replicas", "spec.template.spec.containers[api].env[DEBUG].value"),
    )
    audit(
        at(3, 21, 24) - timedelta(seconds=1),
        "alice@acme.io",
        "update",
        "deployments",
        "payments",
        "api",
        "kubectl-edit",
        "kubectl/v1.31.2 (linux/amd64)",
    )
    c.status(
        at(3, 21, 26),
        "Deployment",
        "payments",
        "api",
        _deploy_status(6, 2, progressing="False", reason="ProgressDeadlineExceeded"),
    )

    # 21:38 carol reverts in git; the pipeline rolls back the image. alice's edits stay: drift.
    api_container["image"] = f"{o.REGISTRY}/payments/api:2.3.0"
    fix = commit(
        at(3, 21, 38), "Carol Pay <carol@acme.io>", "Revert payments api to 2.3.0", api_path
    )
    live_api = c.live[("Deployment", "payments", "api")].obj
    rollback = copy.deepcopy(manifests[api_path])
    rollback["spec"]["replicas"] = live_api["spec"]["replicas"]
    rollback["spec"]["template"]["spec"]["containers"][0]["env"] = copy.deepcopy(
        live_api["spec"]["template"]["spec"]["containers"][0]["env"]
    )
    manifests["_rollback"] = rollback
    pipeline_deploy(5122, "deploy-payments", fix, at(3, 21, 39), "_rollback", "carol")
    stop_pods(at(3, 21, 42, 20), "payments", "api-6f7d9c-x2x4k")
    start_pods(at(3, 21, 42, 30), "payments", "api", "5d8f7b", "c4jnw f8rtk p3vzs w6dlq", api_230)
    c.status(at(3, 21, 45), "Deployment", "payments", "api", _deploy_status(6, 6))
    sync_app(at(3, 21, 46), "payments", "Succeeded")

    # Friday 02:10-04:40 the recorder is down; payments-config changes meanwhile.
    story.outage = (at(4, 2, 10), at(4, 4, 40))
    manifests["apps/payments/config.yaml"]["data"]["timeout_ms"] = "1500"

    def timeout(obj: dict[str, Any]) -> None:
        obj["data"]["timeout_ms"] = "1500"

    story.commits.append(
        Commit(
            at(4, 3, 5),
            "Dana Ops <dana@acme.io>",
            "payments: raise provider timeout to 1500ms",
            {"apps/payments/config.yaml": [copy.deepcopy(manifests["apps/payments/config.yaml"])]},
        )
    )
    c.change(
        at(4, 4, 40),
        "ConfigMap",
        "payments",
        "payments-config",
        timeout,
        "argocd-controller",
        ("data",),
        operation="Apply",
        inferred=True,
    )

    # Saturday: the database password is rotated (its value is never stored).
    def rotate(obj: dict[str, Any]) -> None:
        obj["data"]["password"] = "cjB0YXQzZC1wYXNzd29yZC0yMDI2LTEy"

    c.change(at(5, 11), "Secret", "payments", "payments-db", rotate, "external-secrets", ("data",))

    story.writes.sort(key=lambda w: w.at)
    story.writes = [w for w in story.writes if w.at <= now]
    story.commits = [cm for cm in story.commits if cm.at <= now]
    story.syncs = [sy for sy in story.syncs if sy[0] <= now]
    story.app_commits = [cm for cm in story.app_commits if cm.at <= now]
    story.builds = [b for b in story.builds if b.at <= now]
    return story
