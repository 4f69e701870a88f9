"""The optional C extensions (DESIGN.md, "The native fast path").

Everything else is declared in pyproject.toml; setuptools needs this file only for
`ext_modules`. Each extension is `optional`: on a machine without a compiler or the Python
headers the build prints a warning and the package installs and runs the Python path.
Sources are picked by file-name prefix, so a new C file joins its module by its name alone:

  geodns._fastgeo    _fastgeo*.c  + _fastranges*.c                 compiled GeoIP (MMDB walk)
  geodns._fastabuse  _fastabuse*.c + the abuse sources below        cookies/RRL, test wrappers
  geodns._fastnet    _fastnet*.c  + ranges + abuse sources          native UDP serving
"""

import os
from glob import glob

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ABUSE = ["_fastcookie", "_fastrrl", "_fastsip"]
FLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-D_GNU_SOURCE"]


def sources(*prefixes: str) -> list[str]:
    """The module's C files, by prefix, sorted so that builds are reproducible."""
    return sorted(f for p in prefixes for f in glob(f"geodns/{p}*.c"))


def extension(name: str, *prefixes: str) -> Extension:
    return Extension(
        f"geodns.{name}",
        sources=sources(*prefixes),
        depends=sorted(glob("geodns/_fast*.h")),
        extra_compile_args=FLAGS,
        optional=True,
    )


class BuildExt(build_ext):
    """Builds in place by a new file, never by overwriting: a running geodns (or test server)
    maps the old .so, and rewriting that inode under it crashes it (SIGBUS); unlinking first
    leaves the old inode to whoever has it mapped."""

    def copy_file(self, infile, outfile, *args, **kwargs):  # type: ignore[no-untyped-def]
        target = outfile
        if os.path.isdir(outfile):
            target = os.path.join(outfile, os.path.basename(infile))
        if target.endswith(".so") and os.path.exists(target):
            os.unlink(target)
        return super().copy_file(infile, outfile, *args, **kwargs)


modules = [
    extension("_fastgeo", "_fastgeo", "_fastranges"),
    extension("_fastabuse", "_fastabuse", *ABUSE),
    extension("_fastnet", "_fastnet", "_fastranges", *ABUSE),
]
setup(ext_modules=[m for m in modules if m.sources], cmdclass={"build_ext": BuildExt})
