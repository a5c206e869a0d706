"""`python -m quartz_cli.schemas`: regenerate the shipped JSON schemas from the models."""

from __future__ import annotations

import json
from pathlib import Path

from quartz_cli.domain.plan import SCHEMA_FILE, plan_json_schema


def main() -> None:
    path = Path(__file__).parent / SCHEMA_FILE
    path.write_text(json.dumps(plan_json_schema(), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
