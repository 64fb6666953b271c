"""docs/grafana/lighterweb.json: a valid dashboard whose every query uses an exported series."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

from bots.notify.metrics import LighterWebCollector
from tests.paths import ROOT

DASHBOARD = ROOT / "docs" / "grafana" / "lighterweb.json"
SCHEMA = ROOT / "tests" / "notify" / "grafana_dashboard.schema.json"
METRIC_NAME = re.compile(r"\blighterweb_[a-z0-9_]+")


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def test_the_dashboard_matches_the_grafana_dashboard_schema():
    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)

    errors = [e.message for e in Draft202012Validator(schema).iter_errors(_dashboard())]

    assert errors == []


def test_panels_have_unique_ids_and_fit_the_24_column_grid():
    panels = _dashboard()["panels"]

    assert len({p["id"] for p in panels}) == len(panels)
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)


def _exported_names() -> set[str]:
    names: set[str] = set()
    for family in LighterWebCollector().collect():
        if isinstance(family, CounterMetricFamily):
            names.add(f"{family.name}_total")
        elif isinstance(family, HistogramMetricFamily):
            names.update(f"{family.name}_{part}" for part in ("bucket", "sum", "count"))
        else:
            names.add(family.name)
    return names


@pytest.mark.django_db
def test_every_query_uses_a_series_the_collector_exports(settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.CELERY_BROKER_URL = redis_url
    exported = _exported_names()
    used = {
        name
        for panel in _dashboard()["panels"]
        for target in panel["targets"]
        for name in METRIC_NAME.findall(target["expr"])
    }

    assert used, "no query names a lighterweb_ series"
    assert used - exported == set()
    assert "lighterweb_fills_total" in used
