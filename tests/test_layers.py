"""Architecture checks: imports point down the layers, only the composition root builds
adapters, and heavy libraries load lazily."""

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "quartz_cli"

INTERFACE = ("quartz_cli.cli", "quartz_cli.servers")
ROOT = ("quartz_cli.app",)
AGENTS = ("quartz_cli.agents",)
PORTS = ("quartz_cli.ports",)
ADAPTERS = ("quartz_cli.kis", "quartz_cli.store", "quartz_cli.llm", "quartz_cli.sources",
            "quartz_cli.sim", "quartz_cli.calendars", "quartz_cli.remote")
DOMAIN = ("quartz_cli.domain", "quartz_cli.indicators")

FORBIDDEN = {
    DOMAIN: INTERFACE + ROOT + AGENTS + PORTS + ADAPTERS,
    PORTS: INTERFACE + ROOT + AGENTS + ADAPTERS,
    ADAPTERS: INTERFACE + ROOT + AGENTS,
    AGENTS: INTERFACE + ROOT + ADAPTERS,
}
HEAVY = ("boto3", "botocore", "openai", "google.genai", "polars", "pandas", "matplotlib",
         "exchange_calendars", "numpy", "ahocorasick",
         # The simulator's market: `auth status` reads the token cache without building it.
         "quartz_cli.sim.market")


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def test_imports_point_down_the_layers():
    violations = []
    for path in PKG.rglob("*.py"):
        mod = module_name(path)
        for layer, banned in FORBIDDEN.items():
            if mod.startswith(layer):
                for imp in imports(path):
                    if imp.startswith(banned):
                        violations.append(f"{mod} imports {imp}")
    assert violations == []


def test_domain_does_no_io():
    io_modules = ("httpx", "boto3", "sqlite3", "socket", "diskcache", "starlette", "uvicorn",
                  "websockets", "openai", "google")
    bad = [f"{module_name(p)} imports {imp}" for p in (PKG / "domain").rglob("*.py")
           for imp in imports(p) if imp.startswith(io_modules)]
    assert bad == []


def test_help_and_small_commands_do_not_import_heavy_libraries(quartz_home):
    probe = (
        "import sys\n"
        "from quartz_cli.cli.main import main\n"
        "sys.argv = ['quartz'] + sys.argv[1:]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY:', heavy, file=sys.stderr)\n"
    )
    for args in (["--help"], ["auth", "status"], ["auth", "--help"], ["data", "--help"]):
        proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                              text=True)
        line = [x for x in proc.stderr.splitlines() if x.startswith("HEAVY:")]
        assert line == ["HEAVY: []"], (args, proc.stderr[-800:])


# Adapters that talk to the outside world: only the composition root constructs them (the
# interface asks it, e.g. `app.runtime.open_store`, `open_runtime`, `trading_client`).
BUILT_BY_THE_ROOT = {"KisClient", "LocalStore", "S3Store", "OpenAIClient", "GeminiClient",
                     "TradingClient", "SqliteOrderLedger"}
ROOT_FACTORIES = {"open_store", "open_runtime", "trading_client", "trading_agent"}
# The vendor SDK clients, each wrapped by one adapter module that the root builds.
SDK_CLIENTS = {("genai", "Client"): "quartz_cli.llm.gemini",
               ("openai", "AsyncOpenAI"): "quartz_cli.llm.openai",
               ("", "AsyncOpenAI"): "quartz_cli.llm.openai",
               ("boto3", "client"): "quartz_cli.store.s3"}


def constructions(path: Path) -> list[tuple[str, str | None]]:
    """(called name, the object it was called on) for every call in the module."""
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name):
            out.append((f.id, None))
        elif isinstance(f, ast.Attribute):
            owner = f.value.id if isinstance(f.value, ast.Name) else None
            out.append((f.attr, owner))
    return out


def test_only_the_composition_root_builds_clients_stores_and_llms():
    violations = []
    for path in PKG.rglob("*.py"):
        mod = module_name(path)
        if not mod.startswith(ROOT):
            violations += [f"{mod} defines {node.name}"
                           for node in ast.walk(ast.parse(path.read_text()))
                           if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                           and node.name in ROOT_FACTORIES]
        for name, owner in constructions(path):
            if name in BUILT_BY_THE_ROOT and not mod.startswith(ROOT):
                violations.append(f"{mod} builds {name}")
            home = SDK_CLIENTS.get((owner or "", name))
            if home is not None and mod != home:
                violations.append(f"{mod} builds {owner}.{name}")
    assert violations == []
