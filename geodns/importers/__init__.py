"""`geodns import FORMAT FILE`: another DNS service's export -> a zone document and a report.

One module per format, each with `read(path, zone, report, **options) -> ZoneDoc` and the
OPTIONS it takes (`health`, `cidr`); this registry is all the command line knows of them.
"""

from __future__ import annotations

import sys
from types import ModuleType

from geodns.importers import azuretm, bind, clouddns, route53
from geodns.importers.report import ImportFailed, Report

FORMATS: dict[str, ModuleType] = {
    "bind": bind,
    "route53": route53,
    "clouddns": clouddns,
    "azure-tm": azuretm,
}


def convert(fmt: str, path: str, zone: str | None = None, **options: str | None):
    """(zone document text, report); raises ImportFailed when the input cannot be read."""
    report = Report()
    given = {k: v for k, v in options.items() if v is not None}
    module = FORMATS[fmt]
    for key in given:
        if key not in module.OPTIONS:
            raise ImportFailed(f"--{key} means nothing to the {fmt} format")
    doc = module.read(path, zone, report, **given)
    return doc.render(report), report


def main(fmt: str, path: str, zone: str | None, **options: str | None) -> int:
    """Print the document on stdout and the report on stderr; 0 all mapped, 2 some left out."""
    try:
        text, report = convert(fmt, path, zone, **options)
    except ImportFailed as exc:
        print(f"import: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    for line in report.lines():
        print(line, file=sys.stderr)
    if report.unmapped:
        print(f"{len(report.unmapped)} item(s) not mapped", file=sys.stderr)
    return report.exit_code
