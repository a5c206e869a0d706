"""CLI start-up: wall time of `quartz --help` against `python -c "import typer, rich"` measured
in the same run (goal: ratio ≤ 2.5), and peak RSS of `quartz auth status` (goal < 100 MB).

Each figure is the minimum of N runs, which is the most repeatable statistic on a busy machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 15
BIN = Path(sys.executable).parent
QUARTZ = str(BIN / "quartz")


def wall(cmd: list[str], env: dict[str, str]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_mb(cmd: list[str], env: dict[str, str]) -> float:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed")
    return usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "QUARTZ_HOME": home}
        reference = wall([sys.executable, "-c", "import typer, rich"], env)
        help_time = wall([QUARTZ, "--help"], env)
        subprocess.run([QUARTZ, "auth", "refresh"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        rss = min(peak_rss_mb([QUARTZ, "auth", "status"], env) for _ in range(3))
    ratio = help_time / reference
    print(f"import typer, rich : {reference * 1000:7.1f} ms (reference, min of {RUNS})")
    print(f"quartz --help      : {help_time * 1000:7.1f} ms")
    print(f"ratio              : {ratio:7.2f}  (goal <= 2.5)")
    print(f"peak RSS auth status: {rss:6.1f} MB (goal < 100 MB)")


if __name__ == "__main__":
    main()
