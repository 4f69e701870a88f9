"""The bus's transport says what is wrong: a tls:// URL to a plaintext server is refused
(never downgraded), a wrong password and a missing client certificate are ERROR lines and
reasons in /api/v1/status, and the instance answers from its own probes meanwhile."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.fleetkit import Instance, wait_for, zone_text
from tests.e2e.natscluster import PASSWORD, secure_fleet

pytest_plugins = ["tests.e2e.fleetkit", "tests.e2e.natscluster"]


def problems(instance: Instance) -> list[str]:
    fleet = instance.http("/api/v1/status")[1]["fleet"]
    assert fleet["state"] == "degraded"
    return fleet.get("problems", [])


def started(instance: Instance) -> Instance:
    instance.start()
    assert instance.answer() == ["127.0.0.11"]  # serving from its own probes all along
    return instance


def test_tls_is_never_downgraded(tmp_path: Path, nats_server, backends, caplog) -> None:
    url = nats_server.url.replace("nats://", "tls://")
    text = zone_text(backends[0].port, backends[1].port)
    one = started(Instance(tmp_path, "a", url, text, 0.0))
    try:
        wait_for(lambda: any("never downgraded" in p for p in problems(one)), 10)
        assert "TLS required but the server offers plaintext" in caplog.text
    finally:
        one.stop()


def test_wrong_password_and_missing_certificate_are_said(
    tmp_path: Path, nats_cluster, backends, caplog
) -> None:
    text = zone_text(backends[0].port, backends[1].port)
    pki = nats_cluster.pki
    (tmp_path / "wrong").write_text("not-" + PASSWORD)
    (tmp_path / "right").write_text(PASSWORD)
    mutual = {
        "ca_file": str(pki / "ca.pem"),
        "cert_file": str(pki / "client.pem"),
        "key_file": str(pki / "client-key.pem"),
    }
    cases = {
        "a": ({"tls": mutual, "credentials": str(tmp_path / "wrong")}, "authentication failed"),
        "b": (
            {"tls": {"ca_file": str(pki / "ca.pem")}, "credentials": str(tmp_path / "right")},
            "TLS failed",
        ),
    }
    for name, (keys, words) in cases.items():
        one = started(Instance(tmp_path, name, nats_cluster.urls, text, 0.0, user="geodns", **keys))
        try:
            wait_for(lambda one=one, words=words: any(words in p for p in problems(one)), 10)
            assert any(r.levelname == "ERROR" and words in r.getMessage() for r in caplog.records)
        finally:
            one.stop()


def test_a_bucket_with_other_replicas_is_a_loud_error(
    tmp_path: Path, nats_cluster, backends, caplog
) -> None:
    async def one_replica(js) -> None:
        await js.create_key_value(bucket="geodns", history=1, replicas=1)

    nats_cluster.run(one_replica)
    (one,) = secure_fleet(tmp_path, nats_cluster, backends, names=("a",))
    one.start()
    try:
        words = "replicas: bucket 'geodns' has 1, fleet.replicas says 3"
        fleet = one.http("/api/v1/status")[1]["fleet"]
        assert fleet["problems"] == [words]
        assert any(r.levelname == "ERROR" and words in r.getMessage() for r in caplog.records)
        assert one.answer() == ["127.0.0.11"]  # used as it is, answering all along
    finally:
        one.stop()
