"""Writes deploy/kubernetes/overlays/monitoring/prometheusrule.yaml from alerts.yaml.

One source for the alert rules: alerts.yaml (plain Prometheus, promtool-tested) is wrapped
into the Prometheus Operator's PrometheusRule unchanged. Run it after editing alerts.yaml;
tests/unit/test_kube_overlays.py fails while the two differ.

    python deploy/prometheus/to-prometheusrule.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "alerts.yaml"
TARGET = HERE.parent / "kubernetes" / "overlays" / "monitoring" / "prometheusrule.yaml"
HEADER = """\
# GENERATED from deploy/prometheus/alerts.yaml by deploy/prometheus/to-prometheusrule.py:
# edit alerts.yaml (and alerts.test.yaml), then run the script. Your Prometheus must select
# this rule: add the label its ruleSelector wants (kube-prometheus-stack: release: NAME)
# with a kustomize patch in your own overlay.
"""


def render(source: Path = SOURCE) -> str:
    """The PrometheusRule manifest for the rule groups in `source`, as text."""
    groups = yaml.safe_load(source.read_text())["groups"]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "geodns",
            "namespace": "geodns",
            "labels": {"app.kubernetes.io/name": "geodns"},
        },
        "spec": {"groups": groups},
    }
    return HEADER + yaml.safe_dump(rule, sort_keys=False, width=100, allow_unicode=True)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if TARGET.read_text() != text:
            print(f"{TARGET} differs from {SOURCE}: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
