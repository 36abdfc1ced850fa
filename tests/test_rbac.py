"""The in-cluster role is read-only in fact: the shipped ClusterRole grants list and watch on
resources and get on discovery's non-resource URLs only, and the recorder works under exactly
that role, enforced by the API double as kube-apiserver's RBAC authorizer would."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from timetravel.errors import UserError

from .apidouble import ApiDouble
from .apidouble import rbac as double_rbac
from .apidouble.rbac import DEFAULT_USER, Attributes, allows
from .recording import configmap, count, make_recorder, recording, revisions, wait_for

ROOT = Path(__file__).resolve().parent.parent
USER = DEFAULT_USER  # system:serviceaccount:timetravel:timetravel-recorder, as deploy/ binds
# What `get` on resources would also open: websocket upgrades of exec, attach, port-forward
# and the node proxy are GET requests of these subresources.
DANGEROUS = [
    ("pods", "exec"),
    ("pods", "attach"),
    ("pods", "portforward"),
    ("pods", "proxy"),
    ("pods", "log"),
    ("nodes", "proxy"),
    ("services", "proxy"),
]


def shipped(kind: str) -> dict[str, Any]:
    documents = list(yaml.safe_load_all((ROOT / "deploy/base/rbac.yaml").read_text()))
    found: dict[str, Any] = next(d for d in documents if d["kind"] == kind)
    return found


def shipped_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = shipped("ClusterRole")["rules"]
    return rules


SHIPPED = shipped_rules()
NO_LIST = [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["watch"]},
    *[r for r in SHIPPED if "nonResourceURLs" in r],
]


def application(name: str, namespace: str = "argocd") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"destination": {"namespace": "payments"}},
    }


def deployment(name: str, namespace: str = "payments") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": "api:1.0"}]},
            },
        },
    }


# --- the shipped role --------------------------------------------------------------------------


def test_shipped_role_has_no_get_on_resources_and_no_wildcard_verbs() -> None:
    assert SHIPPED, "deploy/base/rbac.yaml has a ClusterRole with rules"
    double_rbac.validate(SHIPPED)  # what the API server would accept
    for rule in SHIPPED:
        assert "*" not in rule["verbs"], rule
        if "nonResourceURLs" in rule:
            assert rule["verbs"] == ["get"], rule
        else:
            assert set(rule["verbs"]) <= {"list", "watch"}, rule
            assert "get" not in rule["verbs"], rule
    resource_verbs = {v for r in SHIPPED if "resources" in r for v in r["verbs"]}
    assert resource_verbs == {"list", "watch"}
    # the user the double names in its 403s is the one deploy/ binds the role to
    binding = shipped("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == shipped("ClusterRole")["metadata"]["name"]
    (subject,) = binding["subjects"]
    assert f"system:serviceaccount:{subject['namespace']}:{subject['name']}" == USER


@pytest.mark.parametrize(("resource", "subresource"), DANGEROUS)
def test_shipped_role_opens_no_exec_attach_portforward_or_proxy(
    resource: str, subresource: str
) -> None:
    namespace = "" if resource == "nodes" else "default"
    for verb in ("get", "create", "update", "patch", "delete"):
        attrs = Attributes(verb, "/", True, "", "v1", namespace, resource, subresource, name="x")
        assert not allows(SHIPPED, attrs), (verb, resource, subresource)
    # whereas the role as it was (get, list, watch on everything) let every GET of them through
    old = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]
    assert allows(old, Attributes("get", "/", True, "", "v1", namespace, resource, subresource))


def test_shipped_role_reads_collections_and_discovery_only() -> None:
    def resource(verb: str, res: str, group: str = "", name: str = "", ns: str = "") -> bool:
        return allows(SHIPPED, Attributes(verb, "/", True, group, "v1", ns, res, "", name))

    def url(path: str, verb: str = "get") -> bool:
        return allows(SHIPPED, Attributes(verb, path, False))

    assert resource("list", "secrets") and resource("watch", "secrets", ns="payments")
    assert resource("list", "applications", "argoproj.io")
    assert resource("watch", "customresourcedefinitions", "apiextensions.k8s.io")
    for verb in ("get", "create", "update", "patch", "delete", "deletecollection"):
        assert not resource(verb, "secrets", name="db", ns="payments"), verb
        assert not resource(verb, "namespaces", name="payments", ns="payments"), verb
    for verb in ("impersonate", "escalate", "bind", "approve", "use"):
        assert not resource(verb, "serviceaccounts"), verb
    assert all(url(p) for p in ("/api", "/api/v1", "/apis", "/apis/apps/v1"))
    assert not url("/api", "post")
    assert not url("/healthz") and not url("/metrics") and not url("/logs/kube-apiserver.log")


# --- the double's RBAC, seen through the real client -------------------------------------------


@pytest.fixture
def enforcing(tmp_path: Path) -> Iterator[tuple[ApiDouble, client.ApiClient]]:
    with ApiDouble(bookmark_interval=0.05, rules=SHIPPED) as double:
        double.create(configmap("x", "default"))
        kubeconfig = double.write_kubeconfig(tmp_path / "kubeconfig")
        api = config.new_client_from_config(config_file=str(kubeconfig))
        yield double, api
        api.close()


def raw_get(api: client.ApiClient, path: str, **query: Any) -> tuple[int, Any]:
    request = api.param_serialize(
        "GET", path, query_params=list(query.items()), auth_settings=["BearerToken"]
    )
    try:
        resp = api.call_api(*request)
    except ApiException as exc:
        return int(exc.status), orjson.loads(exc.body)
    resp.read()
    return resp.status, orjson.loads(resp.data)


def forbidden_body(exc: ApiException) -> dict[str, Any]:
    assert exc.status == 403
    body: dict[str, Any] = orjson.loads(exc.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert (body["status"], body["reason"], body["code"]) == ("Failure", "Forbidden", 403)
    return body


def test_get_of_an_object_is_a_kubernetes_403(enforcing) -> None:
    double, api = enforcing
    core = client.CoreV1Api(api)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("x", "default")
    body = forbidden_body(err.value)
    assert body["message"] == (
        f'configmaps "x" is forbidden: User "{USER}" cannot get resource "configmaps" '
        'in API group "" in the namespace "default"'
    )
    assert body["details"] == {"name": "x", "kind": "configmaps"}
    assert [(r.method, r.verb, r.path) for r in double.forbidden] == [
        ("GET", "get", "/api/v1/namespaces/default/configmaps/x")
    ]
    # list and watch of the same resource are allowed
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == ["x"]
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version="0", timeout_seconds=1
        )
    )
    assert [e["object"].metadata.name for e in events] == ["x"]
    assert [r.verb for r in double.requests][-2:] == ["list", "watch"]
    assert len(double.forbidden) == 1


def test_forbidden_messages_name_verb_resource_group_and_scope(enforcing) -> None:
    double, api = enforcing
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_deployment("web", "prod")
    body = forbidden_body(err.value)
    assert body["message"] == (
        f'deployments.apps "web" is forbidden: User "{USER}" cannot get resource '
        '"deployments" in API group "apps" in the namespace "prod"'
    )
    assert body["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
    with pytest.raises(ApiException) as err:
        core.read_namespace("payments")  # a Namespace is in its own namespace
    assert forbidden_body(err.value)["message"] == (
        f'namespaces "payments" is forbidden: User "{USER}" cannot get resource "namespaces" '
        'in API group "" in the namespace "payments"'
    )
    with pytest.raises(ApiException) as err:
        core.read_node("n1")
    assert forbidden_body(err.value)["message"].endswith(
        'cannot get resource "nodes" in API group "" at the cluster scope'
    )
    # writes are authorized before anything else: 403, not the double's read-only 405
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", client.V1ConfigMap(metadata={"name": "y"}))
    assert forbidden_body(err.value)["message"] == (
        f'configmaps is forbidden: User "{USER}" cannot create resource "configmaps" '
        'in API group "" in the namespace "default"'
    )
    with pytest.raises(ApiException) as err:
        core.delete_collection_namespaced_config_map("default")
    assert "cannot deletecollection resource" in forbidden_body(err.value)["message"]
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("x", "default", {"data": {"k": "v"}})
    assert "cannot patch resource" in forbidden_body(err.value)["message"]
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_config_map("x", "default")
    assert "cannot delete resource" in forbidden_body(err.value)["message"]
    assert [r.verb for r in double.forbidden] == [
        "get", "get", "get", "create", "deletecollection", "patch", "delete",
    ]  # fmt: skip
    assert double.get("v1", "ConfigMap", "default", "x") is not None


@pytest.mark.parametrize(("resource", "subresource"), DANGEROUS)
def test_exec_attach_portforward_and_proxy_are_refused(enforcing, resource, subresource) -> None:
    double, api = enforcing
    where = "" if resource == "nodes" else "/namespaces/default"
    path = f"/api/v1{where}/{resource}/p/{subresource}"
    status, body = raw_get(api, path)
    assert status == 403, body
    scope = "at the cluster scope" if resource == "nodes" else 'in the namespace "default"'
    assert body["message"] == (
        f'{resource} "p" is forbidden: User "{USER}" cannot get resource '
        f'"{resource}/{subresource}" in API group "" {scope}'
    )
    # the old role's `get` on `*` let the same request through to the server (404 here only
    # because the double serves no exec)
    double.set_rules([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}])
    assert raw_get(api, path)[0] == 404


def test_non_resource_urls(enforcing) -> None:
    double, api = enforcing
    assert raw_get(api, "/api")[0] == 200
    assert raw_get(api, "/apis/apps/v1")[1]["kind"] == "APIResourceList"
    status, body = raw_get(api, "/version")
    assert status == 403
    assert body["message"] == f'forbidden: User "{USER}" cannot get path "/version"'
    assert body["details"] == {} and body["reason"] == "Forbidden"
    with pytest.raises(ApiException) as err:
        client.VersionApi(api).get_code()  # the client asks for "/version/"
    assert forbidden_body(err.value)["message"].endswith('cannot get path "/version/"')
    assert raw_get(api, "/healthz")[0] == 403
    assert [r.path for r in double.forbidden] == ["/version", "/version", "/healthz"]


def test_watch_verbs_field_selector_names_and_resource_names(tmp_path: Path) -> None:
    rules = [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["db"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": ["apps"], "resources": ["*/status"], "verbs": ["get"]},
    ]
    with ApiDouble(bookmark_interval=0.05, rules=rules) as double:
        api = config.new_client_from_config(
            config_file=str(double.write_kubeconfig(tmp_path / "kc"))
        )
        try:
            ok = "/api/v1/namespaces/default/configmaps"
            assert raw_get(api, ok)[0] == 200
            status, body = raw_get(api, ok, watch="true", timeoutSeconds="1")
            assert status == 403  # refused before the stream starts, not an ERROR event
            assert body["message"] == (
                f'configmaps is forbidden: User "{USER}" cannot watch resource "configmaps" '
                'in API group "" in the namespace "default"'
            )
            assert raw_get(api, "/api/v1/watch/namespaces/default/configmaps")[0] == 403
            secrets = "/api/v1/namespaces/default/secrets"
            assert raw_get(api, secrets)[0] == 403  # resourceNames: a list needs the name
            assert raw_get(api, secrets, fieldSelector="metadata.name=db")[0] == 200
            status, body = raw_get(api, secrets, fieldSelector="metadata.name=other")
            assert status == 403
            assert body["message"].startswith('secrets "other" is forbidden: ')
            assert raw_get(api, f"{secrets}/db")[0] == 404  # allowed, and not there
            assert raw_get(api, f"{secrets}/other")[0] == 403
            deployments = "/apis/apps/v1/namespaces/default/deployments"
            assert raw_get(api, f"{deployments}/web/status")[0] == 404  # */status: allowed
            status, body = raw_get(api, f"{deployments}/web")
            assert status == 403
            assert '"deployments" in API group "apps"' in body["message"]
            assert [r.verb for r in double.forbidden] == [
                "watch",
                "watch",
                "list",
                "list",
                "get",
                "get",
            ]
        finally:
            api.close()


def test_no_rules_no_enforcement_and_authentication_first(tmp_path: Path) -> None:
    with ApiDouble() as double:
        assert double.rules is None
        api = config.new_client_from_config(
            config_file=str(double.write_kubeconfig(tmp_path / "kc"))
        )
        try:
            assert raw_get(api, "/version")[0] == 200
            assert raw_get(api, "/api/v1/namespaces/default/configmaps/x")[0] == 404
            double.set_rules([])  # an empty role allows nothing
            assert raw_get(api, "/api")[0] == 403
        finally:
            api.close()
        assert len(double.forbidden) == 1
    with ApiDouble(rules=[]) as double:
        with client.ApiClient(client.Configuration(host=double.url)) as anonymous:
            status, body = raw_get(anonymous, "/api")
        assert (status, body["reason"]) == (401, "Unauthorized")
        assert double.forbidden == []


@pytest.mark.parametrize(
    "rule",
    [
        {"verbs": []},
        {"apiGroups": [""], "verbs": ["list"]},
        {"resources": ["pods"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["pods"], "nonResourceURLs": ["/api"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"], "namespaces": ["x"]},
    ],
)
def test_invalid_rules_are_refused(rule: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ApiDouble(rules=[rule])


# --- the recorder under the shipped role -------------------------------------------------------


@pytest.fixture
def double() -> Iterator[ApiDouble]:
    with ApiDouble(bookmark_interval=0.1, rules=SHIPPED) as d:
        yield d


def assert_only_reads(double: ApiDouble) -> None:
    assert double.forbidden == []
    assert {r.method for r in double.requests} == {"GET"}
    discovery = {r.path for r in double.requests if r.verb == "get"}
    assert discovery and all(p == "/api" or p.startswith(("/api/", "/apis")) for p in discovery)
    # every get is discovery: no object was read (a resource path has 3+ segments after /api)
    assert all(len(p.split("/")) <= 4 for p in discovery), discovery
    assert {r.verb for r in double.requests} == {"get", "list", "watch"}


def test_recorder_records_under_the_shipped_role(double, tmp_path, db_path) -> None:
    double.add_crd("argoproj.io", "v1alpha1", "Application", "applications")
    double.create(configmap("settings", "payments"))
    double.create(deployment("api"), manager="argocd-controller")
    double.create(application("payments"), manager="argocd-server")
    lines = io.StringIO()
    with recording(double, db_path, tmp_path, status_stream=lines, verbose=True) as recorder:
        wait_for(
            lambda: (
                {
                    ("ConfigMap", "payments", "settings", "created", 1),
                    ("Deployment", "payments", "api", "created", 1),
                    ("Application", "argocd", "payments", "created", 1),
                }
                <= set(revisions(db_path))
                # each type is listed by its own reflector: wait for the CRDs' list too
                and any(r[0] == "CustomResourceDefinition" for r in revisions(db_path))
            ),
            what="the first lists",
        )
        double.patch(
            "v1",
            "ConfigMap",
            "payments",
            "settings",
            lambda o: o["data"].update(k="changed"),
            manager="kubectl-edit",
        )
        double.delete("apps/v1", "Deployment", "payments", "api")
        wait_for(
            lambda: ("ConfigMap", "payments", "settings", "updated", 0) in revisions(db_path),
            what="the edit, by watch",
        )
        wait_for(
            lambda: ("Deployment", "payments", "api", "deleted", 0) in revisions(db_path),
            what="the delete, by watch",
        )
        assert recorder.stats.errors == 0, recorder.stats.last_error
    assert "forbidden" not in lines.getvalue()
    assert_only_reads(double)


def test_cli_record_under_the_shipped_role(double, tmp_path, db_path) -> None:
    double.create(configmap("a"))
    kubeconfig = double.write_kubeconfig(tmp_path / "kubeconfig")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "timetravel", "record", "--db", str(db_path),
            "--kubeconfig", str(kubeconfig), "--status-every", "0", "--read-timeout", "3",
            "--verbose",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(lambda: count(db_path, "SELECT count(*) FROM revisions") >= 1, what="the list")
        # once the configmaps watch is asked for, their list is done: a create now is watched
        wait_for(
            lambda: any(
                r.verb == "watch" and r.path == "/api/v1/configmaps" for r in list(double.requests)
            ),
            what="the configmaps watch",
        )
        double.create(configmap("b"))
        wait_for(
            lambda: ("ConfigMap", "payments", "b", "created", 0) in revisions(db_path),
            what="a create, by watch",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr.decode()
    assert b"forbidden" not in stderr, stderr.decode()
    assert_only_reads(double)


def test_role_without_list_is_reported_not_a_crash(tmp_path, db_path) -> None:
    with ApiDouble(bookmark_interval=0.1, rules=NO_LIST) as double:
        double.create(configmap("settings", "payments"))
        lines = io.StringIO()
        with recording(double, db_path, tmp_path, listed=False, status_stream=lines) as recorder:
            wait_for(lambda: len(double.forbidden) >= 3, what="refused lists")
            time.sleep(0.3)
            assert not recorder.ready.is_set()
            assert recorder.stats.errors >= 1 and recorder.stats.revisions == 0
        # recording() re-raises whatever run() raised: it returned, having stopped cleanly
        assert {r.verb for r in double.forbidden} == {"list"}
    final = lines.getvalue().splitlines()[-1]  # the last word says why nothing was recorded
    assert final.startswith("timetravel: stopped"), final
    assert f'is forbidden: User "{USER}" cannot list resource' in final, final
    assert count(db_path, "SELECT count(*) FROM revisions") == 0


def test_role_without_list_is_reported_as_it_happens_with_verbose(tmp_path, db_path) -> None:
    with ApiDouble(bookmark_interval=0.1, rules=NO_LIST) as double:
        lines = io.StringIO()
        with recording(double, db_path, tmp_path, listed=False, status_stream=lines, verbose=True):
            wait_for(lambda: "cannot list resource" in lines.getvalue(), what="the 403 reported")
    text = lines.getvalue()
    assert "Traceback" not in text
    assert (
        f'configmaps: GET /api/v1/configmaps: 403 configmaps is forbidden: User "{USER}" '
        'cannot list resource "configmaps" in API group "" at the cluster scope'
    ) in text


def test_role_fixed_while_recording_is_picked_up(tmp_path, db_path) -> None:
    with ApiDouble(bookmark_interval=0.1, rules=NO_LIST) as double:
        double.create(configmap("settings", "payments"))
        with recording(double, db_path, tmp_path, listed=False) as recorder:
            wait_for(lambda: len(double.forbidden) >= 3, what="refused lists")
            double.set_rules(SHIPPED)  # the reflectors' retries get through
            wait_for(recorder.ready.is_set, what="the lists, once allowed")
            wait_for(
                lambda: ("ConfigMap", "payments", "settings", "created", 1) in revisions(db_path),
                what="the configmap",
            )
            refused = len(double.forbidden)
            double.create(configmap("later", "payments"))
            wait_for(
                lambda: ("ConfigMap", "payments", "later", "created", 0) in revisions(db_path),
                what="a create, by watch",
            )
        assert len(double.forbidden) == refused


def test_role_without_discovery_is_a_user_error(tmp_path, db_path) -> None:
    rules = [r for r in SHIPPED if "resources" in r]
    with ApiDouble(rules=rules) as double:
        recorder = make_recorder(double, db_path, tmp_path)
        with pytest.raises(UserError, match="forbidden"):
            recorder.run()
        assert [r.path for r in double.forbidden] == ["/api"]
