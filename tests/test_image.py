"""The container image, checked by reading the Dockerfile and .dockerignore (no Docker engine
runs here): a multi-stage build of the wheel with the C++ core, a slim non-root runtime with
the `quartz` entrypoint, and a build context that holds only what the build copies."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from dataclasses import dataclass, field

import pytest

from deploy_support import ROOT, load_docs, pod_spec, source_docs


@dataclass
class Stage:
    name: str
    base: str
    steps: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.steps if i == instruction]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        instruction, _, rest = full.partition(" ")
        out.append((instruction.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def _stages() -> list[Stage]:
    stages: list[Stage] = []
    for instruction, rest in _instructions((ROOT / "Dockerfile").read_text()):
        if instruction == "FROM":
            m = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", rest, flags=re.IGNORECASE)
            assert m, f"every stage is named: FROM {rest}"
            stages.append(Stage(name=m.group(2), base=m.group(1)))
        elif stages:
            stages[-1].steps.append((instruction, rest))
    return stages


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return {s.name: s for s in _stages()}


def test_two_stages_build_then_runtime(stages) -> None:
    order = [s.name for s in _stages()]

    assert order == ["web", "build", "runtime"]
    # Both stages start from the same Python image, so the compiled wheel fits the runtime.
    assert stages["build"].base == stages["runtime"].base
    arg = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert arg and re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?(@sha256:[0-9a-f]{64})?",
                                arg.group(1))
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "requires-python"]
    assert requires == ">=3.11"


def _base_image() -> str:
    arg = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert arg
    return arg.group(1)


def test_no_frontend_image_is_needed() -> None:
    # A `# syntax=` directive pulls the Dockerfile frontend from a registry at build time.
    first = (ROOT / "Dockerfile").read_text().splitlines()[0]
    assert not re.match(r"#\s*syntax\s*=", first, re.IGNORECASE)


def test_base_image_is_pinned_by_digest() -> None:
    image = _base_image()
    if "@" in image:
        assert re.fullmatch(r"[\w.:-]+@sha256:[0-9a-f]{64}", image)
        return
    text = (ROOT / "Dockerfile").read_text()
    # Unpinned only with the note that says so and how to pin it.
    assert "UNPINNED" in text and "docker buildx imagetools inspect" in text
    pytest.xfail(f"base image {image} is not pinned by digest (see the Dockerfile's note)")


def _locked() -> dict[str, tuple[str, list[str]]]:
    """requirements.lock as name → (version, hashes)."""
    out: dict[str, tuple[str, list[str]]] = {}
    name = ""
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip().rstrip("\\").strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash="):
            out[name][1].append(line.removeprefix("--hash="))
            continue
        name, _, version = line.partition("==")
        name = re.sub(r"[-_.]+", "-", name).lower()
        out[name] = (version.split(";")[0].strip(), [])
    return out


def test_the_lock_pins_every_dependency_and_the_build_backend_with_hashes() -> None:
    from packaging.requirements import Requirement

    locked = _locked()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [*pyproject["project"]["dependencies"], *pyproject["build-system"]["requires"]]
    for spec in wanted:
        req = Requirement(spec)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in locked, f"{name} is not in requirements.lock: run scripts/lock"
        assert req.specifier.contains(locked[name][0]), (spec, locked[name][0])
    for name, (version, hashes) in locked.items():
        assert version and hashes, name
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name
    # Locked for the image's Python.
    minor = re.match(r"python:(3\.\d+)", _base_image())
    assert minor and f"Python {minor.group(1)}" in (ROOT / "requirements.lock").read_text()


def test_the_build_installs_only_locked_packages(stages) -> None:
    build, runtime = stages["build"], stages["runtime"]
    runs = build.args("RUN")
    locked = next(r for r in runs if "-r requirements.lock" in r)
    assert "--require-hashes" in locked and "--only-binary=:all:" in locked
    assert "requirements.lock" in " ".join(build.args("COPY"))
    # Quartz's own wheel: the locked backend, no index, no other dependency resolution.
    own = runs[-1]
    assert "--no-index" in own and "--no-build-isolation" in own and "--no-deps" in own
    assert "--no-index" in " ".join(runtime.args("RUN"))


def test_web_stage_builds_the_dashboard_from_its_lock_file(stages) -> None:
    web = stages["web"]
    runs = web.args("RUN")
    assert runs[0].startswith("npm ci") and runs[-1] == "npm run build"
    assert any("package-lock.json" in a for a in web.args("COPY"))
    assert "--from=web /web/dist src/quartz_cli/web/dist" in stages["build"].args("COPY")


def test_build_stage_compiles_the_wheel_with_the_native_core(stages) -> None:
    build = stages["build"]
    runs = " ".join(build.args("RUN"))
    copied = {a.split()[0] for a in build.args("COPY")} | {
        w for a in build.args("COPY") for w in a.split()[:-1]}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())

    assert pyproject["build-system"]["build-backend"] == "scikit_build_core.build"
    assert "g++" in runs and "cmake" in runs
    assert re.search(r"pip wheel .*--wheel-dir /wheels \.$", build.args("RUN")[-1])
    # Everything the build backend reads: metadata, readme, the C++ sources, the package.
    source_dir = pyproject["tool"]["scikit-build"]["cmake"]["source-dir"]
    assert {"pyproject.toml", pyproject["project"]["readme"], f"{source_dir}/", "src/"} <= copied


def test_runtime_stage_is_slim_non_root_with_the_quartz_entrypoint(stages) -> None:
    runtime = stages["runtime"]
    runs = " ".join(runtime.args("RUN"))

    assert "g++" not in runs and "cmake" not in runs
    assert "--no-index --find-links=/wheels quartz-cli" in runs
    assert "from=build,source=/wheels" in runs
    assert not runtime.args("COPY"), "the runtime takes nothing but the wheels"
    user = runtime.args("USER")
    assert user == ["10001:10001"]
    entrypoint = json.loads(runtime.args("ENTRYPOINT")[0])
    assert entrypoint == ["/usr/bin/tini", "--", "quartz"]
    assert "tini" in runs
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["quartz"] == "quartz_cli.cli.main:main"


def _env(stage: Stage) -> dict[str, str]:
    env = {}
    for args in stage.args("ENV"):
        for pair in args.split():
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def test_image_matches_the_manifests(stages) -> None:
    runtime = stages["runtime"]
    uid = int(runtime.args("USER")[0].split(":")[0])
    env = _env(runtime)
    exposed = {int(p) for a in runtime.args("EXPOSE") for p in a.split()}
    config = load_docs((ROOT / "k8s/base/configmap.yaml").read_text())[0]["data"]

    assert env["QUARTZ_HOME"] == config["QUARTZ_HOME"]
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    # Libraries that want a writable home get /tmp, the pods' emptyDir.
    assert env["MPLCONFIGDIR"].startswith("/tmp/") and env["XDG_CACHE_HOME"].startswith("/tmp/")
    for obj in source_docs():
        if obj["kind"] == "Deployment":
            assert pod_spec(obj)["securityContext"]["runAsUser"] == uid
    # The CronJobs get their pod securityContext from the component's shared patch.
    job_defaults = load_docs((ROOT / "cronjobs/job-defaults.yaml").read_text())[0]
    assert pod_spec(job_defaults)["securityContext"]["runAsUser"] == uid
    ports = {p["containerPort"] for obj in source_docs() if obj["kind"] == "Deployment"
             for c in pod_spec(obj)["containers"] for p in c["ports"]}
    assert ports == exposed


# --- .dockerignore ----------------------------------------------------------------------


def _pattern(rule: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex on a clean path."""
    rule = rule.strip("/")
    out = ""
    i = 0
    while i < len(rule):
        if rule.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif rule.startswith("**", i):
            out, i = out + ".*", i + 2
        elif rule[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif rule[i] == "?":
            out, i = out + "[^/]", i + 1
        elif rule[i] == "[":
            j = rule.index("]", i)
            out, i = out + rule[i:j + 1], j + 1
        else:
            out, i = out + re.escape(rule[i]), i + 1
    return re.compile(out)


def _in_context(path: str, rules: list[str]) -> bool:
    """Whether Docker sends `path` in the build context: the last matching rule wins, and a
    rule that matches a folder matches everything under it."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    included = True
    for rule in rules:
        negate = rule.startswith("!")
        regex = _pattern(rule[1:] if negate else rule)
        if any(regex.fullmatch(c) for c in candidates):
            included = negate
    return included


@pytest.fixture(scope="module")
def rules() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def test_matcher_semantics() -> None:
    rules = ["*", "!src/", "**/*.pyc"]

    assert _in_context("src/a/b.py", rules)
    assert not _in_context("src/a/b.pyc", rules)
    assert not _in_context("tests/x.py", rules)


def test_context_holds_what_the_build_copies(stages, rules) -> None:
    sources = [w.rstrip("/") for a in stages["build"].args("COPY") if not a.startswith("--from")
               for w in a.split()[:-1]]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    files = tracked.stdout.split()

    for source in sources:
        under = [f for f in files if f == source or f.startswith(source + "/")]
        assert under, f"COPY {source}: nothing in the repository"
        missing = [f for f in under if not _in_context(f, rules)]
        assert not missing, f".dockerignore drops files the build needs: {missing[:5]}"
    # Nothing else from the repository is sent.
    extra = [f for f in files if _in_context(f, rules)
             and not any(f == s or f.startswith(s + "/") for s in sources)]
    assert not extra, extra


@pytest.mark.parametrize("path", [
    ".git/config", ".venv/bin/python", "build/cp312/CMakeCache.txt", "dist/x.whl",
    "k8s/overlays/prod/secrets/secrets.env", ".env", ".quartz/demo/cache/tokens/cache.db",
    "src/quartz_cli/__pycache__/config.cpython-312.pyc", "src/quartz_cli/_native.so",
    "src/quartz_cli.egg-info/PKG-INFO", "tests/conftest.py",
])
def test_context_excludes_local_and_secret_files(rules, path) -> None:
    assert not _in_context(path, rules)
