"""The k3s deployment: both overlays render with kubectl on a fresh clone, validate against
the Kubernetes schemas, keep the seed's names, lock the pods down, and run only real `quartz`
commands; the Secret comes only from each environment's secrets kustomization."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import time as clock
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from deploy_support import (
    OVERLAYS,
    REQUIRED_SECRET_KEYS,
    ROOT,
    SEED_CONFIG,
    SEED_SECRET_KEYS,
    WORKLOAD_KINDS,
    copy_tree,
    cron_times,
    example_keys,
    kustomize,
    load_docs,
    placeholder_secrets,
    pod_labels,
    pod_spec,
    render,
    secrets_dir,
    source_docs,
    workload_args,
)
from quartz_cli.config import Env, known_keys, load_config

QUARTZ = str(Path(sys.executable).parent / "quartz")
STATE_MOUNT = "/var/lib/quartz"
UID = 10001
# Kubernetes versions the manifests must be valid for: CronJob timeZone is GA from 1.27.
K8S_VERSIONS = ("1.27", "1.31", "1.37")


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    """Each overlay rendered from this checkout as it is: no secrets.env is needed."""
    out = {}
    for overlay in OVERLAYS:
        result = render(ROOT, overlay)
        assert result.returncode == 0, result.stderr
        out[overlay] = load_docs(result.stdout)
    return out


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """Each environment's secrets kustomization, rendered in a copy of the tree with a
    placeholder secrets.env."""
    tree = copy_tree(tmp_path_factory.mktemp("secrets"))
    out = {}
    for overlay in OVERLAYS:
        folder = secrets_dir(tree, overlay)
        (folder / "secrets.env").write_text(placeholder_secrets(folder))
        result = kustomize(folder)
        assert result.returncode == 0, result.stderr
        out[overlay] = load_docs(result.stdout)
    return out


def _template_keys() -> set[str]:
    template = load_docs((ROOT / "k8s/base/secret.yaml").read_text())[0]
    return set(template["stringData"])


def _objects(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _one(docs: list[dict], kind: str, name: str) -> dict:
    return _objects(docs, kind)[name]


def _containers(docs: list[dict]):
    for obj in docs:
        if obj["kind"] in WORKLOAD_KINDS:
            for c in pod_spec(obj)["containers"]:
                yield obj, c


# --- rendering and schemas --------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_object_in_the_namespace(rendered, overlay) -> None:
    docs = rendered[overlay]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}

    assert {("Namespace", "quartz"), ("ConfigMap", "quartz-config"),
            ("PersistentVolumeClaim", "quartz-state"),
            ("Deployment", "trading-agent"), ("Service", "trading-agent"),
            ("Deployment", "read-api"), ("Service", "read-api"),
            ("NetworkPolicy", "trading-agent-ingress")} <= kinds
    assert set(_objects(docs, "CronJob")) == {"auth-refresh", "macro", "select", "decide",
                                             "rebalance", "data-pull"}
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == "quartz", d["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_the_kubernetes_schemas(rendered, secrets,
                                                               overlay) -> None:
    import kubernetes_validate

    for version in K8S_VERSIONS:
        for d in rendered[overlay] + secrets[overlay]:
            # strict: an unknown field (a typo) is an error, not silently dropped.
            kubernetes_validate.validate(d, version, strict=True)


def test_schema_validation_catches_a_broken_object(rendered) -> None:
    import kubernetes_validate

    broken = dict(_one(rendered["paper"], "CronJob", "decide"))
    broken["spec"] = {**broken["spec"], "concurencyPolicy": "Forbid"}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.31", strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_overlay_renders_without_any_secrets_env(rendered, overlay, tmp_path: Path) -> None:
    # A fresh clone has no secrets.env (it is git-ignored); this checkout may have one.
    tree = copy_tree(tmp_path)
    assert not list(tree.rglob("secrets.env"))

    result = render(tree, overlay)

    assert result.returncode == 0, result.stderr
    assert load_docs(result.stdout) == rendered[overlay]


# --- the Secret ---------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_overlay_holds_no_secret(rendered, overlay) -> None:
    # Applying an overlay never touches the real Secret, let alone with empty values: the
    # base's template (keys, no values) is local-config and stays out of the output.
    assert not _objects(rendered[overlay], "Secret")
    template = load_docs((ROOT / "k8s/base/secret.yaml").read_text())[0]
    assert template["metadata"]["annotations"]["config.kubernetes.io/local-config"] == "true"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_names_every_secret_key(rendered, overlay) -> None:
    keys = _template_keys()
    assert keys >= SEED_SECRET_KEYS
    for obj, c in _containers(rendered[overlay]):
        name = obj["metadata"]["name"]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})}
        assert set(refs) == keys, name
        for key, ref in refs.items():
            assert ref["name"] == "quartz-secrets" and ref["key"] == key, (name, key)
            # A required key missing from the Secret keeps the pod from starting; an
            # optional one is left unset.
            assert ref.get("optional", False) is (key not in REQUIRED_SECRET_KEYS), (name, key)
        assert not any("secretRef" in e for e in c["envFrom"]), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_kustomization_renders_the_secret_and_the_namespace(
        secrets, rendered, overlay) -> None:
    docs = secrets[overlay]

    assert sorted((d["kind"], d["metadata"]["name"]) for d in docs) == [
        ("Namespace", "quartz"), ("Secret", "quartz-secrets")]
    secret = _one(docs, "Secret", "quartz-secrets")
    assert secret["metadata"]["namespace"] == "quartz"
    assert secret["type"] == "Opaque"
    assert set(secret["data"]) == _template_keys()
    assert all(base64.b64decode(v) for v in secret["data"].values())
    assert secret["metadata"]["labels"]["app.kubernetes.io/part-of"] == "quartz"
    # It creates the namespace so it can be applied first, exactly as the overlay does, so
    # the two applies never undo each other.
    assert _one(docs, "Namespace", "quartz") == _one(rendered[overlay], "Namespace", "quartz")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_kustomization_does_not_render_without_secrets_env(overlay,
                                                                   tmp_path: Path) -> None:
    folder = secrets_dir(copy_tree(tmp_path), overlay)

    result = kustomize(folder)

    assert result.returncode != 0
    assert "secrets.env" in result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_unfilled_copy_of_the_example_does_not_render(overlay, tmp_path: Path) -> None:
    folder = secrets_dir(copy_tree(tmp_path), overlay)
    (folder / "secrets.env").write_text((folder / "secrets.env.example").read_text())

    result = kustomize(folder)

    assert result.returncode != 0
    assert "is missing for replacement source" in result.stderr


@pytest.mark.parametrize("key", sorted(REQUIRED_SECRET_KEYS))
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_required_key_missing_from_secrets_env_is_named(overlay, key,
                                                         tmp_path: Path) -> None:
    folder = secrets_dir(copy_tree(tmp_path), overlay)
    (folder / "secrets.env").write_text(placeholder_secrets(folder, frozenset({key})))

    result = kustomize(folder)

    assert result.returncode != 0
    assert f"data.{key}" in result.stderr


def test_optional_keys_may_be_left_out(tmp_path: Path) -> None:
    folder = secrets_dir(copy_tree(tmp_path), "paper")
    optional = frozenset(_template_keys() - REQUIRED_SECRET_KEYS)
    (folder / "secrets.env").write_text(placeholder_secrets(folder, optional))

    result = kustomize(folder)

    assert result.returncode == 0, result.stderr
    assert set(_one(load_docs(result.stdout), "Secret", "quartz-secrets")["data"]) \
        == REQUIRED_SECRET_KEYS


# --- the seed's names ---------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_map_holds_the_seed_keys(rendered, overlay) -> None:
    data = _one(rendered[overlay], "ConfigMap", "quartz-config")["data"]

    for key, value in SEED_CONFIG.items():
        if key != "IS_PRODUCTION":
            assert data[key] == value, key
    assert data["IS_PRODUCTION"] == ("true" if overlay == "prod" else "false")
    assert data["QUARTZ_ENV"] == overlay
    assert data["QUARTZ_HOME"] == STATE_MOUNT


def test_base_config_map_is_the_seed() -> None:
    result = kustomize(ROOT / "k8s" / "base")
    assert result.returncode == 0, result.stderr
    data = _one(load_docs(result.stdout), "ConfigMap", "quartz-config")["data"]

    assert {k: data[k] for k in SEED_CONFIG} == SEED_CONFIG


def test_secret_keys_are_the_seed_keys_and_known_settings(secrets) -> None:
    keys = _template_keys()
    known = known_keys()

    assert keys >= SEED_SECRET_KEYS
    assert keys <= known
    assert keys >= REQUIRED_SECRET_KEYS
    for overlay in OVERLAYS:
        example = secrets_dir(ROOT, overlay) / "secrets.env.example"
        assert set(example_keys(example)) == keys, overlay
        rendered_keys = set(_one(secrets[overlay], "Secret", "quartz-secrets")["data"])
        assert rendered_keys == keys, overlay


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_seed_services_and_ports(rendered, overlay) -> None:
    docs = rendered[overlay]
    services = _objects(docs, "Service")
    ports = {name: [p["port"] for p in s["spec"]["ports"]] for name, s in services.items()}

    assert ports["trading-agent"] == [8005]
    # The seed's URLs in the ConfigMap point at Services that exist, on the seed's ports.
    data = _one(docs, "ConfigMap", "quartz-config")["data"]
    for key in ("AUTH_AGENT_URL", "MACRO_AGENT_URL", "TICKER_SELECTOR_URL",
                "TECHNICAL_AGENT_URL", "TRADING_AGENT_WS_URL"):
        url = urlparse(data[key])
        assert url.hostname in services, key
        assert ports[url.hostname] == [url.port], key


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_reaches_a_named_container_port(rendered, overlay) -> None:
    docs = rendered[overlay]
    deployments = _objects(docs, "Deployment")
    for name, svc in _objects(docs, "Service").items():
        selector = svc["spec"]["selector"]
        targets = [d for d in deployments.values()
                   if selector.items() <= pod_labels(d).items()]
        assert len(targets) == 1, name
        container_ports = {p["name"]: p["containerPort"]
                           for c in pod_spec(targets[0])["containers"] for p in c["ports"]}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in container_ports, name


# --- overlays -----------------------------------------------------------------------------


def test_overlay_differences(rendered) -> None:
    paper, prod = rendered["paper"], rendered["prod"]

    for docs in (paper, prod):
        assert _one(docs, "Deployment", "trading-agent")["spec"]["replicas"] == 1
        for _, c in _containers(docs):
            name, _, tag = c["image"].partition(":")
            assert name == "quartz" and tag and tag != "latest", c["image"]
    assert _one(paper, "Deployment", "read-api")["spec"]["replicas"] == 1
    assert _one(prod, "Deployment", "read-api")["spec"]["replicas"] == 2


def _environ(docs: list[dict], secret_docs: list[dict]) -> dict[str, str]:
    """What the trading agent's container gets: the ConfigMap (envFrom), then each env
    entry, its secretKeyRef resolved in the Secret as the kubelet does."""
    env = dict(_one(docs, "ConfigMap", "quartz-config")["data"])
    data = _one(secret_docs, "Secret", "quartz-secrets")["data"]
    container = pod_spec(_one(docs, "Deployment", "trading-agent"))["containers"][0]
    for entry in container["env"]:
        ref = entry["valueFrom"]["secretKeyRef"]
        if ref["key"] in data:
            env[entry["name"]] = base64.b64decode(data[ref["key"]]).decode()
        else:
            assert ref.get("optional"), f"the pod would not start without {ref['key']}"
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_pod_environment_loads_as_the_overlay_environment(rendered, secrets,
                                                            overlay) -> None:
    cfg = load_config(environ=_environ(rendered[overlay], secrets[overlay]))

    assert cfg.env is Env(overlay)
    assert cfg.settings.broker.live_trading is False
    assert cfg.settings.constraints.min_order_krw == 100_000
    assert cfg.settings.servers.trading_agent_ws_url == "ws://trading-agent:8005/ws/orders"
    assert cfg.broker_credentials()[0] == "placeholder-hansec_investment_app_key"


def test_prod_live_trading_is_an_explicit_opt_in(secrets, tmp_path: Path) -> None:
    kustomization = (ROOT / "k8s/overlays/prod/kustomization.yaml").read_text()
    opt_in = re.compile(r'(path: /data/QUARTZ_LIVE_TRADING\n\s+value: )"false"')
    assert opt_in.search(kustomization), "prod must state QUARTZ_LIVE_TRADING explicitly"

    opted = copy_tree(tmp_path)
    folder = opted / "k8s/overlays/prod"
    (folder / "kustomization.yaml").write_text(opt_in.sub(r'\1"true"', kustomization))
    result = render(opted, "prod")
    assert result.returncode == 0, result.stderr
    cfg = load_config(environ=_environ(load_docs(result.stdout), secrets["prod"]))

    assert cfg.env is Env.PROD
    assert cfg.settings.broker.live_trading is True
    paper_kustomization = (ROOT / "k8s/overlays/paper/kustomization.yaml").read_text()
    assert not re.search(r'QUARTZ_LIVE_TRADING\n\s+value: "true"', paper_kustomization)


# --- labels, network, security --------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_labels(rendered, overlay) -> None:
    for d in rendered[overlay]:
        labels = d["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "quartz", d["metadata"]["name"]
        assert labels.get("app.kubernetes.io/managed-by") == "kustomize", d["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_quartz_pods_reach_the_trading_agent(rendered, overlay) -> None:
    docs = rendered[overlay]
    policies = list(_objects(docs, "NetworkPolicy").values())
    agent = _one(docs, "Deployment", "trading-agent")
    guarding = [p for p in policies
                if p["spec"]["podSelector"]["matchLabels"].items() <= pod_labels(agent).items()]

    assert len(guarding) == 1
    spec = guarding[0]["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    assert len(spec["ingress"]) == 2
    rule, scrape = spec["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/part-of": "quartz"}}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8005}]
    # Prometheus, from whichever namespace it runs in: the port its annotations name.
    assert scrape["from"] == [{"namespaceSelector": {}, "podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "prometheus"}}}]
    annotations = agent["spec"]["template"]["metadata"]["annotations"]
    assert scrape["ports"] == [{"protocol": "TCP", "port": int(annotations["prometheus.io/port"])}]
    # ...and every client of the agent carries that label.
    for obj in docs:
        if obj["kind"] in WORKLOAD_KINDS:
            assert pod_labels(obj)["app.kubernetes.io/part-of"] == "quartz"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_locked_down(rendered, overlay) -> None:
    docs = rendered[overlay]
    claims = set(_objects(docs, "PersistentVolumeClaim"))
    for obj in docs:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        name = obj["metadata"]["name"]
        pod = pod_spec(obj)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == UID, name
        assert pod["securityContext"]["fsGroup"] == UID, name
        # Else each start re-chmods the volume and the private trading/ folder is refused.
        assert pod["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch", name
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert not sc.get("privileged"), name
            for bound in ("requests", "limits"):
                assert set(c["resources"][bound]) == {"cpu", "memory"}, name
            mounts = {m["mountPath"]: volumes[m["name"]] for m in c["volumeMounts"]}
            # The only writable places: QUARTZ_HOME and /tmp. QUARTZ_HOME is the state volume
            # for the account's owner, the pod's own emptyDir for every other pod.
            assert set(mounts) == {STATE_MOUNT, "/tmp"}, name
            if name == "trading-agent":
                assert mounts[STATE_MOUNT]["persistentVolumeClaim"]["claimName"] in claims
            else:
                assert "emptyDir" in mounts[STATE_MOUNT], name
            assert "emptyDir" in mounts["/tmp"], name
            # The ConfigMap whole; the Secret key by key (test_every_pod_names_every_secret_key).
            assert c["envFrom"] == [{"configMapRef": {"name": "quartz-config"}}], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sqlite_state_is_on_the_owners_own_volume_only(rendered, overlay) -> None:
    """The token cache, order ledger and owner state are SQLite in WAL mode, unsafe on a
    shared or network filesystem: one ReadWriteOnce claim, mounted by the trading agent
    alone (one replica, Recreate); no volume of any pod is NFS or another network share."""
    docs = rendered[overlay]
    claims = _objects(docs, "PersistentVolumeClaim")
    assert set(claims) == {"quartz-state"}
    assert claims["quartz-state"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    mounted_by: dict[str, list[str]] = {}
    network = {"nfs", "cephfs", "glusterfs", "azureFile", "iscsi", "rbd", "flocker", "quobyte"}
    for obj in docs:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        for volume in pod_spec(obj)["volumes"]:
            assert not network & set(volume), (obj["metadata"]["name"], volume)
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim:
                mounted_by.setdefault(claim, []).append(obj["metadata"]["name"])
    assert mounted_by == {"quartz-state": ["trading-agent"]}
    agent = _one(docs, "Deployment", "trading-agent")
    assert agent["spec"]["replicas"] == 1 and agent["spec"]["strategy"]["type"] == "Recreate"
    # The other pods share through the store: the cluster's store is S3.
    config = _one(docs, "ConfigMap", "quartz-config")["data"]
    assert config["S3_BUCKET_NAME"]


def test_docs_never_suggest_a_shared_or_network_volume_for_sqlite_state() -> None:
    text = " ".join((ROOT / "docs/deploy.md").read_text().split())
    manifests = " ".join(p.read_text() for p in [*(ROOT / "k8s").rglob("*.yaml"),
                                                 *(ROOT / "cronjobs").glob("*.yaml")])
    for place in (text, manifests):
        assert "use a `ReadWriteMany`" not in place and "needs a ReadWriteMany" not in place
    assert "never `ReadWriteMany`" in text


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_probes(rendered, overlay) -> None:
    for name in ("trading-agent", "read-api", "frontend"):
        c = pod_spec(_one(rendered[overlay], "Deployment", name))["containers"][0]
        assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert c["startupProbe"]["httpGet"]["path"] == "/health/live"
        assert c["startupProbe"]["failureThreshold"] == 30
        named = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert c[probe]["httpGet"]["port"] in named, (name, probe)
        # The port the command listens on is the port the probes and Services use.
        args = c["args"]
        assert int(args[args.index("--port") + 1]) == named["http"], name
        assert args[args.index("--host") + 1] == "0.0.0.0", name
    assert pod_spec(_one(rendered[overlay], "Deployment", "trading-agent"))["containers"][0][
        "ports"][0]["containerPort"] == 8005
    agent = _one(rendered[overlay], "Deployment", "trading-agent")
    assert agent["spec"]["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_routes_everything_to_the_dashboard_replicas(rendered, overlay) -> None:
    docs = rendered[overlay]
    frontend = _one(docs, "Deployment", "frontend")
    # A login is a cookie signed under the Secret's internal token, so every replica of
    # `quartz serve` accepts it: two replicas, each given that key.
    assert frontend["spec"]["replicas"] == 2
    assert pod_spec(frontend)["containers"][0]["args"][0] == "serve"
    [token] = [e for e in pod_spec(frontend)["containers"][0]["env"]
               if e["name"] == "QUARTZ_INTERNAL_TOKEN"]
    assert token["valueFrom"]["secretKeyRef"] == {"name": "quartz-secrets",
                                                  "key": "QUARTZ_INTERNAL_TOKEN"}
    service = _one(docs, "Service", "frontend")
    [rule] = _one(docs, "Ingress", "quartz-gateway")["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    backend = path["backend"]["service"]
    assert backend["name"] == "frontend"
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert service["spec"]["selector"].items() <= pod_labels(frontend).items()
    # Quartz pods (the dashboard's halt and resume) reach the trading agent's policy.
    assert pod_labels(frontend)["app.kubernetes.io/part-of"] == "quartz"


# --- CronJobs -----------------------------------------------------------------------------


def _fires(schedule: str) -> list:
    return list(cron_times(schedule))


def _daily(times) -> set:
    return {t.time() for t in times}


def test_cronjob_schedules(rendered) -> None:
    jobs = {n: j["spec"]["schedule"] for n, j in _objects(rendered["paper"], "CronJob").items()}
    session = [clock(9, 0), clock(15, 30)]

    auth = _fires(jobs["auth-refresh"])
    assert len(auth) == 7 and all(t.time() < session[0] for t in auth)

    macro = _fires(jobs["macro"])
    assert len(macro) == 14
    assert all((b - a).total_seconds() == 12 * 3600 for a, b in pairwise(macro))

    assert _daily(_fires(jobs["select"])) == {clock(0, 0), clock(12, 0)}
    assert len(_fires(jobs["select"])) == 14

    decide = _fires(jobs["decide"])
    assert {t.isoweekday() for t in decide} == {1, 2, 3, 4, 5}
    assert _daily(decide) == {clock(h, m) for h in range(9, 16) for m in (0, 30)}

    pull = _fires(jobs["data-pull"])
    assert {t.isoweekday() for t in pull} == {1, 2, 3, 4, 5}
    assert all(t.time() > session[1] for t in pull)

    rebalance = _fires(jobs["rebalance"])
    assert {t.isoweekday() for t in rebalance} == {1, 2, 3, 4, 5}
    in_session = {t for t in _daily(rebalance) if session[0] <= t <= session[1]}
    assert in_session == {clock(h, m) for h in range(9, 16) for m in range(0, 60, 5)
                          if clock(h, m) <= session[1]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cronjob_policies(rendered, overlay) -> None:
    intervals = {"decide": 30 * 60, "rebalance": 5 * 60}
    for name, job in _objects(rendered[overlay], "CronJob").items():
        spec = job["spec"]
        assert spec["timeZone"] == "Asia/Seoul", name
        assert spec["concurrencyPolicy"] == "Forbid", name
        assert spec["startingDeadlineSeconds"] > 0, name
        assert spec["successfulJobsHistoryLimit"] >= 1, name
        assert spec["failedJobsHistoryLimit"] >= 1, name
        job_spec = spec["jobTemplate"]["spec"]
        assert job_spec["activeDeadlineSeconds"] > 0, name
        assert job_spec["backoffLimit"] >= 0, name
        assert job_spec["template"]["spec"]["restartPolicy"] == "Never", name
        if name in intervals:
            # A run ends before the next is due, and order-placing jobs are never retried.
            assert job_spec["activeDeadlineSeconds"] < intervals[name], name
            assert spec["startingDeadlineSeconds"] < intervals[name], name
            assert job_spec["backoffLimit"] == 0, name


# --- the commands the manifests run ---------------------------------------------------------


def test_rendered_commands_are_the_source_commands(rendered) -> None:
    source = sorted((n, a) for n, a in workload_args())
    for overlay in OVERLAYS:
        got = sorted((o["metadata"]["name"], c["args"]) for o, c in _containers(rendered[overlay]))
        assert got == source, overlay
        # No `command:` override: the image's entrypoint (tini -- quartz) runs the args.
        assert all("command" not in c for _, c in _containers(rendered[overlay]))


@pytest.mark.parametrize("name, args", workload_args(),
                         ids=[" ".join(a) for _, a in workload_args()])
def test_command_is_a_real_quartz_command(name, args) -> None:
    result = subprocess.run([QUARTZ, *args, "--help"], capture_output=True, text=True,
                            timeout=60)

    assert result.returncode == 0, f"`quartz {' '.join(args)} --help` ({name}): " \
        f"{result.stderr.strip() or result.stdout.strip()}"
    assert "Usage:" in result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVERS = [(n, a) for n, a in workload_args() if "--port" in a]


@pytest.mark.parametrize("name, args", SERVERS, ids=[n for n, _ in SERVERS])
def test_probe_paths_are_served(name, args, quartz_home: Path) -> None:
    """Run the Deployment's own command (loopback, a free port, `local`) and call its probes."""
    deployment = next(d for d in source_docs()
                      if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
    container = pod_spec(deployment)["containers"][0]
    paths = {container[p]["httpGet"]["path"]
             for p in ("livenessProbe", "readinessProbe", "startupProbe")}
    port = _free_port()
    argv = list(args)
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    proc = subprocess.Popen([QUARTZ, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        answers: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(answers) < len(paths):
            if proc.poll() is not None:
                pytest.fail(f"`quartz {' '.join(argv)}` exited {proc.returncode}: "
                            f"{proc.stderr.read().strip()}")
            for path in paths - set(answers):
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
                except httpx.TransportError:
                    break
                if r.status_code == 200:
                    answers[path] = r.status_code
            time.sleep(0.1)
        assert answers == dict.fromkeys(paths, 200)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """End the server this test started (its own process group) and reap it."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    proc.stdout.close()
    proc.stderr.close()


# --- no secret in git -------------------------------------------------------------------


def _tracked_files() -> list[Path]:
    """The files git tracks here (every file when this is not a git checkout)."""
    result = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if result.returncode != 0:
        return [p for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    return [ROOT / name for name in result.stdout.decode().split("\0") if name]


def test_no_secret_in_git_holds_a_value() -> None:
    secrets_seen = 0
    for path in _tracked_files():
        if path.suffix in (".yaml", ".yml"):
            for doc in load_docs(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "Secret":
                    secrets_seen += 1
                    for field in ("data", "stringData"):
                        values = (doc.get(field) or {}).values()
                        assert all(v in ("", None) for v in values), f"{path}: {field}"
        if path.name.endswith(".env") or path.name == "secrets.env":
            pytest.fail(f"{path} is an env file in git")
        if path.name.endswith(".env.example"):
            for line in path.read_text().splitlines():
                key, eq, value = line.partition("=")
                if eq and not key.startswith("#") and key in SEED_SECRET_KEYS | {
                        "QUARTZ_INTERNAL_TOKEN", "ECOS_API_KEY", "FRED_API_KEY"}:
                    assert value == "", f"{path}: {key} has a value"
    assert secrets_seen >= 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_env_is_git_ignored(overlay) -> None:
    path = f"k8s/overlays/{overlay}/secrets/secrets.env"
    result = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
    if result.returncode == 128:
        pytest.skip("not a git checkout")
    assert result.returncode == 0, f"{path} is not git-ignored"
