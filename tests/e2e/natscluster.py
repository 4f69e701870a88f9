"""Three real nats-server nodes on loopback running deploy/nats/node.conf: a JetStream
cluster with TLS everywhere (certificates minted here), the GEODNS account and its user."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.fleetkit import NATS, Instance, wait_for, zone_text

NODE_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "node.conf"
PASSWORD = "geodns-nats-password"


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _write(folder: Path, stem: str, cert: x509.Certificate, key: Any) -> None:
    (folder / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (folder / f"{stem}-key.pem").write_bytes(pem)


def mint(folder: Path) -> Path:
    """A CA, a node certificate (127.0.0.1 and localhost; serves clients and routes) and a
    client certificate for geodns, all signed by the CA; ECDSA P-256, valid for a day."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())

    def build(subject: str, key: Any, issuer_key: Any, ca: bool, sans: list[Any]) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(_name("geodns test CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    _write(folder, "ca", build("geodns test CA", ca_key, ca_key, True, []), ca_key)
    sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    for stem in ("node", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(folder, stem, build(f"geodns {stem}", key, ca_key, False, sans), key)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One nats-server of the cluster; keeps its ports and store across restarts."""

    def __init__(self, name: str, root: Path, pki: Path, routes: list[str]) -> None:
        self.name, self.port, self.cluster_port = name, free_port(), free_port()
        self.store = root / name
        self.env = {
            **os.environ,
            "NODE_NAME": name,
            "CLIENT_HOST": "127.0.0.1",
            "CLIENT_PORT": str(self.port),
            "CLUSTER_PORT": str(self.cluster_port),
            "STORE_DIR": str(self.store),
            "TLS_CA": str(pki / "ca.pem"),
            "TLS_CERT": str(pki / "node.pem"),
            "TLS_KEY": str(pki / "node-key.pem"),
            "GEODNS_PASSWORD": PASSWORD,
            "SYS_PASSWORD": "sys-password",
        }
        self.routes = routes
        self.proc: subprocess.Popen | None = None

    def start(self) -> Node:
        env = dict(self.env)
        for n, route in enumerate(self.routes, 1):
            env[f"ROUTE_{n}"] = route
        self.proc = subprocess.Popen(
            [NATS, "-c", str(NODE_CONF)], env=env, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if "Server is ready" in line:
                break
            if re.search(r"\[FTL\]|\[ERR\].*config", line):
                raise RuntimeError(f"nats-server {self.name}: {line}")
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"tls://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """As a crash would: SIGKILL, no goodbye to the cluster."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Cluster:
    """Three nodes routed to each other; `client()` is a geodns-user connection over mTLS."""

    def __init__(self, root: Path) -> None:
        self.pki = mint(root / "pki")
        names = ("nats-a", "nats-b", "nats-c")
        self.nodes = [Node(n, root, self.pki, []) for n in names]
        routes = [f"tls://127.0.0.1:{node.cluster_port}" for node in self.nodes]
        for node in self.nodes:
            node.routes = routes

    def start(self) -> Cluster:
        threads = [threading.Thread(target=node.start) for node in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        wait_for(lambda: self.run(self._js_ready), 30)
        return self

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def tls(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.pem"))
        ctx.load_cert_chain(str(self.pki / "client.pem"), str(self.pki / "client-key.pem"))
        return ctx

    def run(self, job: Any, urls: list[str] | None = None) -> Any:
        """`await job(js)` on a fresh connection as the geodns user; its result."""

        async def go() -> Any:
            nc = await nats.connect(
                servers=urls or self.urls,
                tls=self.tls(),
                user="geodns",
                password=PASSWORD,
                allow_reconnect=False,
                connect_timeout=2,
            )
            try:
                return await job(nc.jetstream(timeout=3))
            finally:
                await nc.close()

        return asyncio.run(go())

    @staticmethod
    async def _js_ready(js: Any) -> bool:
        try:
            await js.account_info()
            return True
        except Exception:
            return False

    def leader(self, stream: str = "KV_geodns") -> Node:
        """The node leading the stream's Raft group (the bucket's writes go through it)."""

        async def ask(js: Any) -> str:
            info = await js.stream_info(stream)
            return info.cluster.leader

        name = self.run(ask)
        return next(node for node in self.nodes if node.name == name)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture
def nats_cluster(tmp_path: Path):
    if not Path(NATS).exists():
        pytest.skip("nats-server is not installed (apt-get install nats-server)")
    cluster = Cluster(tmp_path / "nats")
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def secure_fleet(
    root: Path, cluster: Cluster, backends: Any, names: tuple[str, ...] = ("a", "b", "c")
) -> list[Instance]:
    """Instances (not started) on the cluster: mutual TLS, the geodns user, signed entries,
    a bucket of three replicas; each lists the nodes starting from another one."""
    (root / "nats.password").write_text(PASSWORD)
    pki = cluster.pki
    tls = {
        "ca_file": str(pki / "ca.pem"),
        "cert_file": str(pki / "client.pem"),
        "key_file": str(pki / "client-key.pem"),
    }
    text = zone_text(backends[0].port, backends[1].port)
    made = []
    for n, name in enumerate(names):
        urls = cluster.urls[n:] + cluster.urls[:n]  # each starts on another node
        keys = {"user": "geodns", "credentials": str(root / "nats.password"), "tls": tls}
        made.append(Instance(root, name, urls, text, 0.0, replicas=3, **keys))
    return made
