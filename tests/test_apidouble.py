"""The API double against the real `kubernetes` client: what the recorder's tests rely on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.apidouble import ApiDouble, DoubleError

T0 = datetime(2024, 5, 1, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def double() -> Iterator[ApiDouble]:
    with ApiDouble(bookmark_interval=0.05) as d:
        yield d


@pytest.fixture
def api(double: ApiDouble, tmp_path: Path) -> Iterator[client.ApiClient]:
    kubeconfig = double.write_kubeconfig(tmp_path / "kubeconfig")
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    yield api_client
    api_client.close()


def raw(api: client.ApiClient, path: str, **query: Any) -> Any:
    """GET through the client's own transport and auth, returning the JSON as served."""
    request = api.param_serialize(
        "GET", path, query_params=list(query.items()), auth_settings=["BearerToken"]
    )
    resp = api.call_api(*request)
    resp.read()
    return orjson.loads(resp.data)


def configmap(name: str, ns: str = "default", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": data,
    }


def deployment(name: str = "web", image: str = "api:1.0") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "prod", "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "api", "image": image, "args": ["--v=1"]}]},
            },
        },
        "status": {"replicas": 2},
    }


def collect(stream: Iterator[dict[str, Any]], w: watch.Watch, n: int) -> list[dict[str, Any]]:
    """The first n events that are not bookmarks, then stop the watch."""
    events = []
    for ev in stream:
        if ev["type"] != "BOOKMARK":
            events.append(ev)
        if len(events) == n:
            w.stop()
    return events


def test_discovery_as_the_real_server(double: ApiDouble, api: client.ApiClient) -> None:
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    assert client.VersionApi(api).get_code().git_version.startswith("v1.")
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert groups["apps"].preferred_version.group_version == "apps/v1"
    assert {"autoscaling", "coordination.k8s.io", "discovery.k8s.io"} <= groups.keys()

    core = {r.name: r for r in client.CoreV1Api(api).get_api_resources().resources}
    assert core["configmaps"].namespaced and not core["nodes"].namespaced
    assert (
        core["configmaps"].singular_name == "configmap" and core["configmaps"].kind == "ConfigMap"
    )
    apps = {r.name: r for r in client.AppsV1Api(api).get_api_resources().resources}
    assert {"list", "watch", "get"} <= set(apps["deployments"].verbs)
    # Subresources are entries of their own, without list/watch.
    assert apps["deployments/status"].verbs == ["get", "patch", "update"]
    assert (apps["deployments/scale"].group, apps["deployments/scale"].kind) == (
        "autoscaling",
        "Scale",
    )
    assert raw(api, "/api/v1")["groupVersion"] == "v1"

    # A CRD added later is in discovery at once, and in the CRD list.
    assert "example.com" not in groups
    double.add_crd("example.com", "v1", "Widget", "widgets")
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert groups["example.com"].preferred_version.version == "v1"
    widgets = raw(api, "/apis/example.com/v1")["resources"]
    assert (widgets[0]["name"], widgets[0]["kind"], widgets[0]["namespaced"]) == (
        "widgets",
        "Widget",
        True,
    )
    crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    assert [c.metadata.name for c in crds] == ["widgets.example.com"]
    assert {c.type for c in crds[0].status.conditions} == {"NamesAccepted", "Established"}
    double.create({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}})
    listed = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "example.com", "v1", "default", "widgets"
    )
    assert listed["kind"] == "WidgetList" and [i["metadata"]["name"] for i in listed["items"]] == [
        "w1"
    ]


def test_list_pages_are_one_snapshot(double: ApiDouble, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for ns, name in [("b", "x"), ("a", "y"), ("a", "x"), ("c", "z"), ("b", "w")]:
        double.create(configmap(name, ns, k="v"))
    first = core.list_config_map_for_all_namespaces(limit=2)
    assert [(i.metadata.namespace, i.metadata.name) for i in first.items] == [
        ("a", "x"),
        ("a", "y"),
    ]
    assert first.metadata.remaining_item_count == 3 and first.metadata._continue

    # Writes between pages do not show: later pages are served as of the first page's rv.
    double.create(configmap("zz", "c"))
    double.delete("v1", "ConfigMap", "c", "z")
    seen, token = [], first.metadata._continue
    while token:
        page = core.list_config_map_for_all_namespaces(limit=2, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        seen += [(i.metadata.namespace, i.metadata.name) for i in page.items]
        token = page.metadata._continue
    assert seen == [("b", "w"), ("b", "x"), ("c", "z")]

    # As served: the list has kind/apiVersion, its items do not.
    body = orjson.loads(core.list_namespaced_config_map("a", _preload_content=False).data)
    assert (body["kind"], body["apiVersion"]) == ("ConfigMapList", "v1")
    assert body["metadata"]["resourceVersion"] == str(double.resource_version)
    assert [sorted(i) for i in body["items"]] == [["data", "metadata"]] * 2

    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("nope", "a")
    assert err.value.status == 404
    assert orjson.loads(err.value.body)["reason"] == "NotFound"


def test_watch_from_list_rv_sees_later_changes_in_order(
    double: ApiDouble, api: client.ApiClient
) -> None:
    core = client.CoreV1Api(api)
    double.create(configmap("before", "app"))
    rv = core.list_namespaced_config_map("app").metadata.resource_version
    double.create(configmap("cfg", "app", mode="a"))
    double.create(configmap("elsewhere", "other"))  # another namespace: not in this watch
    double.patch(
        "v1",
        "ConfigMap",
        "app",
        "cfg",
        lambda o: o["data"].update(mode="b"),
        manager="kubectl-edit",
    )
    double.delete("v1", "ConfigMap", "app", "cfg")
    # And one live event, after the backlog.
    live = threading.Timer(0.2, lambda: double.create(configmap("live", "app")))
    live.start()
    w = watch.Watch()
    stream = w.stream(
        core.list_namespaced_config_map, "app", resource_version=rv, timeout_seconds=5
    )
    events = collect(stream, w, 4)
    live.join()
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "cfg"),
        ("MODIFIED", "cfg"),
        ("DELETED", "cfg"),
        ("ADDED", "live"),
    ]
    assert events[1]["object"].data == {"mode": "b"}
    rvs = [int(e["object"].metadata.resource_version) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)
    assert events[0]["raw_object"]["kind"] == "ConfigMap"  # watch objects carry kind

    # From "" (or "0"): the current state as synthetic ADDED first.
    w = watch.Watch()
    events = collect(w.stream(core.list_config_map_for_all_namespaces), w, 3)
    assert [e["object"].metadata.name for e in events] == ["before", "live", "elsewhere"]
    assert {e["type"] for e in events} == {"ADDED"}


def test_bookmarks_carry_the_current_resource_version(
    double: ApiDouble, api: client.ApiClient
) -> None:
    double.create(configmap("a"))
    double.create(deployment())  # moves the global rv; no event for configmap watchers
    w = watch.Watch()
    core = client.CoreV1Api(api)
    for ev in w.stream(
        core.list_config_map_for_all_namespaces,
        resource_version=str(double.resource_version),
        allow_watch_bookmarks=True,
        timeout_seconds=5,
    ):
        assert ev["type"] == "BOOKMARK"
        assert ev["raw_object"]["metadata"]["resourceVersion"] == str(double.resource_version)
        assert ev["raw_object"]["kind"] == "ConfigMap"
        w.stop()
    assert w.resource_version == str(double.resource_version)  # the client resumes from it


def test_watch_ends_cleanly_at_timeout(double: ApiDouble, api: client.ApiClient) -> None:
    w = watch.Watch()
    core = client.CoreV1Api(api)
    events = list(
        w.stream(core.list_config_map_for_all_namespaces, resource_version="0", timeout_seconds=1)
    )
    assert events == []  # and no exception: the stream ended with its terminating chunk


def test_410_after_compaction(double: ApiDouble, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for i in range(3):
        double.create(configmap(f"c{i}"))
    listed = core.list_namespaced_config_map("default", limit=1)
    old_rv = listed.metadata.resource_version
    double.create(configmap("later"))
    double.compact()

    # The server sends one ERROR event with a 410 Status; the client raises it as ApiException.
    for kwargs in ({"timeout_seconds": 5}, {}):  # with and without the client's one retry
        with pytest.raises(ApiException) as err:
            list(
                watch.Watch().stream(
                    core.list_namespaced_config_map, "default", resource_version=old_rv, **kwargs
                )
            )
        assert err.value.status == 410
        assert f"too old resource version: {old_rv}" in err.value.reason
    resp = core.list_namespaced_config_map(
        "default", watch=True, resource_version=old_rv, _preload_content=False
    )
    error = orjson.loads(resp.data.splitlines()[0])
    assert error["type"] == "ERROR"
    assert error["object"] == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"too old resource version: {old_rv} ({double.resource_version})",
        "reason": "Expired",
        "code": 410,
    }
    # A continue token from before the compaction has expired too.
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map("default", limit=1, _continue=listed.metadata._continue)
    assert err.value.status == 410
    # Watching from the current rv works.
    now = str(double.resource_version)
    assert (
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=now, timeout_seconds=1
            )
        )
        == []
    )


def test_auto_compaction_keeps_the_last_interval(double: ApiDouble, api: client.ApiClient) -> None:
    double.auto_compact_every = 10
    for i in range(25):
        double.create(configmap(f"c{i}"))
    # Compacted at the 20th write to the rv of the 10th: the last 10+ writes stay watchable.
    core = client.CoreV1Api(api)
    with pytest.raises(ApiException) as err:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version="9", timeout_seconds=5
            )
        )
    assert err.value.status == 410
    w = watch.Watch()
    stream = w.stream(
        core.list_namespaced_config_map, "default", resource_version="10", timeout_seconds=5
    )
    assert collect(stream, w, 1)[0]["object"].metadata.name == "c10"


def test_dropped_watch_ends_with_an_error_then_resumes(
    double: ApiDouble, api: client.ApiClient
) -> None:
    core = client.CoreV1Api(api)
    start = str(double.resource_version)
    threading.Timer(0.1, lambda: double.create(configmap("one"))).start()
    w = watch.Watch()
    seen = []
    with pytest.raises(urllib3.exceptions.ProtocolError):  # "Response ended prematurely"
        for ev in w.stream(
            core.list_config_map_for_all_namespaces, resource_version=start, timeout_seconds=5
        ):
            seen.append(ev["object"].metadata.name)
            double.drop_watches()
    assert seen == ["one"]
    double.create(configmap("two"))
    w2 = watch.Watch()
    stream = w2.stream(
        core.list_config_map_for_all_namespaces,
        resource_version=w.resource_version,
        timeout_seconds=5,
    )
    assert [e["object"].metadata.name for e in collect(stream, w2, 1)] == ["two"]


def test_stalled_watch_sends_nothing(double: ApiDouble, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    double.stall = True
    double.create(configmap("held"))
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        list(
            watch.Watch().stream(
                core.list_config_map_for_all_namespaces,
                resource_version="0",
                allow_watch_bookmarks=True,
                timeout_seconds=5,
                _request_timeout=0.3,
            )
        )
    double.stall = False


def test_ignore_resource_version_replays_everything(
    double: ApiDouble, api: client.ApiClient
) -> None:
    double.create(configmap("a"))
    double.create(configmap("b"))
    double.ignore_resource_version = True
    w = watch.Watch()
    stream = w.stream(
        client.CoreV1Api(api).list_config_map_for_all_namespaces,
        resource_version=str(double.resource_version),
        timeout_seconds=5,
    )
    assert [(e["type"], e["object"].metadata.name) for e in collect(stream, w, 2)] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]


def entries(obj: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (e["manager"], e["operation"], e.get("subresource", "")): e
        for e in obj["metadata"]["managedFields"]
    }


def test_managed_fields_ownership_moves(double: ApiDouble, api: client.ApiClient) -> None:
    created = double.create(deployment(), at=T0)
    assert "status" not in created  # the real server resets status on create
    assert created["metadata"]["generation"] == 1
    csa = entries(created)[("kubectl-client-side-apply", "Update", "")]
    assert csa["time"] == "2024-05-01T09:00:00Z" and csa["fieldsType"] == "FieldsV1"
    assert csa["apiVersion"] == "apps/v1"
    container = csa["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"][
        'k:{"name":"api"}'
    ]
    assert container == {".": {}, "f:args": {}, "f:image": {}, "f:name": {}}
    assert csa["fieldsV1"]["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert csa["fieldsV1"]["f:spec"]["f:selector"] == {}  # LabelSelector is atomic

    # The HPA scales through the scale subresource: spec.replicas changes owner.
    scaled = double.patch(
        "apps/v1",
        "Deployment",
        "prod",
        "web",
        lambda o: o["spec"].update(replicas=5),
        manager="kube-controller-manager",
        subresource="scale",
        at=T0.replace(minute=5),
    )
    mf = entries(scaled)
    assert mf[("kube-controller-manager", "Update", "scale")]["fieldsV1"] == {
        "f:spec": {"f:replicas": {}}
    }
    assert mf[("kube-controller-manager", "Update", "scale")]["subresource"] == "scale"
    assert "f:replicas" not in mf[("kubectl-client-side-apply", "Update", "")]["fieldsV1"]["f:spec"]
    assert scaled["metadata"]["generation"] == 2

    # A person adds an env var with kubectl edit.
    def add_debug(o: dict[str, Any]) -> None:
        o["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "DEBUG", "value": "1"}]

    edited = double.patch(
        "apps/v1",
        "Deployment",
        "prod",
        "web",
        add_debug,
        manager="kubectl-edit",
        at=T0.replace(minute=9),
    )
    edit = entries(edited)[("kubectl-edit", "Update", "")]
    assert edit["time"] == "2024-05-01T09:09:00Z"
    assert edit["fieldsV1"] == {
        "f:spec": {
            "f:template": {
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"api"}': {
                            "f:env": {
                                ".": {},
                                'k:{"name":"DEBUG"}': {".": {}, "f:name": {}, "f:value": {}},
                            }
                        }
                    }
                }
            }
        }
    }

    # The controller reports status in a status write: no generation bump.
    status = double.patch(
        "apps/v1",
        "Deployment",
        "prod",
        "web",
        lambda o: o.update(status={"replicas": 5, "observedGeneration": 3}),
        manager="kube-controller-manager",
        subresource="status",
    )
    assert status["metadata"]["generation"] == 3
    assert entries(status)[("kube-controller-manager", "Update", "status")]["fieldsV1"] == {
        "f:status": {"f:observedGeneration": {}, "f:replicas": {}}
    }
    # Entries are ordered as the server orders them: by operation, then time.
    assert [e["manager"] for e in status["metadata"]["managedFields"]][:3] == [
        "kubectl-client-side-apply",
        "kube-controller-manager",
        "kubectl-edit",
    ]

    # Removing the env var takes it out of every set; an emptied entry is dropped.
    removed = double.patch(
        "apps/v1",
        "Deployment",
        "prod",
        "web",
        lambda o: o["spec"]["template"]["spec"]["containers"][0].pop("env"),
        manager="kubectl-edit-2",
    )
    assert ("kubectl-edit", "Update", "") not in entries(removed)
    assert ("kubectl-edit-2", "Update", "") not in entries(removed)

    # What the client reads is what was stored.
    typed = client.AppsV1Api(api).read_namespaced_deployment("web", "prod")
    assert typed.metadata.managed_fields[0].manager == "kubectl-client-side-apply"
    assert typed.spec.replicas == 5 and typed.status.observed_generation == 3


def test_write_semantics(double: ApiDouble) -> None:
    first = double.create(deployment())
    rv = first["metadata"]["resourceVersion"]
    # A no-op write stores nothing: same resourceVersion, no event.
    assert double.update(first, manager="kubectl")["metadata"]["resourceVersion"] == rv
    # A main-resource write cannot change status; a stale resourceVersion is a conflict.
    changed = {**first, "status": {"replicas": 9}}
    changed["spec"] = {**first["spec"], "replicas": 3}
    after = double.update(changed, manager="kubectl")
    assert "status" not in after and after["metadata"]["generation"] == 2
    assert after["metadata"]["uid"] == first["metadata"]["uid"]
    with pytest.raises(DoubleError) as err:
        double.update(changed, manager="kubectl")
    assert err.value.code == 409
    with pytest.raises(DoubleError) as err:
        double.create(deployment())
    assert (err.value.code, err.value.reason) == (409, "AlreadyExists")
    with pytest.raises(DoubleError):
        double.patch(
            "v1", "ConfigMap", "prod", "web", dict.clear, manager="x", subresource="status"
        )
    gone = double.delete("apps/v1", "Deployment", "prod", "web")
    assert int(gone["metadata"]["resourceVersion"]) == double.resource_version
    assert double.get("apps/v1", "Deployment", "prod", "web") is None


def test_auth_and_request_log(double: ApiDouble, api: client.ApiClient, tmp_path: Path) -> None:
    core = client.CoreV1Api(api)
    double.create(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web.17c", "namespace": "prod"},
            "involvedObject": {"kind": "Deployment", "namespace": "prod", "name": "web"},
            "type": "Warning",
            "reason": "BackOff",
            "message": "Back-off restarting failed container",
            "firstTimestamp": "2024-05-01T09:00:00Z",
            "lastTimestamp": "2024-05-01T09:03:00Z",
        }
    )
    double.requests.clear()
    client.CoreApi(api).get_api_versions()
    assert core.list_namespaced_event("prod").items[0].reason == "BackOff"
    core.read_namespaced_event("web.17c", "prod")
    list(
        watch.Watch().stream(
            core.list_namespaced_event, "prod", resource_version="0", timeout_seconds=1
        )
    )
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("prod", client.V1ConfigMap(metadata={"name": "x"}))
    assert err.value.status == 405
    with pytest.raises(ApiException):
        core.delete_collection_namespaced_config_map("prod")
    assert [(r.method, r.verb) for r in double.requests] == [
        ("GET", "get"),
        ("GET", "list"),
        ("GET", "get"),
        ("GET", "watch"),
        ("POST", "create"),
        ("DELETE", "deletecollection"),
    ]
    assert double.requests[1].path == "/api/v1/namespaces/prod/events"
    assert double.requests[3].query["watch"] == "true"

    # (429/503 carry Retry-After, which the client's urllib3 honours by retrying on its own.)
    double.fail_next(1, status=500)
    with pytest.raises(ApiException) as err:
        core.list_namespaced_event("prod")
    assert err.value.status == 500
    assert core.list_namespaced_event("prod").items  # only the next request failed

    for token in ("wrong", None):
        cfg = client.Configuration(host=double.url)
        if token:
            cfg.api_key = {"authorization": f"Bearer {token}"}
        with client.ApiClient(cfg) as anonymous, pytest.raises(ApiException) as err:
            client.CoreV1Api(anonymous).list_namespaced_event("prod")
        assert err.value.status == 401
        assert orjson.loads(err.value.body)["reason"] == "Unauthorized"
