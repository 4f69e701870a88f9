"""End to end: certbot's dns-rfc2136 plugin gets a certificate from pebble (an ACME test
server) for a name in a geodns zone: the DNS-01 TXT goes in by TSIG-signed UPDATE, pebble
resolves it through geodns, and certbot's cleanup takes it out again."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integrations.kit import SECRET, ZONE, serve

PEBBLE, CERTBOT = shutil.which("pebble"), shutil.which("certbot")
pytestmark = pytest.mark.skipif(
    PEBBLE is None or CERTBOT is None,
    reason="needs the Debian packages pebble and certbot + python3-certbot-dns-rfc2136",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tls_for_pebble(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1/localhost signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "geodns test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def _wait_for_port(port: int, proc: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"pebble exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("pebble did not listen in time")


@pytest.fixture
def pebble(tmp_path: Path):
    served = serve(tmp_path)
    ca, cert, key = _tls_for_pebble(tmp_path)
    port = _free_port()
    conf = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{port}",
            "managementListenAddress": f"127.0.0.1:{_free_port()}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": _free_port(),
            "tlsPort": _free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (tmp_path / "pebble.json").write_text(json.dumps(conf))
    host, dns_port = served.dns
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    proc = subprocess.Popen(
        [PEBBLE, "-config", str(tmp_path / "pebble.json"), "-dnsserver", f"{host}:{dns_port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        _wait_for_port(port, proc, time.monotonic() + 20)
        yield served, f"https://127.0.0.1:{port}/dir", ca, tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        served.server.stop()


def test_certbot_rfc2136_gets_a_certificate_through_geodns(pebble) -> None:
    served, directory, ca, tmp = pebble
    host, port = served.dns
    creds = tmp / "rfc2136.ini"
    creds.write_text(
        f"dns_rfc2136_server = {host}\ndns_rfc2136_port = {port}\n"
        f"dns_rfc2136_name = acme\ndns_rfc2136_secret = {SECRET}\n"
        "dns_rfc2136_algorithm = HMAC-SHA256\n"
    )
    creds.chmod(0o600)
    domain = f"cert.{ZONE.rstrip('.')}"
    before = len(served.history())
    run = subprocess.run(
        [
            CERTBOT,
            "certonly",
            "--non-interactive",
            "--agree-tos",
            "--register-unsafely-without-email",
            "--server",
            directory,
            "--authenticator",
            "dns-rfc2136",
            "--dns-rfc2136-credentials",
            str(creds),
            "--dns-rfc2136-propagation-seconds",
            "1",
            "--config-dir",
            str(tmp / "le"),
            "--work-dir",
            str(tmp / "le-work"),
            "--logs-dir",
            str(tmp / "le-logs"),
            "-d",
            domain,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "REQUESTS_CA_BUNDLE": str(ca)},
    )
    logs = "".join(p.read_text() for p in (tmp / "le-logs").glob("*.log"))
    assert run.returncode == 0, run.stdout + run.stderr + logs[-4000:]
    pem = (tmp / "le" / "live" / domain / "cert.pem").read_bytes()
    issued = x509.load_pem_x509_certificate(pem)
    sans = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [domain]
    challenge = f"_acme-challenge.{domain}."
    reply = dns.query.udp(dns.message.make_query(challenge, "TXT"), host, port=port, timeout=3)
    assert reply.rcode() == dns.rcode.NXDOMAIN and not reply.answer  # cleaned up
    written = served.history()[before:]
    assert len(written) >= 2 and {v["who"].split("@")[0] for v in written} == {"tsig:acme"}
    assert "_acme-challenge.cert" in written[0]["summary"]
