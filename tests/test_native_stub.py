"""The type stub of the native module (`_native.pyi`, read by mypy) matches the built module:
the same functions and classes, each function with the same parameter names in order."""

import ast
import re
from importlib import resources

from quartz_cli import _native


def _stub() -> dict[str, list[str] | None]:
    """Name → parameter names (None for a class) of every public definition in the stub."""
    tree = ast.parse((resources.files("quartz_cli") / "_native.pyi").read_text("utf-8"))
    out: dict[str, list[str] | None] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = [a.arg for a in node.args.args]
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            out[node.name] = None
    return out


def _built() -> dict[str, list[str] | None]:
    """The same, read from the module: pybind11 writes each signature on its doc's first line."""
    out: dict[str, list[str] | None] = {}
    for name in dir(_native):
        if name.startswith("_"):
            continue
        obj = getattr(_native, name)
        if isinstance(obj, type):
            out[name] = None
            continue
        signature = obj.__doc__.splitlines()[0]
        assert signature.startswith(f"{name}("), signature
        out[name] = re.findall(r"(?:\(|, )(\w+):", signature)
    return out


def test_stub_matches_the_built_module():
    built = _built()
    assert "sma_batch" in built and built["sma_batch"] == ["close", "period", "threads"]
    assert _stub() == built
