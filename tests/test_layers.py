"""Architecture checks: imports point down the layers, and heavy libraries load lazily."""

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "quartz_cli"

INTERFACE = ("quartz_cli.cli", "quartz_cli.servers", "quartz_cli.app")
AGENTS = ("quartz_cli.agents",)
ADAPTERS = ("quartz_cli.kis", "quartz_cli.store", "quartz_cli.llm", "quartz_cli.sources",
            "quartz_cli.sim", "quartz_cli.calendars")
DOMAIN = ("quartz_cli.domain", "quartz_cli.indicators")

FORBIDDEN = {
    DOMAIN: INTERFACE + AGENTS + ADAPTERS,
    ADAPTERS: INTERFACE + AGENTS,
    AGENTS: INTERFACE,
}
HEAVY = ("boto3", "botocore", "openai", "google.genai", "polars", "pandas", "matplotlib",
         "exchange_calendars")


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
    for args in (["--help"], ["auth", "status"], ["auth", "--help"]):
        proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                              text=True)
        line = [x for x in proc.stderr.splitlines() if x.startswith("HEAVY:")]
        assert line == ["HEAVY: []"], (args, proc.stderr[-800:])
