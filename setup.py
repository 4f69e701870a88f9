"""The C extension geodns._native: the native fast path (dns.fast_path, docs/reference.md).

Everything else is declared in pyproject.toml; setuptools needs this file only for
`ext_modules`. GEODNS_NATIVE says what a failed compile means:

  required  the build fails (CI, the image: a build without the C must not pass as one)
  optional  the default for a user's `pip install`: one warning, the package installs without
            the .so and answers on the Python path
  off       no extension is built

Sources: the per-component lists of csrc/sources.py (fuzz/run.sh reads them too).

DNSSEC signing in C (csrc/sign/) links OpenSSL's libcrypto (Debian: libssl-dev to build,
libssl3 to run). Where its headers or library are missing, `required` fails the build and
`optional` builds the extension WITHOUT the signer, with one warning: the native fast path
is worth far more than the signer, whose fallback (the `cryptography` package) signs the
same bytes (docs/dnssec.md).
"""

import os
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc"))
import sources  # csrc/sources.py: not a package, never in the wheel

# hidden: only PyInit__native leaves the .so (PyMODINIT_FUNC exports it)
FLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-D_GNU_SOURCE"]
FLAGS += ["-fvisibility=hidden"]
MODES = ("required", "optional", "off")


def native_mode() -> str:
    """GEODNS_NATIVE, checked: a typo must not quietly become `optional`."""
    mode = os.environ.get("GEODNS_NATIVE", "optional").strip().lower() or "optional"
    if mode not in MODES:
        sys.exit(f"GEODNS_NATIVE={mode!r}: want one of {', '.join(MODES)}")
    return mode


def extension(name: str, *parts: str) -> Extension:
    return Extension(
        f"geodns.{name}",
        sources=sources.files(*parts),
        depends=sources.headers(),
        include_dirs=["csrc"],
        extra_compile_args=FLAGS,
        define_macros=[("GEODNS_SIGN", "1")],
        libraries=["crypto"],
    )


PROBE = "#include <openssl/evp.h>\nvoid probe(void) { EVP_MD_CTX_free(EVP_MD_CTX_new()); }\n"


def libcrypto_missing(compiler) -> str | None:  # type: ignore[no-untyped-def]
    """None when code using libcrypto compiles and links here as the extension will (a
    shared object, the same flags), else why not (the compiler's words are above it)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as out:
            out.write(PROBE)
        try:
            objs = compiler.compile([src], output_dir=tmp)
        except Exception:  # CompileError
            return "code including <openssl/evp.h> does not compile"
        try:
            out = os.path.join(tmp, "probe.so")
            compiler.link_shared_object(objs, out, libraries=["crypto"])
        except Exception:  # LinkError
            return "a shared object does not link with -lcrypto"
    return None


def without_signing(ext: Extension) -> None:
    """The extension minus csrc/sign/ and its binding (csrc/sources.py LIBCRYPTO)."""
    drop = set(sources.files(*sources.LIBCRYPTO))
    ext.sources = [f for f in ext.sources if f not in drop]
    ext.define_macros = [m for m in ext.define_macros if m[0] != "GEODNS_SIGN"]
    ext.libraries = [lib for lib in ext.libraries if lib != "crypto"]


class BuildExt(build_ext):
    """Builds in place by a new file, never by overwriting: a running geodns (or test server)
    maps the old .so, and rewriting that inode under it crashes it (SIGBUS); unlinking first
    leaves the old inode to whoever has it mapped. Under GEODNS_NATIVE=optional a failed
    compile is one warning at the end, not an error."""

    def run(self) -> None:
        self.failed: list[str] = []
        self.unsigned = ""
        super().run()
        if self.unsigned and not self.failed:
            bar = "=" * 78
            print(
                f"\n{bar}\nWARNING: geodns's C extension was built without DNSSEC signing:"
                f"\nOpenSSL's libcrypto is missing ({self.unsigned})."
                "\ngeodns will sign with the `cryptography` package instead (the same bytes)."
                "\nInstall libcrypto's headers (Debian: apt-get install libssl-dev) and"
                "\nreinstall; GEODNS_NATIVE=required makes this an error.\n" + bar,
                file=sys.stderr,
            )
        if self.failed:
            bar = "=" * 78
            print(
                f"\n{bar}\nWARNING: geodns's C extension was not built ({', '.join(self.failed)})."
                "\ngeodns will answer on the slower Python path. Install a C compiler and the"
                "\nPython headers (Debian: apt-get install gcc libc6-dev python3-dev) and"
                "\nreinstall; GEODNS_NATIVE=required makes this an error.\n" + bar,
                file=sys.stderr,
            )

    def build_extension(self, ext: Extension) -> None:
        missing = libcrypto_missing(self.compiler) if "crypto" in ext.libraries else None
        if missing and native_mode() == "required":
            sys.exit(
                f"GEODNS_NATIVE=required: DNSSEC signing in C needs OpenSSL's libcrypto: {missing}"
                "\n(Debian: apt-get install libssl-dev)"
            )
        if missing:
            self.unsigned = missing
            without_signing(ext)
        if native_mode() == "required":
            return super().build_extension(ext)
        try:
            super().build_extension(ext)
        except Exception as exc:  # any compiler/linker failure: CompileError, LinkError, OSError
            self.failed.append(f"{ext.name}: {exc}".splitlines()[0])

    def copy_file(self, infile, outfile, *args, **kwargs):  # type: ignore[no-untyped-def]
        target = outfile
        if os.path.isdir(outfile):
            target = os.path.join(outfile, os.path.basename(infile))
        if target.endswith(".so") and os.path.exists(target):
            os.unlink(target)
        return super().copy_file(infile, outfile, *args, **kwargs)


modules = [extension("_native", *sources.EXTENSION)]
if native_mode() == "off":
    modules = []
setup(ext_modules=modules, cmdclass={"build_ext": BuildExt})
