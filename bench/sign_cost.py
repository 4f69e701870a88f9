"""DNSSEC signatures per second, the C signer (libcrypto, csrc/sign/) against the
`cryptography` package, for ECDSA P-256 (13, RFC 6979 nonces) and Ed25519 (15): the raw
signature over a typical RRset's signed data, and a whole RRSIG (sign.sign_rrset: header,
canonical RRset, signature). One thread; the best of 3 rounds of N signatures (default
5000), timed in process CPU time (the machine may be shared: wall time would count the
others). Run: python bench/sign_cost.py [N]. Measures; asserts only the same bytes."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable

from geodns.dnssec import keyfile, sign, signer
from geodns.names import name_to_wire

ZONE = "gslb.example.com."
ROUNDS = 3


def rate(fn: Callable[[int], object], n: int) -> float:
    """Signatures per CPU second: the best of ROUNDS rounds of n calls."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for i in range(n):
            fn(i)
        best = min(best, time.process_time() - started)
    return n / best


def rrsets(n: int) -> list[tuple[bytes, list[bytes]]]:
    """n geo answers: an owner and 1-3 A records, as a pool's answer is."""
    rng = random.Random(6605)
    return [
        (name_to_wire(f"n{i}.{ZONE}"), [rng.randbytes(4) for _ in range(rng.randrange(1, 4))])
        for i in range(n)
    ]


def line(label: str, what: str, c: float, py: float) -> str:
    return (
        f"{label:12} {what:5}  C {c:9.0f}/s  cryptography {py:9.0f}/s  C/cryptography {c / py:.2f}"
    )


def compare(alg: int, label: str, n: int) -> list[str]:
    """The raw signature and the whole RRSIG, C against `cryptography`, one key."""
    sets, when, origin = rrsets(n), sign.window(time.time()), name_to_wire(ZONE)
    key = keyfile.generate(ZONE, alg)
    c = signer.native_signer(alg, key.private, key.public)
    py = signer.python_signer(key.private)
    assert c is not None
    datas = [sign.rrsig_header(key, origin, o, 1, 60, when) + o + r[0] for o, r in sets]
    assert all(c(d) == py(d) for d in datas[:200])
    out = [line(label, "raw", rate(lambda i: c(datas[i]), n), rate(lambda i: py(datas[i]), n))]
    in_python = keyfile.Key(ZONE, key.flags, alg, key.public, key.private)
    in_python.__dict__["signer"] = py  # the cached_property, set: this Key signs in Python
    rr = [
        rate(lambda i, k=k: sign.sign_rrset(k, origin, sets[i][0], 1, 60, sets[i][1], when), n)
        for k in (key, in_python)
    ]
    return [*out, line(label, "RRSIG", *rr)]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    if signer.native_module() is None:
        sys.exit("geodns._native has no signer here: nothing to compare")
    print(f"signer in use: {signer.in_use()}; {n} signatures a round, best of {ROUNDS}")
    for alg, label in ((13, "ECDSA P-256"), (15, "Ed25519")):
        print("\n".join(compare(alg, label, n)))


if __name__ == "__main__":
    main()
