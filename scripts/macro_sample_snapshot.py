"""Regenerate `src/quartz_cli/data/macro/sample_snapshot.json`: the sample data the local
fake ECOS / FRED / World Bank endpoints serve.

The values are SYNTHETIC: piecewise-linear paths through rounded, approximate levels of the
real indicators plus seeded noise, so the statistics and the report have something
realistic-looking to work on in `local`. They are not real data and every output built on
them says "sample data". Run: `python scripts/macro_sample_snapshot.py`.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/quartz_cli/data/macro/sample_snapshot.json"
FIRST = date(2018, 1, 1)
LAST_MONTH = date(2026, 10, 1)
LAST_DAY = date(2026, 11, 20)


def months(first: date = FIRST, last: date = LAST_MONTH) -> list[date]:
    out, d = [], first
    while d <= last:
        out.append(d)
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return out


def weekdays(first: date = FIRST, last: date = LAST_DAY) -> list[date]:
    out, d = [], first
    while d <= last:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def path(anchors: list[tuple[date, float]], d: date) -> float:
    """Linear interpolation between dated anchors (flat outside them)."""
    if d <= anchors[0][0]:
        return anchors[0][1]
    for (d0, v0), (d1, v1) in pairwise(anchors):
        if d <= d1:
            span = (d1 - d0).days or 1
            return v0 + (v1 - v0) * (d - d0).days / span
    return anchors[-1][1]


def steps(changes: list[tuple[date, float]], d: date) -> float:
    """A step function: the value of the last change on or before `d`."""
    value = changes[0][1]
    for when, v in changes:
        if when <= d:
            value = v
    return value


def index_from_yoy(yoy: list[tuple[date, float]], rng: random.Random, base: float,
                   noise: float) -> list[tuple[date, float]]:
    level, out = base, []
    for m in months():
        level *= 1 + (path(yoy, m) / 100 + rng.gauss(0, noise)) / 12
        out.append((m, round(level, 2)))
    return out


def main() -> None:
    rng = random.Random(20261124)
    D = date
    bok = [(D(2018, 1, 1), 1.50), (D(2018, 11, 30), 1.75), (D(2019, 7, 18), 1.50),
           (D(2019, 10, 16), 1.25), (D(2020, 3, 17), 0.75), (D(2020, 5, 28), 0.50),
           (D(2021, 8, 26), 0.75), (D(2021, 11, 25), 1.00), (D(2022, 1, 14), 1.25),
           (D(2022, 4, 14), 1.50), (D(2022, 5, 26), 1.75), (D(2022, 7, 13), 2.25),
           (D(2022, 8, 25), 2.50), (D(2022, 10, 12), 3.00), (D(2022, 11, 24), 3.25),
           (D(2023, 1, 13), 3.50), (D(2024, 10, 11), 3.25), (D(2024, 11, 28), 3.00),
           (D(2025, 2, 25), 2.75), (D(2025, 5, 29), 2.50)]
    usdkrw = [(D(2018, 1, 1), 1070), (D(2018, 10, 1), 1130), (D(2019, 8, 1), 1210),
              (D(2020, 3, 19), 1280), (D(2020, 12, 31), 1090), (D(2021, 6, 1), 1115),
              (D(2021, 12, 31), 1185), (D(2022, 10, 1), 1430), (D(2023, 2, 1), 1240),
              (D(2023, 10, 1), 1350), (D(2024, 6, 1), 1380), (D(2024, 12, 31), 1470),
              (D(2025, 6, 1), 1370), (D(2025, 12, 31), 1440), (D(2026, 11, 20), 1465)]
    fx, walk = [], 0.0
    for d in weekdays():
        walk = 0.9 * walk + rng.gauss(0, 4)
        fx.append((d, round(path(usdkrw, d) + walk, 1)))
    kr_cpi = index_from_yoy([(D(2018, 1, 1), 1.5), (D(2020, 6, 1), 0.3), (D(2021, 12, 1), 3.5),
                             (D(2022, 7, 1), 6.0), (D(2023, 6, 1), 3.0), (D(2024, 6, 1), 2.4),
                             (D(2025, 6, 1), 2.0), (D(2026, 10, 1), 2.3)], rng, 97.6, 0.01)
    kr_core = index_from_yoy([(D(2018, 1, 1), 1.2), (D(2020, 6, 1), 0.6), (D(2021, 12, 1), 2.5),
                              (D(2022, 11, 1), 4.8), (D(2023, 9, 1), 3.3), (D(2024, 9, 1), 1.9),
                              (D(2025, 9, 1), 2.0), (D(2026, 10, 1), 2.2)], rng, 98.2, 0.006)
    exports, imports = [], []
    for m in months():
        season = 1 + 0.05 * ((m.month in (3, 6, 9, 12)) - (m.month in (1, 2)))
        ex = path([(D(2018, 1, 1), 49e6), (D(2020, 5, 1), 35e6), (D(2021, 12, 1), 61e6),
                   (D(2023, 4, 1), 50e6), (D(2024, 12, 1), 61e6), (D(2025, 6, 1), 59e6),
                   (D(2026, 10, 1), 66e6)], m) * season * (1 + rng.gauss(0, 0.03))
        im = path([(D(2018, 1, 1), 44e6), (D(2020, 5, 1), 35e6), (D(2022, 6, 1), 65e6),
                   (D(2023, 9, 1), 50e6), (D(2025, 6, 1), 52e6), (D(2026, 10, 1), 55e6)],
                  m) * season * (1 + rng.gauss(0, 0.03))
        exports.append((m, round(ex)))
        imports.append((m, round(im)))
    loans = [(m, round(path([(D(2018, 1, 1), 930_000), (D(2021, 12, 1), 1_150_000),
                             (D(2023, 3, 1), 1_125_000), (D(2026, 10, 1), 1_210_000)], m)
                       * (1 + rng.gauss(0, 0.0015)), 1)) for m in months()]
    fed_steps = [(D(2018, 1, 1), 1.41), (D(2018, 4, 1), 1.69), (D(2018, 7, 1), 1.91),
                 (D(2018, 10, 1), 2.19), (D(2019, 1, 1), 2.40), (D(2019, 8, 1), 2.13),
                 (D(2019, 10, 1), 1.83), (D(2019, 11, 1), 1.55), (D(2020, 4, 1), 0.05),
                 (D(2020, 6, 1), 0.08), (D(2022, 3, 1), 0.20), (D(2022, 5, 1), 0.77),
                 (D(2022, 6, 1), 1.21), (D(2022, 7, 1), 1.68), (D(2022, 8, 1), 2.33),
                 (D(2022, 10, 1), 3.08), (D(2022, 11, 1), 3.78), (D(2022, 12, 1), 4.10),
                 (D(2023, 2, 1), 4.57), (D(2023, 5, 1), 5.06), (D(2023, 8, 1), 5.33),
                 (D(2024, 10, 1), 4.83), (D(2024, 11, 1), 4.64), (D(2025, 1, 1), 4.33),
                 (D(2025, 10, 1), 4.09), (D(2025, 11, 1), 3.88), (D(2026, 1, 1), 3.64),
                 (D(2026, 7, 1), 3.38)]
    fed = [(m, steps(fed_steps, m)) for m in months()]
    us_cpi = index_from_yoy([(D(2018, 1, 1), 2.2), (D(2020, 5, 1), 0.3), (D(2021, 6, 1), 5.0),
                             (D(2022, 6, 1), 8.8), (D(2023, 6, 1), 3.2), (D(2024, 9, 1), 2.5),
                             (D(2025, 6, 1), 2.6), (D(2026, 10, 1), 2.9)], rng, 247.9, 0.01)
    us_core = index_from_yoy([(D(2018, 1, 1), 1.9), (D(2020, 6, 1), 1.3), (D(2022, 9, 1), 6.5),
                              (D(2023, 9, 1), 4.1), (D(2024, 9, 1), 3.3), (D(2025, 9, 1), 3.0),
                              (D(2026, 10, 1), 2.8)], rng, 254.6, 0.006)
    years = list(range(2005, 2026))

    def wb(values: list[float | None]) -> list[list]:
        padded = [None] * (len(years) - len(values)) + values
        return [[str(y), v] for y, v in zip(years, padded, strict=True)]

    snapshot = {
        "label": "SAMPLE DATA: synthetic series shaped like the real indicators (approximate "
                 "levels plus seeded noise), generated by scripts/macro_sample_snapshot.py. "
                 "Not real data.",
        "as_of": LAST_DAY.isoformat(),
        "ecos": {
            "722Y001/D/0101000": {"stat_name": "1.3.1. 한국은행 기준금리 및 여수신금리",
                                  "item_name": "한국은행 기준금리", "unit": "연%",
                                  "rows": [[f"{d:%Y%m%d}", f"{steps(bok, d):.2f}"]
                                           for d in weekdays()]},
            "901Y009/M/0": {"stat_name": "4.2.1. 소비자물가지수", "item_name": "총지수",
                            "unit": "2020=100", "rows": [[f"{d:%Y%m}", f"{v:.2f}"]
                                                         for d, v in kr_cpi]},
            "901Y010/M/DB": {"stat_name": "4.2.2 소비자물가지수(특수분류)",
                             "item_name": "식료품 및 에너지제외 지수", "unit": "2020=100",
                             "rows": [[f"{d:%Y%m}", f"{v:.2f}"] for d, v in kr_core]},
            "731Y001/D/0000001": {"stat_name": "3.1.1.1. 주요국 통화의 대원화환율",
                                  "item_name": "원/미국달러(매매기준율)", "unit": "원",
                                  "rows": [[f"{d:%Y%m%d}", f"{v:.1f}"] for d, v in fx]},
            "901Y118/M/T002": {"stat_name": "3.2.1. 수출입 총괄", "item_name": "수출금액",
                               "unit": "천달러",
                               "rows": [[f"{d:%Y%m}", str(v)] for d, v in exports]},
            "901Y118/M/T004": {"stat_name": "3.2.1. 수출입 총괄", "item_name": "수입금액",
                               "unit": "천달러",
                               "rows": [[f"{d:%Y%m}", str(v)] for d, v in imports]},
            "151Y002/M/1110000": {"stat_name": "1.2.4.2.1. 예금취급기관 가계대출(업권별, 월)",
                                  "item_name": "예금취급기관", "unit": "십억원",
                                  "rows": [[f"{d:%Y%m}", f"{v:.1f}"] for d, v in loans]},
        },
        "fred": {
            "FEDFUNDS": [[d.isoformat(), f"{v:.2f}"] for d, v in fed],
            "CPIAUCSL": [[d.isoformat(), f"{v:.3f}"] for d, v in us_cpi],
            "CPILFESL": [[d.isoformat(), f"{v:.3f}"] for d, v in us_core],
        },
        "worldbank": {
            "NY.GDP.MKTP.KD.ZG": {
                "name": "GDP growth (annual %)",
                "rows": {
                    "WLD": wb([3.1, 2.8, 3.4, 3.3, 2.6, -2.9, 6.3, 3.1, 2.8, 2.8, None]),
                    "USA": wb([2.9, 1.8, 2.5, 3.0, 2.5, -2.2, 6.1, 2.5, 2.9, 2.8, None]),
                    "KOR": wb([2.8, 2.9, 3.2, 2.9, 2.2, -0.7, 4.3, 2.6, 1.4, 2.0, None]),
                },
            },
            "FP.CPI.TOTL.ZG": {
                "name": "Inflation, consumer prices (annual %)",
                "rows": {
                    "WLD": wb([1.4, 1.6, 2.2, 2.4, 2.2, 1.9, 3.5, 8.0, 5.8, 4.2, None]),
                    "USA": wb([0.1, 1.3, 2.1, 2.4, 1.8, 1.2, 4.7, 8.0, 4.1, 2.9, None]),
                    "KOR": wb([0.7, 1.0, 1.9, 1.5, 0.4, 0.5, 2.5, 5.1, 3.6, 2.3, None]),
                },
            },
        },
    }
    OUT.write_text(json.dumps(snapshot, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
