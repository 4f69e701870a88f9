"""Who makes the signature bytes: libcrypto in C (geodns._native) or the `cryptography` package.

The C signer is used wherever the extension was built with it: it makes deterministic ECDSA
whatever OpenSSL `cryptography` was built on (its RFC 6979 needs 3.2+), and C can call it
without the GIL; the two are about as fast (bench/sign_cost.py). `cryptography` is the
fallback where it was not built (GEODNS_NATIVE=optional without libcrypto's headers, no
compiler, GEODNS_NO_NATIVE set). Both sign the same bytes
(RFC 6979 nonces for ECDSA P-256, Ed25519 deterministic by design: tests/unit/
test_dnssec_signer.py), so which one ran never shows in an answer or between instances.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from types import ModuleType

import cryptography
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

log = logging.getLogger("geodns.dnssec")

Sign = Callable[[bytes], bytes]  # data -> the RRSIG signature field
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def native_module() -> ModuleType | None:
    """geodns._native when it carries the signer (SigningKey), else None."""
    if os.environ.get("GEODNS_NO_NATIVE"):
        return None
    try:
        from geodns import _native
    except ImportError:
        return None
    return _native if hasattr(_native, "SigningKey") else None


def python_signer(private: PrivateKey) -> Sign:
    """`cryptography`'s: Ed25519 as is, ECDSA with RFC 6979 nonces as r||s (RFC 6605)."""
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign
    scheme = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)

    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(private.sign(data, scheme))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


def raw_private(private: PrivateKey) -> bytes:
    """The private half as BIND's .private holds it: the P-256 scalar, the Ed25519 seed."""
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.private_bytes_raw()
    return private.private_numbers().private_value.to_bytes(32, "big")


def native_signer(algorithm: int, private: PrivateKey, public: bytes) -> Sign | None:
    """libcrypto's, or None where the extension has no signer. Its public half must be the
    DNSKEY's: else (a bug in one of the two libraries) None, and `cryptography` signs."""
    native = native_module()
    if native is None:
        return None
    key = native.SigningKey(algorithm, raw_private(private))
    if key.public != public:
        log.warning("the C signer derived another public key (algorithm %d): not used", algorithm)
        return None
    return key.sign


def signer_for(algorithm: int, private: PrivateKey, public: bytes) -> Sign:
    """The signer of one key: the C one where built, else `cryptography`'s (same bytes)."""
    return native_signer(algorithm, private, public) or python_signer(private)


def in_use() -> str:
    """Which signer signs, for `geodns version`."""
    native = native_module()
    if native is not None:
        return f"native ({native.SIGN_LIBRARY})"
    why = "GEODNS_NO_NATIVE is set" if os.environ.get("GEODNS_NO_NATIVE") else "no C signer built"
    return f"python (cryptography {cryptography.__version__}; {why})"
