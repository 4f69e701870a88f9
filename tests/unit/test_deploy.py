"""deploy/: the Kubernetes manifests (schema and structure), the config they and the image carry
(through the real `geodns check`), the systemd unit (systemd-analyze) and the Dockerfile."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from geodns.cli import build_parser
from geodns.config import demo_geoip_path, parse_hostport

REPO = Path(__file__).resolve().parents[2]
KUBE = REPO / "deploy" / "kubernetes" / "base"
UNIT = REPO / "deploy" / "systemd" / "geodns.service"
SCHEMA_VERSIONS = ("1.29.0", "1.37.0")  # the oldest release we claim, and the newest schemas
LABELS = {"app.kubernetes.io/name": "geodns"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object in deploy/kubernetes by (kind, name), the example Secret included."""
    found = {}
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in documents(path):
            if doc["kind"] != "Kustomization":
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


OBJECTS = manifests()
DEPLOYMENT = OBJECTS[("Deployment", "geodns")]
POD = DEPLOYMENT["spec"]["template"]["spec"]
GEODNS = next(c for c in POD["containers"] if c["name"] == "geodns")
CONFIG = yaml.safe_load(OBJECTS[("ConfigMap", "geodns-config")]["data"]["geodns.yaml"])


def port_named(name: str, protocol: str = "TCP") -> int:
    return next(
        p["containerPort"]
        for p in GEODNS["ports"]
        if p["name"] == name and p.get("protocol", "TCP") == protocol
    )


def volume(name: str) -> dict[str, Any]:
    return next(v for v in POD["volumes"] if v["name"] == name)


# --- schema ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("key", sorted(OBJECTS), ids=lambda k: f"{k[0]}-{k[1]}")
def test_manifest_matches_the_kubernetes_schema(key: tuple[str, str], version: str) -> None:
    kv = pytest.importorskip("kubernetes_validate")  # bundles the schemas: works offline
    kv.validate(OBJECTS[key], version, strict=True)  # strict: an unknown field is an error


def test_the_schema_check_bites() -> None:
    kv = pytest.importorskip("kubernetes_validate")
    broken = copy.deepcopy(DEPLOYMENT)
    broken["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, SCHEMA_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kustomization = documents(KUBE / "kustomization.yaml")[0]
    files = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files - {"geoipupdate-secret.example.yaml"}
    assert kustomization["namespace"] == "geodns"
    assert {obj["metadata"].get("namespace", "geodns") for obj in OBJECTS.values()} == {"geodns"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_renders_the_same_objects() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(KUBE)], capture_output=True, text=True, check=True
    ).stdout
    kinds = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(rendered) if d}
    assert kinds == set(OBJECTS) - {("Secret", "geoipupdate")}


# --- structure: what docs/operations.md's "Kubernetes" promises --------------------------


def test_two_or_more_replicas_spread_over_nodes() -> None:
    assert DEPLOYMENT["spec"]["replicas"] >= 2
    assert DEPLOYMENT["spec"]["selector"]["matchLabels"] == LABELS
    assert LABELS.items() <= DEPLOYMENT["spec"]["template"]["metadata"]["labels"].items()
    per_node = [
        c for c in POD["topologySpreadConstraints"] if c["topologyKey"] == "kubernetes.io/hostname"
    ]
    assert per_node and per_node[0]["whenUnsatisfiable"] == "DoNotSchedule"
    assert per_node[0]["maxSkew"] == 1 and per_node[0]["labelSelector"]["matchLabels"] == LABELS


def test_service_answers_udp_and_tcp_53_and_keeps_client_addresses() -> None:
    spec = OBJECTS[("Service", "geodns")]["spec"]
    assert spec["type"] == "LoadBalancer" and spec["externalTrafficPolicy"] == "Local"
    assert spec["selector"] == LABELS
    assert {(p["port"], p["protocol"]) for p in spec["ports"]} == {(53, "UDP"), (53, "TCP")}
    dns_port = parse_hostport(CONFIG["dns"]["listen"][0], 53)[1]
    for port in spec["ports"]:
        assert port_named(port["targetPort"], port["protocol"]) == dns_port


def test_metrics_service_and_probes_follow_http_listen() -> None:
    http_port = parse_hostport(CONFIG["http"]["listen"], 8053)[1]
    assert port_named("http") == http_port
    metrics = OBJECTS[("Service", "geodns-http")]["spec"]
    assert metrics["type"] == "ClusterIP" and metrics["selector"] == LABELS
    assert port_named("probe") == parse_hostport(CONFIG["http"]["probe_listen"], 8053)[1]
    assert GEODNS["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probe"}
    assert GEODNS["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probe"}
    assert GEODNS["startupProbe"]["httpGet"]["port"] == "probe"
    assert GEODNS["startupProbe"]["httpGet"]["path"] == "/healthz"
    annotations = DEPLOYMENT["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(http_port)


def test_disruption_budget_keeps_one_up() -> None:
    spec = OBJECTS[("PodDisruptionBudget", "geodns")]["spec"]
    assert spec["selector"]["matchLabels"] == LABELS
    assert 1 <= spec["minAvailable"] < DEPLOYMENT["spec"]["replicas"]


def all_containers() -> list[dict[str, Any]]:
    return [*POD.get("initContainers", []), *POD["containers"]]


def test_restricted_security_context_everywhere() -> None:
    pod = POD["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert POD["automountServiceAccountToken"] is False
    for container in all_containers():
        ctx = container["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False, container["name"]
        assert ctx["readOnlyRootFilesystem"] is True, container["name"]
        assert ctx["capabilities"]["drop"] == ["ALL"], container["name"]
        assert set(ctx["capabilities"].get("add", [])) <= {"NET_BIND_SERVICE"}
    namespace = OBJECTS[("Namespace", "geodns")]["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"


def test_every_container_has_requests_and_a_memory_limit() -> None:
    for container in all_containers():
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), container["name"]
        assert "memory" in resources["limits"], container["name"]


def mount(container: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in container["volumeMounts"] if m["name"] == name)


def test_config_and_zones_are_whole_configmap_folders() -> None:
    """A subPath mount never sees a ConfigMap update: only a folder mount gets the ..data swap."""
    args = GEODNS["args"]
    assert args[:2] == ["serve", "--config"]
    build_parser().parse_args(args)  # the CLI takes these arguments
    config_path = Path(args[2])
    conf, zones = mount(GEODNS, "config"), mount(GEODNS, "zones")
    assert "subPath" not in conf and "subPath" not in zones
    assert str(config_path.parent) == conf["mountPath"]
    assert volume("config")["configMap"]["name"] == "geodns-config"
    assert config_path.name in OBJECTS[("ConfigMap", "geodns-config")]["data"]
    assert zones["mountPath"] == CONFIG["zones_dir"]
    assert volume("zones")["configMap"]["name"] == "geodns-zones"
    assert CONFIG["reload"]["watch"] is True


def test_geoip_volume_kept_fresh_by_geoipupdate_with_its_secret() -> None:
    geoip_dir = str(Path(CONFIG["geoip"]["city"]).parent)
    assert mount(GEODNS, "geoip") == {"name": "geoip", "mountPath": geoip_dir, "readOnly": True}
    updater = next(c for c in POD["containers"] if "geoipupdate" in c["image"])
    assert mount(updater, "geoip")["mountPath"] == geoip_dir
    script = " ".join([*updater["command"], *updater["args"]])
    conf_dir = mount(updater, "geoipupdate")["mountPath"]
    assert f"-f {conf_dir}/GeoIP.conf" in script and f"-d {geoip_dir}" in script
    secret = volume("geoipupdate")["secret"]
    assert secret["optional"] is True  # no Secret yet: the pod still starts (demo database)
    example = OBJECTS[("Secret", secret["secretName"])]
    assert "EditionIDs GeoLite2-City" in example["stringData"]["GeoIP.conf"]
    seed = next(c for c in POD["initContainers"] if c["name"] == "seed-geoip")
    assert seed["image"] == GEODNS["image"] and seed["command"][-1].endswith(
        Path(CONFIG["geoip"]["city"]).name
    )


# --- the config the manifests and the image carry, through the real CLI --------------------


def geodns_check(config: dict[str, Any], tmp: Path) -> subprocess.CompletedProcess:
    """`geodns check` on a config whose absolute paths are moved into tmp: zones_dir holds
    what the config names, geoip.city is the demo database."""
    demo = demo_geoip_path()
    if config["geoip"].get("city") and demo is None:
        pytest.skip("maxminddb-geolite2 (the demo GeoIP database) not installed")
    config = copy.deepcopy(config)
    config["zones_dir"] = str(tmp / "zones")
    if config["geoip"].get("city"):
        config["geoip"]["city"] = demo
    path = tmp / "geodns.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [sys.executable, "-m", "geodns", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_configmap_config_and_zones_pass_geodns_check(tmp_path: Path) -> None:
    (tmp_path / "zones").mkdir()
    for name, text in OBJECTS[("ConfigMap", "geodns-zones")]["data"].items():
        (tmp_path / "zones" / name).write_text(text)
    result = geodns_check(CONFIG, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok: gslb.example.com." in result.stdout


def test_the_check_catches_a_broken_configmap_zone(tmp_path: Path) -> None:
    (tmp_path / "zones").mkdir()
    text = OBJECTS[("ConfigMap", "geodns-zones")]["data"]["gslb.example.com.yaml"]
    (tmp_path / "zones" / "gslb.example.com.yaml").write_text(text.replace("192.0.2.1]", "x]"))
    result = geodns_check(CONFIG, tmp_path)
    assert result.returncode == 1 and "gslb.example.com.yaml:" in result.stderr


def test_image_config_passes_geodns_check(tmp_path: Path) -> None:
    shutil.copytree(REPO / "zones", tmp_path / "zones")
    config = yaml.safe_load((REPO / "deploy" / "container-config.yaml").read_text())
    result = geodns_check(config, tmp_path)
    assert result.returncode == 0, result.stderr


# --- the Dockerfile ------------------------------------------------------------------------


def test_dockerfile_needs_no_file_capability_and_ships_no_wheels() -> None:
    text = (REPO / "Dockerfile").read_text()
    final = text.rsplit("\nFROM ", 1)[1]  # the last stage is the image
    assert "setcap" not in text and "/wheels" not in final
    user = re.search(r"^USER (\d+)", final, re.M)
    assert user and int(user.group(1)) > 0  # numeric: runAsNonRoot can verify it
    health = re.search(r"^HEALTHCHECK .*\n.*CMD (\[.*\])", final, re.M)
    assert health and yaml.safe_load(health.group(1))[:2] == ["geodns", "healthcheck"]
    build_parser().parse_args(yaml.safe_load(health.group(1))[1:])
    config = yaml.safe_load((REPO / "deploy" / "container-config.yaml").read_text())
    exposed = set(re.search(r"^EXPOSE (.*)$", final, re.M).group(1).split())
    dns_port = parse_hostport(config["dns"]["listen"][0], 53)[1]
    http_port = parse_hostport(config["http"]["listen"], 8053)[1]
    assert exposed == {f"{dns_port}/udp", f"{dns_port}/tcp", f"{http_port}/tcp"}
    assert dns_port > 1024  # binds with no capability at all


# --- the systemd unit ----------------------------------------------------------------------


def unit_settings() -> dict[str, list[str]]:
    """`Key=value` lines by key (a key may repeat), comments and sections left out."""
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_unit_binds_53_unprivileged_and_reloads_on_hup() -> None:
    unit = unit_settings()
    assert unit["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert unit["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert unit["DynamicUser"] == ["yes"] and unit["NoNewPrivileges"] == ["yes"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["ProtectSystem"] == ["strict"] and unit["ProtectHome"] == ["yes"]
    for key in ("ExecStart", "ExecStartPre"):
        command = unit[key][0].split()
        assert command[0].endswith("/geodns")
        build_parser().parse_args(command[1:])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_analyze_verifies_the_unit_and_rates_it_ok(tmp_path: Path) -> None:
    geodns = shutil.which("geodns") or pytest.skip("the geodns script is not on PATH")
    unit = tmp_path / "geodns.service"  # the same unit, pointing at this machine's geodns
    unit.write_text(UNIT.read_text().replace("/opt/geodns/bin/geodns", geodns))
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr  # no ignored keys
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=30", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert security.returncode == 0, security.stdout[-2000:]
    assert re.search(r"Overall exposure level for geodns.service: [0-2]\.\d OK", security.stdout)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_analyze_catches_a_misspelt_key(tmp_path: Path) -> None:
    unit = tmp_path / "geodns.service"
    text = UNIT.read_text().replace("/opt/geodns/bin/geodns", shutil.which("true") or "/bin/true")
    unit.write_text(text.replace("NoNewPrivileges=", "NoNewPrivilege="))
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True
    )
    assert "Unknown key 'NoNewPrivilege'" in verify.stderr
