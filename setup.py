"""The C extension geodns._native: the native fast path (dns.fast_path, docs/reference.md).

Everything else is declared in pyproject.toml; setuptools needs this file only for
`ext_modules`. GEODNS_NATIVE says what a failed compile means:

  required  the build fails (CI, the image: a build without the C must not pass as one)
  optional  the default for a user's `pip install`: one warning, the package installs without
            the .so and answers on the Python path
  off       no extension is built

Sources: the per-component lists of csrc/sources.py (fuzz/run.sh reads them too).
"""

import os
import sys

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
    )


class BuildExt(build_ext):
    """Builds in place by a new file, never by overwriting: a running geodns (or test server)
    maps the old .so, and rewriting that inode under it crashes it (SIGBUS); unlinking first
    leaves the old inode to whoever has it mapped. Under GEODNS_NATIVE=optional a failed
    compile is one warning at the end, not an error."""

    def run(self) -> None:
        self.failed: list[str] = []
        super().run()
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
