"""Pulumi dynamic provider for geodns: resources Zone, Record and Policy over the zone API.

The logic lives in plain classes (ZoneLogic, RecordLogic, PolicyLogic: check/diff/create/
update/delete/read with dicts), testable without Pulumi; the Pulumi resources below wrap
them when `pulumi` is installed (pip install 'geodns[pulumi]'). `diff` asks the API with
?dry_run=true what a change would do, so a plan shows a change only where the served
zone would really change; `check` runs the same dry run and turns its 422 problems into
Pulumi check failures, before anything is applied. Writes say `via pulumi` in the history.
"""

from __future__ import annotations

from typing import Any

from geodns.integrations.client import ApiError, ZoneClient


def _client(props: dict) -> ZoneClient:
    return ZoneClient(props["api_url"], props.get("token"), client="pulumi")


def _failures(exc: ApiError) -> list[tuple[str, str]]:
    """(property, reason) for Pulumi: the API's problems, or the error itself."""
    if exc.problems:
        return [(p.get("path") or "document", p.get("message", "")) for p in exc.problems]
    return [("api_url", str(exc))]


class ZoneLogic:
    """A whole zone document (`zone`, `document`: the zone file's schema as a dict)."""

    def check(self, news: dict) -> list[tuple[str, str]]:
        try:
            _client(news).put(news["zone"], news["document"], dry_run=True)
        except ApiError as exc:
            return [] if exc.status == 404 else _failures(exc)
        return []

    def diff(self, olds: dict, news: dict) -> tuple[bool, list[str]]:
        """(changes, replaces): a new zone name replaces; else what the dry run says."""
        if olds.get("zone") != news.get("zone"):
            return True, ["zone"]
        if olds.get("api_url") != news.get("api_url"):
            return True, []
        preview = _client(news).put(news["zone"], news["document"], dry_run=True)
        return bool(preview.get("records") or preview.get("routing")), []

    def create(self, props: dict) -> tuple[str, dict]:
        body = _client(props).put(props["zone"], props["document"])
        return props["zone"], {**props, "version": body["version"], "serial": body["serial"]}

    def update(self, olds: dict, news: dict) -> dict:
        body = _client(news).put(news["zone"], news["document"], if_match=olds.get("version"))
        return {**news, "version": body["version"], "serial": body["serial"]}

    def delete(self, props: dict) -> None:
        _client(props).delete(props["zone"])

    def read(self, zone: str, props: dict) -> dict | None:
        doc, version = _client(props).get(zone)
        return None if doc is None else {**props, "zone": zone, "document": doc, "version": version}


class RecordLogic:
    """One record set (`zone`, `name`, `type`, `values`, `ttl`) as a PATCH rrset."""

    @staticmethod
    def _rrset(props: dict, change: str = "REPLACE") -> dict:
        rrset = {
            "name": props["name"],
            "type": props["type"],
            "changetype": change,
            "records": [{"content": str(v)} for v in props.get("values", [])],
        }
        if props.get("ttl") is not None:
            rrset["ttl"] = int(props["ttl"])
        return {"rrsets": [rrset]}

    def check(self, news: dict) -> list[tuple[str, str]]:
        try:
            _client(news).patch(news["zone"], self._rrset(news), dry_run=True)
        except ApiError as exc:
            return _failures(exc)
        return []

    def diff(self, olds: dict, news: dict) -> tuple[bool, list[str]]:
        moved = [k for k in ("zone", "name", "type") if olds.get(k) != news.get(k)]
        if moved:
            return True, moved
        preview = _client(news).patch(news["zone"], self._rrset(news), dry_run=True)
        return bool(preview.get("records") or preview.get("routing")), []

    def create(self, props: dict) -> tuple[str, dict]:
        body = _client(props).patch(props["zone"], self._rrset(props))
        return f"{props['zone']}/{props['name']}/{props['type']}", {**props, **_written(body)}

    def update(self, olds: dict, news: dict) -> dict:
        return {**news, **_written(_client(news).patch(news["zone"], self._rrset(news)))}

    def delete(self, props: dict) -> None:
        _client(props).patch(props["zone"], self._rrset({**props, "values": []}, "DELETE"))


class PolicyLogic:
    """A routed name: `zone`, `name`, `policy` (a records node: geo, weighted, failover,
    latency...), `pools` and `checks` it brings (named by the resource, removed with it)."""

    @staticmethod
    def _patch(props: dict, old: dict | None = None) -> dict:
        body: dict[str, Any] = {"records": {props["name"]: props["policy"]}}
        for section in ("pools", "checks"):
            mine = dict(props.get(section) or {})
            for gone in set((old or {}).get(section) or {}) - set(mine):
                mine[gone] = None  # dropped from the resource: dropped from the zone
            if mine:
                body[section] = mine
        return body

    def check(self, news: dict) -> list[tuple[str, str]]:
        try:
            _client(news).patch(news["zone"], self._patch(news), dry_run=True)
        except ApiError as exc:
            return _failures(exc)
        return []

    def diff(self, olds: dict, news: dict) -> tuple[bool, list[str]]:
        moved = [k for k in ("zone", "name") if olds.get(k) != news.get(k)]
        if moved:
            return True, moved
        preview = _client(news).patch(news["zone"], self._patch(news, olds), dry_run=True)
        return bool(preview.get("records") or preview.get("routing")), []

    def create(self, props: dict) -> tuple[str, dict]:
        body = _client(props).patch(props["zone"], self._patch(props))
        return f"{props['zone']}/{props['name']}", {**props, **_written(body)}

    def update(self, olds: dict, news: dict) -> dict:
        return {**news, **_written(_client(news).patch(news["zone"], self._patch(news, olds)))}

    def delete(self, props: dict) -> None:
        body: dict[str, Any] = {"records": {props["name"]: None}}
        for section in ("pools", "checks"):
            if props.get(section):
                body[section] = dict.fromkeys(props[section])
        _client(props).patch(props["zone"], body)


def _written(body: dict) -> dict:
    return {"version": body.get("version"), "serial": body.get("serial")}


# --- Pulumi (only when it is installed) ---------------------------------------------------

try:  # pragma: no cover - exercised where pulumi is installed
    import pulumi
    from pulumi import dynamic
except ImportError:  # the logic above stays usable (and tested) without it
    pulumi = None  # type: ignore[assignment]


if pulumi is not None:

    class _Provider(dynamic.ResourceProvider):
        """A Pulumi dynamic provider over one of the logic classes."""

        logic: Any = None

        def check(self, _olds: dict, news: dict) -> dynamic.CheckResult:
            failures = [dynamic.CheckFailure(p, r) for p, r in self.logic.check(news)]
            return dynamic.CheckResult(news, failures)

        def diff(self, _id: str, olds: dict, news: dict) -> dynamic.DiffResult:
            changes, replaces = self.logic.diff(olds, news)
            return dynamic.DiffResult(changes=changes, replaces=replaces)

        def create(self, props: dict) -> dynamic.CreateResult:
            id_, outs = self.logic.create(props)
            return dynamic.CreateResult(id_, outs)

        def update(self, _id: str, olds: dict, news: dict) -> dynamic.UpdateResult:
            return dynamic.UpdateResult(self.logic.update(olds, news))

        def delete(self, _id: str, props: dict) -> None:
            self.logic.delete(props)

    class ZoneProvider(_Provider):
        logic = ZoneLogic()

        def read(self, id_: str, props: dict) -> dynamic.ReadResult:
            return dynamic.ReadResult(id_, self.logic.read(id_, props) or {})

    class RecordProvider(_Provider):
        logic = RecordLogic()

    class PolicyProvider(_Provider):
        logic = PolicyLogic()

    class Zone(dynamic.Resource):
        """A whole zone: `document` is the zone file's schema as a dict."""

        def __init__(
            self,
            name: str,
            *,
            zone: str,
            document: Any,
            api_url: str,
            token: Any = None,
            opts: Any = None,
        ) -> None:
            props = {
                "zone": zone,
                "document": document,
                "api_url": api_url,
                "token": token,
                "version": None,
                "serial": None,
            }
            super().__init__(ZoneProvider(), name, props, opts)

    class Record(dynamic.Resource):
        """One record set at a name (`type`, `values`, `ttl`)."""

        def __init__(
            self,
            name: str,
            *,
            zone: str,
            record_name: str,
            type: str,
            values: Any,
            api_url: str,
            ttl: Any = None,
            token: Any = None,
            opts: Any = None,
        ) -> None:
            props = {
                "zone": zone,
                "name": record_name,
                "type": type,
                "values": values,
                "ttl": ttl,
                "api_url": api_url,
                "token": token,
                "version": None,
                "serial": None,
            }
            super().__init__(RecordProvider(), name, props, opts)

    class Policy(dynamic.Resource):
        """A routed name with the pools and checks it brings."""

        def __init__(
            self,
            name: str,
            *,
            zone: str,
            record_name: str,
            policy: Any,
            api_url: str,
            pools: Any = None,
            checks: Any = None,
            token: Any = None,
            opts: Any = None,
        ) -> None:
            props = {
                "zone": zone,
                "name": record_name,
                "policy": policy,
                "pools": pools,
                "checks": checks,
                "api_url": api_url,
                "token": token,
                "version": None,
                "serial": None,
            }
            super().__init__(PolicyProvider(), name, props, opts)
