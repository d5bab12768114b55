"""The manifests under ``config/kubernetes/`` agree with zproxy itself: ports with the settings'
defaults and the listen addresses zproxy parses, probes with the paths the admin app serves,
env names with ``ENV_VARS``, the grace period with ``shutdown_timeout``, the user with the
Dockerfile's; and, when ``kubernetes-validate`` is installed, with the official schemas."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from zproxy.config.load import ENV_VARS, load_settings
from zproxy.config.model import ServerSettings

ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = ROOT / "config" / "kubernetes"
#: Contract settings that issue 10 adds to ``ENV_VARS`` (remove a name once it is there).
PENDING_ENV = {"ZPROXY_QUEUE_DURABILITY"}
#: Kinds that are custom resources: not in the official schemas.
CUSTOM_KINDS = {"ServiceMonitor", "Rollout", "AnalysisTemplate"}

Doc = dict[str, Any]


def load_docs() -> list[tuple[str, Doc]]:
    return [
        (path.name, doc)
        for path in sorted(MANIFESTS.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None
    ]


DOCS = load_docs()


def one(kind: str, name: str | None = None) -> Doc:
    found = [d for _, d in DOCS if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


DEPLOYMENT = one("Deployment")
POD = DEPLOYMENT["spec"]["template"]["spec"]
(CONTAINER,) = POD["containers"]
POD_LABELS: dict[str, str] = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
PORTS = {p["name"]: p["containerPort"] for p in CONTAINER["ports"]}
ENV = {e["name"]: e for e in CONTAINER["env"]}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def admin_paths() -> set[str]:
    """The GET paths ``zproxy/admin/app.py`` registers (``router.add_get("/x", ...)``)."""
    tree = ast.parse((ROOT / "zproxy" / "admin" / "app.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_get"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_every_manifest_is_labelled_zproxy() -> None:
    kinds = sorted(d["kind"] for _, d in DOCS)
    assert kinds == [
        "AnalysisTemplate",
        "Deployment",
        "PodDisruptionBudget",
        "Rollout",
        "Secret",
        "Service",
        "Service",
        "ServiceMonitor",
    ]
    for name, doc in DOCS:
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "zproxy", name


def test_container_ports_are_the_ports_zproxy_listens_on() -> None:
    defaults = ServerSettings()
    assert {"http": defaults.listen.port, "admin": defaults.admin_listen.port} == PORTS
    settings = load_settings(
        ROOT / "config" / "zproxy.yaml",
        env={
            name: entry["value"]
            for name, entry in ENV.items()
            if "value" in entry and name not in PENDING_ENV
        },
    )
    # In a pod zproxy must listen on every interface, on the declared container ports.
    assert (settings.server.listen.host, settings.server.listen.port) == ("0.0.0.0", PORTS["http"])
    assert (settings.server.admin_listen.host, settings.server.admin_listen.port) == (
        "0.0.0.0",
        PORTS["admin"],
    )


def test_probes_ask_the_admin_port_for_paths_zproxy_serves() -> None:
    served = admin_paths()
    assert {"/healthz", "/readyz", "/metrics"} <= served
    assert CONTAINER["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert CONTAINER["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = CONTAINER[probe]["httpGet"]
        assert get["path"] in served, probe
        assert get["port"] in PORTS, probe


def test_grace_period_outlasts_the_pre_stop_pause_and_shutdown_timeout() -> None:
    shutdown = load_settings(ROOT / "config" / "zproxy.yaml", env={}).server.shutdown_timeout
    pause = CONTAINER["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert POD["terminationGracePeriodSeconds"] > pause + shutdown


def test_three_replicas_rolled_one_at_a_time_and_one_disruption_at_a_time() -> None:
    spec = DEPLOYMENT["spec"]
    assert spec["replicas"] == 3
    assert selects(spec["selector"]["matchLabels"], POD_LABELS)
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = one("PodDisruptionBudget")["spec"]
    assert selects(pdb["selector"]["matchLabels"], POD_LABELS)
    assert pdb["maxUnavailable"] == 1


def test_runs_as_the_images_non_root_user_on_a_read_only_root() -> None:
    user = re.search(r"^USER (\d+)(?::(\d+))?$", (ROOT / "Dockerfile").read_text(), re.M)
    assert user is not None, "the Dockerfile names a numeric USER"
    pod_security = POD["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] == int(user.group(1)) != 0
    assert pod_security["runAsGroup"] == int(user.group(2) or user.group(1))
    container_security = CONTAINER["securityContext"]
    assert container_security["readOnlyRootFilesystem"] is True
    assert container_security["allowPrivilegeEscalation"] is False
    assert container_security["capabilities"]["drop"] == ["ALL"]
    # The data dir zproxy writes to is a writable emptyDir.
    mounts = {m["mountPath"]: m["name"] for m in CONTAINER["volumeMounts"]}
    volumes = {v["name"]: v for v in POD["volumes"]}
    data_dir = Path(ENV["ZPROXY_DATA_DIR"]["value"])
    (mount,) = [m for m in mounts if data_dir.is_relative_to(m)]
    assert "emptyDir" in volumes[mounts[mount]]


def test_resources_are_requested_and_limited() -> None:
    resources = CONTAINER["resources"]
    for bound in ("requests", "limits"):
        assert set(resources[bound]) == {"cpu", "memory"}, bound


def test_env_names_are_zproxys_and_secrets_come_from_the_secret() -> None:
    assert set(ENV) <= set(ENV_VARS) | PENDING_ENV
    secret = one("Secret")
    from_secret = {
        name: entry["valueFrom"]["secretKeyRef"]
        for name, entry in ENV.items()
        if "valueFrom" in entry
    }
    assert set(from_secret) == {
        "ZPROXY_REDIS_URL",
        "ZPROXY_QUEUE_KEY",
        "ZPROXY_CACHE_SECRET",
        "ZPROXY_ADMIN_TOKEN",
    }
    for name, ref in from_secret.items():
        assert ref["name"] == secret["metadata"]["name"], name
        assert ref["key"] in secret["stringData"], name
    assert set(secret["stringData"]) <= set(ENV_VARS)
    for key in ("ZPROXY_QUEUE_KEY", "ZPROXY_CACHE_SECRET", "ZPROXY_ADMIN_TOKEN"):
        assert secret["stringData"][key].startswith("REPLACE"), f"{key}: a template, no secret"


def test_the_secret_template_points_at_a_sentinel_set() -> None:
    url = urlsplit(one("Secret")["stringData"]["ZPROXY_REDIS_URL"])
    assert url.scheme == "redis+sentinel"
    assert re.fullmatch(r"/[\w.-]+", url.path), "the monitored primary's name"
    hosts = url.netloc.rpartition("@")[2].split(",")
    assert len(hosts) >= 3
    assert all(re.fullmatch(r"[\w.-]+:\d+", h) for h in hosts), hosts


def test_services_expose_the_proxy_and_the_admin_port_apart() -> None:
    proxy, admin = one("Service", "zproxy")["spec"], one("Service", "zproxy-admin")["spec"]
    for spec in (proxy, admin):
        assert selects(spec["selector"], POD_LABELS)
    assert [(p["port"], p["targetPort"]) for p in proxy["ports"]] == [(PORTS["http"], "http")]
    assert [(p["port"], p["targetPort"]) for p in admin["ports"]] == [(PORTS["admin"], "admin")]


def test_service_monitor_scrapes_metrics_on_the_admin_service_only() -> None:
    monitor = one("ServiceMonitor")["spec"]
    selector = monitor["selector"]["matchLabels"]
    assert selects(selector, one("Service", "zproxy-admin")["metadata"]["labels"])
    assert not selects(selector, one("Service", "zproxy")["metadata"]["labels"])
    (endpoint,) = monitor["endpoints"]
    admin_port_names = {p["name"] for p in one("Service", "zproxy-admin")["spec"]["ports"]}
    assert endpoint["port"] in admin_port_names
    assert endpoint["path"] == "/metrics"
    assert "/metrics" in admin_paths()


@pytest.mark.parametrize(
    ("name", "doc"),
    [(n, d) for n, d in DOCS if d["kind"] not in CUSTOM_KINDS],
    ids=[
        f"{n}:{d['kind']}:{d['metadata']['name']}" for n, d in DOCS if d["kind"] not in CUSTOM_KINDS
    ],
)
def test_matches_the_official_kubernetes_schema(name: str, doc: Doc) -> None:
    validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    try:
        validate.validate(doc, validate.latest_version(), strict=True)
    except validate.ValidationError as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"{name}: {exc.message} at {'/'.join(map(str, exc.path))}")
