"""The shipped JSON schema of the decision document matches the models."""

from __future__ import annotations

import json
from importlib import resources

from quartz_cli.domain.plan import SCHEMA_FILE, plan_json_schema


def test_shipped_schema_is_generated_from_the_models():
    shipped = json.loads((resources.files("quartz_cli.schemas") / SCHEMA_FILE).read_text("utf-8"))
    assert shipped == plan_json_schema(), "regenerate with: python -m quartz_cli.schemas"
    assert shipped["$schema"].endswith("2020-12/schema")
    assert "orders" in shipped["required"] and "gate" in shipped["required"]
