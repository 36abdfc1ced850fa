"""deploy/: the kustomize base and its two overlays render (with `kubectl kustomize`) into
objects the Kubernetes API accepts, checked field by field against the kubernetes client's
models (an unknown field, a wrong type or a missing required field fails), and say what the
recorder needs: probes on the port it listens on, a non-root read-only container, one
replica with Recreate and a volume for SQLite, two with --standby for PostgreSQL, and a
role that only lists and watches."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from timetravel.domain.quantity import parse_quantity

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
OVERLAYS = ["sqlite", "postgres"]
IMAGE_UID = 10001  # the Dockerfile's USER
# Created by the user, never by deploy/ (deploy/README.md says how): name -> keys read
USER_SECRETS = {
    "timetravel-git": {"token", "username", "ssh-privatekey", "known_hosts"},
    "timetravel-secret-key": {"key"},
    "timetravel-db": {"url"},
}

Obj = dict[str, Any]
needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (with its built-in kustomize) is not installed"
)


# --- validation against the API's types ----------------------------------------------------


class Invalid(Exception):
    pass


_PRIMITIVES: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "object": lambda v: True,  # int-or-string and free-form fields
    "datetime": lambda v: isinstance(v, str),
    "date": lambda v: isinstance(v, str),
}


def validate(value: Any, type_name: str, where: str) -> Any:
    """``value`` as the client model ``type_name``; raises Invalid naming the field."""
    if value is None:
        return None
    if match := re.fullmatch(r"(?:list|List)\[(.+)\]", type_name):
        if not isinstance(value, list):
            raise Invalid(f"{where}: a list expected, got {value!r}")
        return [validate(v, match[1], f"{where}[{i}]") for i, v in enumerate(value)]
    if match := re.fullmatch(r"(?:dict\(str, |Dict\[str, )(.+)[\)\]]", type_name):
        if not isinstance(value, dict):
            raise Invalid(f"{where}: a map expected, got {value!r}")
        return {k: validate(v, match[1], f"{where}.{k}") for k, v in value.items()}
    if type_name in _PRIMITIVES:
        if not _PRIMITIVES[type_name](value):
            raise Invalid(f"{where}: {type_name} expected, got {value!r}")
        return value
    model = getattr(client, type_name)
    if not isinstance(value, dict):
        raise Invalid(f"{where}: an object ({type_name}) expected, got {value!r}")
    by_json = {json: attr for attr, json in model.attribute_map.items()}
    unknown = sorted(set(value) - set(by_json))
    if unknown:
        raise Invalid(f"{where}: unknown field(s) {unknown} in {type_name}")
    kwargs = {
        by_json[k]: validate(v, model.openapi_types[by_json[k]], f"{where}.{k}")
        for k, v in value.items()
    }
    try:
        return model(**kwargs)  # the client refuses a missing required field
    except ValueError as exc:
        raise Invalid(f"{where}: {exc}") from None


def model_name(obj: Obj) -> str:
    version = obj["apiVersion"].rsplit("/", 1)[-1]
    return version[0].upper() + version[1:] + obj["kind"]


def validate_object(obj: Obj) -> None:
    name = model_name(obj)
    if not hasattr(client, name):
        raise Invalid(f"{obj['apiVersion']} {obj['kind']}: no such type in the API")
    validate(obj, name, f"{obj['kind']}/{obj['metadata'].get('name')}")


# --- rendering -----------------------------------------------------------------------------


@cache
def rendered(directory: str) -> tuple[Obj, ...]:
    done = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def one(objects: tuple[Obj, ...], kind: str) -> Obj:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def pod_spec(objects: tuple[Obj, ...]) -> Obj:
    spec: Obj = one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def recorder(objects: tuple[Obj, ...]) -> Obj:
    (container,) = [c for c in pod_spec(objects)["containers"] if c["name"] == "recorder"]
    return container


def all_containers(objects: tuple[Obj, ...]) -> list[Obj]:
    spec = pod_spec(objects)
    containers: list[Obj] = spec["containers"] + spec.get("initContainers", [])
    return containers


def expand(value: str, env: dict[str, str]) -> str:
    """What the kubelet makes of $(VAR) references: defined ones replaced, $$ a literal $."""

    def one_ref(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        return env.get(m[1], m[0])

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", one_ref, value)


def container_env(objects: tuple[Obj, ...], container: Obj) -> dict[str, str]:
    """The container's environment as literal values (ConfigMap keys resolved)."""
    maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = expand(var["value"], env)
        elif ref := var.get("valueFrom", {}).get("configMapKeyRef"):
            env[var["name"]] = maps[ref["name"]][ref["key"]]
    return env


# --- the tests -----------------------------------------------------------------------------


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_objects_the_api_accepts(overlay: str) -> None:
    objects = rendered(f"overlays/{overlay}")
    kinds = sorted(o["kind"] for o in objects)
    assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} <= set(kinds)
    assert {"Deployment", "Service", "ConfigMap"} <= set(kinds)
    for obj in objects:
        validate_object(obj)
        if obj["kind"] not in {"Namespace", "ClusterRole", "ClusterRoleBinding"}:
            assert obj["metadata"]["namespace"] == "timetravel", obj["metadata"]
    assert "Secret" not in kinds, "Secrets are the user's to create, with real values"


def test_validation_refuses_unknown_fields_wrong_types_and_missing_required() -> None:
    good: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }
    validate_object(good)
    container = good["spec"]["template"]["spec"]["containers"][0]
    for field, value, message in [
        ("imagePullPolicyy", "Always", "unknown field"),
        ("args", "record --standby", "a list expected"),
        ("ports", [{"containerPort": "9090"}], "int expected"),
        ("resources", {"limits": {"memory": 512}}, "str expected"),
    ]:
        container[field] = value
        with pytest.raises(Invalid, match=message):
            validate_object(good)
        del container[field]
    del container["name"]
    with pytest.raises(Invalid, match="name"):
        validate_object(good)
    with pytest.raises(Invalid, match="no such type"):
        validate_object({"apiVersion": "v1", "kind": "Recorder", "metadata": {}})


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_and_the_metrics_service_use_the_port_the_recorder_listens_on(
    overlay: str,
) -> None:
    objects = rendered(f"overlays/{overlay}")
    container = recorder(objects)
    args = container["args"]
    assert args[0] == "record"
    listen = args[args.index("--listen") + 1]
    port = int(listen.rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    def resolve(p: int | str) -> int:
        return ports[p] if isinstance(p, str) else p

    probes = {
        k: container[k]["httpGet"] for k in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert {k: resolve(v["port"]) for k, v in probes.items()} == dict.fromkeys(probes, port)
    assert probes["livenessProbe"]["path"] == "/healthz"
    # a standby answers 503 on /readyz while it stands by: two replicas are ready when live
    readiness = "/healthz" if overlay == "postgres" else "/readyz"
    assert probes["readinessProbe"]["path"] == readiness
    service = one(objects, "Service")
    (service_port,) = service["spec"]["ports"]
    assert resolve(service_port["targetPort"]) == port
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == service_port["port"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert service["spec"]["publishNotReadyAddresses"] is True
    labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_containers_run_as_non_root_on_a_read_only_root_writing_only_volumes(
    overlay: str,
) -> None:
    objects = rendered(f"overlays/{overlay}")
    spec = pod_spec(objects)
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == IMAGE_UID and pod["fsGroup"] == IMAGE_UID
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["serviceAccountName"] == one(objects, "ServiceAccount")["metadata"]["name"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    for volume in volumes.values():
        sources = set(volume) - {"name"}
        assert len(sources) == 1, f"volume {volume['name']} has sources {sources}"
    assert "emptyDir" in volumes["tmp"]
    for container in all_containers(objects):
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts["/tmp"]["name"] == "tmp" and mounts["/data"]["name"] == "data"
        for path, mount in mounts.items():
            assert mount["name"] in volumes
            writable = path in {"/data", "/tmp"}
            assert writable or mount.get("readOnly") is True, path
            if not writable:
                assert "secret" in volumes[mount["name"]], path
        resources = container["resources"]
        assert set(resources) == {"requests", "limits"}
        memory = parse_quantity(resources["limits"]["memory"])
        # BENCHMARKS.md: peak RSS 202 MB at 20,000 objects, target <= 300 MB
        assert memory is not None and memory >= 300 * 10**6
        assert parse_quantity(resources["requests"]["memory"]) >= 202 * 10**6  # type: ignore[operator]
    assert spec["terminationGracePeriodSeconds"] >= 10  # SIGTERM: out within 10 s


@needs_kubectl
def test_sqlite_overlay_is_one_replica_recreated_on_a_claimed_volume() -> None:
    objects = rendered("overlays/sqlite")
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = one(objects, "PersistentVolumeClaim")
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    container = recorder(objects)
    env = container_env(objects, container)
    assert env["TIMETRAVEL_DB"].startswith("/data/")
    assert "--standby" not in container["args"]
    # `kubectl apply -k deploy/` (the README's line) applies this overlay
    assert rendered(".") == objects


@needs_kubectl
def test_postgres_overlay_is_two_replicas_one_standing_by_with_the_dsn_from_a_secret() -> None:
    objects = rendered("overlays/postgres")
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    container = recorder(objects)
    assert "--standby" in container["args"]
    (db,) = [e for e in container["env"] if e["name"] == "TIMETRAVEL_DB"]
    assert db["valueFrom"]["secretKeyRef"] == {"name": "timetravel-db", "key": "url"}
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    # never two pods gone at once, never a third: a rollout keeps one holding the lease
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert (rolling["maxSurge"], rolling["maxUnavailable"]) == (0, 1)


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_the_users_named_in_deploy_readme_and_the_key_is_a_file(overlay: str) -> None:
    objects = rendered(f"overlays/{overlay}")
    spec = pod_spec(objects)
    used: dict[str, set[str]] = {}
    for volume in spec["volumes"]:
        if "secret" in volume:
            used.setdefault(volume["secret"]["secretName"], set())
    for container in all_containers(objects):
        for var in container.get("env", []):
            if ref := var.get("valueFrom", {}).get("secretKeyRef"):
                used.setdefault(ref["name"], set()).add(ref["key"])
    assert set(used) <= set(USER_SECRETS), used
    for name, keys in used.items():
        assert keys <= USER_SECRETS[name]
    readme = (DEPLOY / "README.md").read_text()
    for name in used:
        assert f"kubectl -n timetravel create secret generic {name}" in readme, name
    env = container_env(objects, recorder(objects))
    key_file = Path(env["TIMETRAVEL_SECRET_KEY_FILE"])
    (mount,) = [m for m in recorder(objects)["volumeMounts"] if m["name"] == "secret-key"]
    assert key_file.parent == Path(mount["mountPath"])
    (volume,) = [v for v in spec["volumes"] if v["name"] == "secret-key"]
    assert volume["secret"]["secretName"] == "timetravel-secret-key"
    assert "optional" not in volume["secret"], "no recorder without the team's key"


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_image_is_a_placeholder_set_by_kustomize_edit_set_image(overlay: str) -> None:
    base = yaml.safe_load_all((DEPLOY / "base/recorder.yaml").read_text())
    (deployment,) = [d for d in base if d["kind"] == "Deployment"]
    names = {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert names == {"timetravel"}
    kustomization = yaml.safe_load((DEPLOY / f"overlays/{overlay}/kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    assert image["name"] == "timetravel"
    rendered_images = {c["image"] for c in all_containers(rendered(f"overlays/{overlay}"))}
    assert rendered_images == {f"{image['newName']}:{image['newTag']}"}
    assert "kustomize edit set image timetravel=" in (DEPLOY / "README.md").read_text()


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_role_only_lists_and_watches_as_deploy_base_rbac_says(overlay: str) -> None:
    objects = rendered(f"overlays/{overlay}")
    role = one(objects, "ClusterRole")
    shipped = [d for d in yaml.safe_load_all((DEPLOY / "base/rbac.yaml").read_text()) if d]
    (shipped_role,) = [d for d in shipped if d["kind"] == "ClusterRole"]
    assert role["rules"] == shipped_role["rules"]
    for rule in role["rules"]:
        if "nonResourceURLs" in rule:
            assert rule["verbs"] == ["get"]
            assert set(rule["nonResourceURLs"]) == {"/api", "/api/*", "/apis", "/apis/*"}
        else:
            assert sorted(rule["verbs"]) == ["list", "watch"]
            assert not {"get", "create", "update", "patch", "delete"} & set(rule["verbs"])
    binding = one(objects, "ClusterRoleBinding")
    account = one(objects, "ServiceAccount")["metadata"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]


@needs_kubectl
def test_the_repository_is_cloned_where_the_recorder_follows_it() -> None:
    objects = rendered("overlays/sqlite")
    (clone,) = pod_spec(objects)["initContainers"]
    script = clone["args"][0]
    assert "git clone" in script and "/data/gitops" in script
    container = recorder(objects)
    env = container_env(objects, container)
    args = [expand(a, env) for a in container["args"]]
    repo = args[args.index("--repo") + 1]
    assert repo.rstrip("/") == "/data/gitops"  # the whole repository by default (folder=)
    clone_env = container_env(objects, clone)
    assert clone_env["GIT_URL"].startswith("https://") and clone_env["GIT_BRANCH"]


@needs_kubectl
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_git_token_reaches_git_through_the_credential_helper(tmp_path: Path) -> None:
    objects = rendered("overlays/postgres")
    env = container_env(objects, recorder(objects))
    secret = tmp_path / "git"  # stands for the timetravel-git Secret's mount
    env = {k: v.replace("/etc/timetravel/git", str(secret)) for k, v in env.items()}
    git_env = {k: v for k, v in env.items() if k.startswith("GIT_")}
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def fill() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "credential", "fill"],
            input="protocol=https\nhost=git.example.com\n\n",
            env={**base, **git_env},
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )

    secret.mkdir()
    (secret / "token").write_text("s3cr3t-token\n")
    answer = fill()
    assert answer.returncode == 0, answer.stderr
    assert "username=x-access-token\n" in answer.stdout
    assert "password=s3cr3t-token\n" in answer.stdout
    (secret / "username").write_text("x-token-auth\n")
    assert "username=x-token-auth\n" in fill().stdout
    (secret / "token").unlink()  # no token (a public repository): no prompt, a failure
    assert fill().returncode != 0


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_recorder_keeps_a_bounded_history(overlay: str) -> None:
    """A recorder left running for a year prunes as it goes (``record --keep``): the volume
    (or the team store) does not fill up with history nobody asked to keep."""
    from timetravel.commands.options import duration_arg

    args = recorder(rendered(f"overlays/{overlay}"))["args"]
    assert "--keep" in args, args
    keep = duration_arg(args[args.index("--keep") + 1])
    assert timedelta(days=30) <= keep <= timedelta(days=400)
