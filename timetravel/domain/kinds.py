"""Kind names as people type them: ``deploy``, ``deployments``, ``Deployment``, ``cm``.

kubectl resolves a typed name through discovery (each resource's plural, singular and
``shortNames``). A time machine cannot ask a cluster that may be gone, so the built-in
kinds' names are listed here, as the API server publishes them; any other kind (a CRD)
matches its own Kind, case-insensitively, or a plural made by adding ``s``/``es``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindName:
    """A kind and its API group ("" for the core group), as a typed name resolved to it."""

    kind: str
    group: str | None  # None: the name said nothing about the group (a CRD by its Kind)


# (Kind, group, plural, short names): from the API server's discovery documents.
_BUILTIN: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("Pod", "", "pods", ("po",)),
    ("Service", "", "services", ("svc",)),
    ("ConfigMap", "", "configmaps", ("cm",)),
    ("Secret", "", "secrets", ()),
    ("Namespace", "", "namespaces", ("ns",)),
    ("Node", "", "nodes", ("no",)),
    ("ServiceAccount", "", "serviceaccounts", ("sa",)),
    ("PersistentVolumeClaim", "", "persistentvolumeclaims", ("pvc",)),
    ("PersistentVolume", "", "persistentvolumes", ("pv",)),
    ("Endpoints", "", "endpoints", ("ep",)),
    ("Event", "", "events", ("ev",)),
    ("LimitRange", "", "limitranges", ("limits",)),
    ("ResourceQuota", "", "resourcequotas", ("quota",)),
    ("ReplicationController", "", "replicationcontrollers", ("rc",)),
    ("Deployment", "apps", "deployments", ("deploy",)),
    ("ReplicaSet", "apps", "replicasets", ("rs",)),
    ("StatefulSet", "apps", "statefulsets", ("sts",)),
    ("DaemonSet", "apps", "daemonsets", ("ds",)),
    ("ControllerRevision", "apps", "controllerrevisions", ()),
    ("Job", "batch", "jobs", ()),
    ("CronJob", "batch", "cronjobs", ("cj",)),
    ("HorizontalPodAutoscaler", "autoscaling", "horizontalpodautoscalers", ("hpa",)),
    ("Ingress", "networking.k8s.io", "ingresses", ("ing",)),
    ("IngressClass", "networking.k8s.io", "ingressclasses", ()),
    ("NetworkPolicy", "networking.k8s.io", "networkpolicies", ("netpol",)),
    ("PodDisruptionBudget", "policy", "poddisruptionbudgets", ("pdb",)),
    ("Role", "rbac.authorization.k8s.io", "roles", ()),
    ("RoleBinding", "rbac.authorization.k8s.io", "rolebindings", ()),
    ("ClusterRole", "rbac.authorization.k8s.io", "clusterroles", ()),
    ("ClusterRoleBinding", "rbac.authorization.k8s.io", "clusterrolebindings", ()),
    ("StorageClass", "storage.k8s.io", "storageclasses", ("sc",)),
    (
        "CustomResourceDefinition",
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        ("crd", "crds"),
    ),
    ("EndpointSlice", "discovery.k8s.io", "endpointslices", ()),
    ("PriorityClass", "scheduling.k8s.io", "priorityclasses", ("pc",)),
    ("Lease", "coordination.k8s.io", "leases", ()),
    (
        "MutatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        (),
    ),
    (
        "ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        (),
    ),
    ("Application", "argoproj.io", "applications", ("app", "apps")),
    ("AppProject", "argoproj.io", "appprojects", ("appproj", "appprojs")),
)

_NAMES: dict[str, KindName] = {}
_PLURALS: dict[tuple[str, str], str] = {}
for _kind, _group, _plural_name, _shorts in _BUILTIN:
    _PLURALS[_kind, _group] = _plural_name
    for _name in (_kind.lower(), _plural_name, *_shorts):
        _NAMES.setdefault(_name, KindName(_kind, _group))

# The built-in kinds that live outside namespaces (discovery's ``namespaced: false``).
_CLUSTER_SCOPED = frozenset(
    {
        ("Namespace", ""),
        ("Node", ""),
        ("PersistentVolume", ""),
        ("ClusterRole", "rbac.authorization.k8s.io"),
        ("ClusterRoleBinding", "rbac.authorization.k8s.io"),
        ("StorageClass", "storage.k8s.io"),
        ("IngressClass", "networking.k8s.io"),
        ("CustomResourceDefinition", "apiextensions.k8s.io"),
        ("PriorityClass", "scheduling.k8s.io"),
        ("MutatingWebhookConfiguration", "admissionregistration.k8s.io"),
        ("ValidatingWebhookConfiguration", "admissionregistration.k8s.io"),
    }
)

# ``kubectl get all``: the "all" category of the built-in kinds, in kubectl's order.
ALL_KINDS: tuple[KindName, ...] = tuple(
    KindName(kind, group)
    for kind, group in (
        ("Pod", ""),
        ("ReplicationController", ""),
        ("Service", ""),
        ("DaemonSet", "apps"),
        ("Deployment", "apps"),
        ("ReplicaSet", "apps"),
        ("StatefulSet", "apps"),
        ("HorizontalPodAutoscaler", "autoscaling"),
        ("CronJob", "batch"),
        ("Job", "batch"),
    )
)


def resolve_kind(typed: str) -> KindName:
    """The kind a typed name means: a built-in's Kind, plural or short name (any case),
    ``kind.group`` as kubectl accepts it (``deployments.apps``), else the name itself as a
    Kind (a CRD), matched later case-insensitively against the kinds the store holds."""
    text = typed.strip().rstrip(".")  # k9s's $RESOURCE_NAME.$RESOURCE_GROUP, core group
    lowered = text.lower()
    if lowered in _NAMES:
        return _NAMES[lowered]
    name, dot, group = lowered.partition(".")
    if dot and name in _NAMES and _NAMES[name].group == group:
        return _NAMES[name]
    if dot:  # a CRD named with its group: widgets.example.com
        return KindName(_singular(text.partition(".")[0]), group)
    return KindName(text, None)


def matches(typed: KindName, kind: str, group: str) -> bool:
    """Whether a stored (kind, group) is what the typed name resolved to."""
    if typed.group is not None and typed.group != group:
        return False
    wanted = typed.kind.lower()
    have = kind.lower()
    return have == wanted or _plural(have) == wanted or have == _singular(wanted)


def resolve_kinds(typed: str) -> tuple[KindName, ...]:
    """Kinds as kubectl's ``get`` takes them: one, or several joined by commas
    (``deploy,svc``), ``all`` standing for kubectl's "all" category; duplicates once."""
    out: list[KindName] = []
    for part in typed.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"{typed!r}: an empty kind between commas")
        for kind in ALL_KINDS if part.lower() == "all" else (resolve_kind(part),):
            if kind not in out:
                out.append(kind)
    return tuple(out)


def namespaced(kind: str, group: str) -> bool | None:
    """Whether objects of this kind live in namespaces: known for the built-in kinds, None
    for others (a stored object's empty namespace tells)."""
    if (kind, group) in _CLUSTER_SCOPED:
        return False
    return True if (kind, group) in _PLURALS else None


def resource_text(kind: str, group: str) -> str:
    """The resource as kubectl names it in messages: ``deployments.apps``, ``services``."""
    plural = _PLURALS.get((kind, group)) or _plural(kind.lower())
    return f"{plural}.{group}" if group else plural


def name_prefix(kind: str, group: str) -> str:
    """What ``kubectl get -o name`` puts before the slash: ``deployment.apps``, ``service``."""
    return f"{kind.lower()}.{group}" if group else kind.lower()


def _plural(kind: str) -> str:
    if kind.endswith(("s", "x", "ch", "sh")):
        return kind + "es"
    if kind.endswith("y") and kind[-2:-1] not in "aeiou":
        return kind[:-1] + "ies"
    return kind + "s"


def _singular(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith("ies"):
        return name[:-3] + "y"
    if lowered.endswith(("ses", "xes", "ches", "shes")):
        return name[:-2]
    if lowered.endswith("s") and not lowered.endswith("ss"):
        return name[:-1]
    return name
