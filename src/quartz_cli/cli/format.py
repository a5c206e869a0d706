"""Small rendering helpers shared by commands (times in KST, durations, tables)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from rich.table import Table

KST = ZoneInfo("Asia/Seoul")


def kst(t: datetime | None) -> str:
    """A timestamp as the market reads it: `2026-11-24 09:00:00 KST`."""
    if t is None:
        return "-"
    return t.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S KST")


def duration(seconds: float | None) -> str:
    """`23h 54m`, `4m 10s`, `-`."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"


def key_value_table(title: str, rows: list[tuple[str, str]]) -> Table:
    """A two-column rich table."""
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left", box=None, pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for k, v in rows:
        table.add_row(k, v)
    return table
