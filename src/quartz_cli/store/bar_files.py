"""One ticker's stored daily bars as a Parquet object (polars): the columns of `Bar`, plus the
ticker's name and the earliest day the history was asked from (`requested_from`, so a
ticker listed later than that is not re-asked for sessions it never had). Both extra columns
are constant; Parquet's run-length encoding stores each once."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from quartz_cli.domain.bars import Bar
from quartz_cli.errors import StoreError

PRICE_COLUMNS = ("open", "high", "low", "close", "volume", "value")
BAR_PREFIX = "bars/D/"


@dataclass(frozen=True)
class BarSeries:
    """Completed daily sessions of one ticker, oldest first."""

    code: str
    name: str
    requested_from: date
    bars: tuple[Bar, ...]

    @property
    def first(self) -> date | None:
        return self.bars[0].day if self.bars else None

    @property
    def last(self) -> date | None:
        return self.bars[-1].day if self.bars else None


def bar_key(code: str) -> str:
    """The store key of `code`'s daily bars."""
    return f"{BAR_PREFIX}{code}.parquet"


def encode(series: BarSeries) -> bytes:
    """The series as Parquet bytes (zstd)."""
    import polars as pl

    n = len(series.bars)
    frame = pl.DataFrame(
        {"day": [b.day for b in series.bars],
         **{col: [getattr(b, col) for b in series.bars] for col in PRICE_COLUMNS},
         "name": [series.name] * n, "requested_from": [series.requested_from] * n},
        schema={"day": pl.Date, **dict.fromkeys(PRICE_COLUMNS, pl.Int64),
                "name": pl.String, "requested_from": pl.Date})
    out = io.BytesIO()
    frame.write_parquet(out, compression="zstd")
    return out.getvalue()


def decode(code: str, raw: bytes) -> BarSeries:
    """Parse what `encode` wrote; StoreError when the object is not a bar file."""
    import polars as pl

    try:
        # One thread: a file is a few hundred rows, and a decide reads one per ticker (2,800),
        # where polars' per-read thread pool costs more than the read.
        frame = pl.read_parquet(io.BytesIO(raw), parallel="none")
        columns = [frame[col].to_list() for col in ("day", *PRICE_COLUMNS)]
        name = str(frame["name"][0]) if frame.height else ""
        requested_from = frame["requested_from"][0] if frame.height else date.min
    except (pl.exceptions.PolarsError, OSError, KeyError) as exc:
        raise StoreError(f"the bar file {bar_key(code)} is unreadable ({type(exc).__name__})",
                         hint="delete it; the next `quartz data pull` fetches it again") from None
    # Positionally, column by column: Bar's fields are day and PRICE_COLUMNS in this order.
    bars = tuple(map(Bar, *columns))
    return BarSeries(code=code, name=name, requested_from=requested_from, bars=bars)
