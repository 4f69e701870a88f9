"""The C of geodns's extension, by component: the one list setup.py builds from and
fuzz/run.sh builds its harnesses from (`python csrc/sources.py fuzz HARNESS`)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# component -> its C files (paths under csrc/); headers live beside them
COMPONENTS: dict[str, list[str]] = {
    "module": ["module.c"],
    "common": ["common/siphash.c", "common/arena.c", "common/blake2b.c"],
    "wire": ["wire/parse.c", "wire/opt.c"],
    "answer": [
        "answer/reply.c",
        "answer/policy.c",
        "answer/draw.c",
        "answer/rendezvous.c",
        "answer/rotate.c",
        "answer/truncate.c",
        "answer/chaos.c",
        "answer/split.c",
        "answer/signed.c",
        "answer/denial.c",
    ],
    "rrl": ["rrl/rrl.c", "rrl/slip.c", "rrl/limit.c"],
    "cookies": ["cookies/cookies.c"],
    "geo": ["geo/walk.c", "geo/merge.c", "geo/ranges.c"],
    "serve": ["serve/udp.c", "serve/observe.c", "serve/logq.c"],
    "log": ["log/ring.c", "log/names.c", "log/line.c", "log/dnstap.c", "log/writer.c"],
    "sign": ["sign/key.c", "sign/p256.c", "sign/ed25519.c", "sign/nonce.c"],
    "py": [
        "py/table.c",
        "py/heads.c",
        "py/decisions.c",
        "py/classes.c",
        "py/server.c",
        "py/abuse.c",
        "py/limiter.c",
        "py/geo.c",
        "py/geodata.c",
        "py/keys.c",
        "py/qlog.c",
        "py/sign.c",
        "py/signed.c",
    ],
}

# every global symbol a component defines starts with its prefix (tests/unit/test_csrc.py)
PREFIX: dict[str, str] = {
    "module": "PyInit_",
    "common": "common_",
    "wire": "wire_",
    "answer": "answer_",
    "rrl": "rrl_",
    "cookies": "cookies_",
    "geo": "geo_",
    "serve": "serve_",
    "log": "log_",
    "sign": "sign_",
    "py": "gp_",
}

# the extension geodns._native: every component
EXTENSION = list(COMPONENTS)

# what links OpenSSL's libcrypto (-lcrypto): the DNSSEC signer and its binding; setup.py
# leaves them out (GEODNS_NATIVE=optional) where libcrypto's headers are missing
LIBCRYPTO = ["sign", "py/sign.c"]

# fuzz harness (fuzz/fuzz_<name>.c) -> what it links: components, or single files
FUZZ: dict[str, list[str]] = {
    "cookie": ["common", "cookies"],
    "rrl": ["common", "wire", "rrl", "cookies"],
    "rrlreply": ["common", "wire", "rrl", "cookies"],
    "ranges": ["geo"],
    "mmdb": ["geo"],
    "netparse": ["common", "wire", "answer", "rrl", "cookies", "geo", "sign"],
    "pick": ["answer/draw.c", "answer/rendezvous.c", "answer/rotate.c", "common/blake2b.c"],
    "geodata": ["geo", "py/geodata.c"],
    "stress_threads": ["common", "wire", "rrl", "cookies"],
    "qlog": ["log"],
    "stress_ring": ["log/ring.c"],
    "sign": ["sign"],
}


def files(*parts: str) -> list[str]:
    """Paths (relative to the repository) of the named components and single files."""
    out: list[str] = []
    for part in parts:
        for f in COMPONENTS.get(part, [part]):
            path = f"csrc/{f}"
            if path not in out:
                out.append(path)
    return out


def headers() -> list[str]:
    return sorted(f"csrc/{p.relative_to(HERE)}" for p in HERE.rglob("*.h"))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "fuzz" and sys.argv[2] in FUZZ:
        print(" ".join(files(*FUZZ[sys.argv[2]])))
    elif len(sys.argv) == 3 and sys.argv[1] == "component" and sys.argv[2] in COMPONENTS:
        print(" ".join(files(sys.argv[2])))
    else:
        sys.exit(f"usage: {sys.argv[0]} fuzz {{{','.join(FUZZ)}}} | component NAME")
