"""The C signer (csrc/sign/, libcrypto) against RFC 6979's and RFC 8032's published vectors,
and against the `cryptography` package: the same bytes for every key and message, so which
signer an instance has never shows in its RRSIGs."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from geodns.dnssec import keyfile, keyset, signer, zone
from geodns.names import name_to_wire

native = signer.native_module()
needs_c = pytest.mark.skipif(native is None, reason="geodns._native built without the signer")
ZONE = "gslb.example.com."

# RFC 6979 Appendix A.2.5 (ECDSA, 256 Bits (Prime Field)), typed from the RFC's text
X = "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"
UX = "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
UY = "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"
Q = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"
SHA256_VECTORS = [  # With SHA-256, message = ...: (message, r, s)
    (
        b"sample",
        "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
        "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
    ),
    (
        b"test",
        "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367",
        "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083",
    ),
]
# RFC 8032 §7.1 TEST 1 (Ed25519, the empty message)
ED_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
ED_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
ED_SIG = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


@needs_c
@pytest.mark.parametrize(("message", "r", "s"), SHA256_VECTORS)
def test_the_c_signer_makes_rfc_6979s_p256_sha256_signatures(message, r, s) -> None:
    key = native.SigningKey(13, bytes.fromhex(X))
    assert key.public == bytes.fromhex(UX + UY)
    assert key.sign(message) == bytes.fromhex(r + s)
    assert key.sign(bytearray(message)) == bytes.fromhex(r + s)


@needs_c
def test_the_c_signer_makes_rfc_8032s_ed25519_signature() -> None:
    key = native.SigningKey(15, bytes.fromhex(ED_SEED))
    assert key.public == bytes.fromhex(ED_PUBLIC)
    assert key.sign(b"") == bytes.fromhex(ED_SIG)


@needs_c
@pytest.mark.parametrize(
    ("algorithm", "private"),
    [
        (13, bytes(32)),  # d = 0
        (13, bytes.fromhex(Q)),  # d = n
        (13, b"\xff" * 32),  # d > n
        (13, bytes.fromhex(X)[:31]),
        (15, bytes(31)),
        (15, bytes(33)),
        (14, bytes.fromhex(X)),  # ECDSA P-384: not ours
    ],
)
def test_unusable_private_keys_are_refused(algorithm: int, private: bytes) -> None:
    with pytest.raises(ValueError, match=f"algorithm {algorithm}"):
        native.SigningKey(algorithm, private)


def _python_key(algorithm: int, rng: random.Random):
    if algorithm == 15:
        return ed25519.Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
    n = int(Q, 16)
    return ec.derive_private_key(rng.randrange(1, n), ec.SECP256R1())


def _verify(private, message: bytes, sig: bytes) -> None:
    """`cryptography`'s verifier: raises InvalidSignature on a bad one."""
    if isinstance(private, ed25519.Ed25519PrivateKey):
        private.public_key().verify(sig, message)
        return
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    private.public_key().verify(der, message, ec.ECDSA(hashes.SHA256()))


@needs_c
@pytest.mark.parametrize("algorithm", [13, 15])
def test_c_and_cryptography_sign_the_same_bytes(algorithm: int) -> None:
    """2000 random keys, 2 random messages each (0 to 600 bytes: RRsets' sizes); every
    signature verifies with `cryptography`."""
    rng = random.Random(6979 + algorithm)
    for _ in range(2000):
        private = _python_key(algorithm, rng)
        public = keyfile.public_bytes(private)
        c_sign = signer.native_signer(algorithm, private, public)
        py_sign = signer.python_signer(private)
        assert c_sign is not None
        for _ in range(2):
            message = rng.randbytes(rng.randrange(0, 601))
            sig = c_sign(message)
            assert len(sig) == 64
            assert sig == py_sign(message), (algorithm, signer.raw_private(private).hex())
            _verify(private, message, sig)


@needs_c
def test_a_key_signs_with_c_where_built_and_cryptography_without(monkeypatch) -> None:
    key = keyfile.generate(ZONE, keyfile.ALG_ECDSAP256SHA256)
    assert type(key.signer.__self__).__name__ == "SigningKey"
    monkeypatch.setenv("GEODNS_NO_NATIVE", "1")
    again = keyfile.Key(key.zone, key.flags, key.algorithm, key.public, key.private)
    assert not hasattr(again.signer, "__self__")  # python_signer's closure
    assert again.signer(b"rrset") == key.signer(b"rrset")
    assert signer.in_use().startswith("python (cryptography ")


def _zone_rrsigs(directory: Path) -> list[bytes]:
    """Every RRSIG of a zone's RRsets (the apex sets, static, policy answers, NSECs), signed by
    keys freshly read from `directory` (so with the signer in force now)."""
    signer_ = zone.load(ZONE, str(directory), clock=lambda: 1_780_000_000)
    origin = name_to_wire(ZONE)
    out = [
        s
        for t, rdatas in signer_.apex_sets().items()
        for s in signer_.rrsigs(origin, t, 3600, rdatas)
    ]
    rng = random.Random(4034)
    for n in range(300):
        owner = name_to_wire(f"n{n}.{ZONE}")
        rtype = rng.choice([1, 28, 16, 15, 47])
        rdatas = [rng.randbytes(rng.choice([4, 16, 30])) for _ in range(rng.randrange(1, 5))]
        out += signer_.rrsigs(owner, rtype, rng.choice([60, 300]), rdatas)
    out += signer_.rrsigs(name_to_wire(f"*.edge.{ZONE}"), 1, 60, [bytes([192, 0, 2, 99])])
    return out


@needs_c
@pytest.mark.parametrize("algorithm", [13, 15])
def test_a_zone_signed_by_c_and_by_cryptography_has_the_same_rrsigs(
    tmp_path: Path, monkeypatch, algorithm: int
) -> None:
    """Split KSK and ZSK, both signing: the DNSKEY set by the KSK, the rest by the ZSK."""
    for ksk in (True, False):
        key = keyfile.generate(ZONE, algorithm, ksk=ksk)
        key.timing.update(Publish=0, Activate=0)
        keyfile.write_key(key, tmp_path)
    assert len(keyset.load_dir(tmp_path, ZONE)) == 2
    assert signer.in_use().startswith("native (")
    by_c = _zone_rrsigs(tmp_path)
    monkeypatch.setenv("GEODNS_NO_NATIVE", "1")
    by_python = _zone_rrsigs(tmp_path)
    assert len(by_c) == 3 + 300 + 1  # DNSKEY, CDS, CDNSKEY; the RRsets; the wildcard
    assert by_c == by_python


def _version(**env: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "geodns", "version"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


@needs_c
def test_geodns_version_says_which_signer_signs() -> None:
    assert f"dnssec signer: native ({native.SIGN_LIBRARY})" in _version()
    assert "dnssec signer: python (cryptography " in _version(GEODNS_NO_NATIVE="1")


@needs_c
@pytest.mark.parametrize("algorithm", [13, 15])
def test_one_key_signs_from_many_threads_at_once(algorithm: int) -> None:
    """sign() lets go of the GIL: four threads on one key get what one thread gets."""
    rng = random.Random(8080 + algorithm)
    private = _python_key(algorithm, rng)
    key = native.SigningKey(algorithm, signer.raw_private(private))
    messages = [rng.randbytes(rng.randrange(0, 300)) for _ in range(400)]
    want = [signer.python_signer(private)(m) for m in messages]
    with ThreadPoolExecutor(4) as pool:
        runs = [pool.submit(lambda: [key.sign(m) for m in messages]) for _ in range(4)]
        assert [r.result(timeout=120) for r in runs] == [want] * 4
    with pytest.raises(TypeError, match="already initialised"):
        key.__init__(algorithm, signer.raw_private(private))
