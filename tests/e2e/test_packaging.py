"""`python -m build` from the checkout: an sdist holding the C sources, and a wheel built
from that sdist that, installed alone (`pip install ./dist/geodns-*.whl`, as the docs and
the systemd unit say: geodns is on no package index), runs `geodns version` on the native
fast path. tests/unit/test_native_build.py checks the build modes and the wheel's files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.servers import REPO

pytest.importorskip("build", reason="the `build` package (pip install build)")
EXTENSIONS = ("_native",)  # geodns._native, from csrc/


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("src") / "geodns"
    # a copy of the tracked files: the build must not depend on what the checkout has built
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (REPO / name).is_file() and not name.endswith(".so"):
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_sdist_holds_the_sources(dist: Path) -> None:
    (sdist,) = dist.glob("geodns-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {Path(*Path(n).parts[1:]).as_posix() for n in tar.getnames()}
    assert {"pyproject.toml", "setup.py", "README.md", "geodns/cli.py"} <= names
    c_sources = [n for n in names if n.startswith("csrc/")]
    assert any(n.endswith(".c") for n in c_sources) and any(n.endswith(".h") for n in c_sources)
    assert not any(n.endswith(".so") for n in names)


def test_wheel_carries_the_extensions_and_runs_native(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("geodns-*.whl")
    assert "-cp3" in wheel.name and "linux" in wheel.name  # a platform wheel, not py3-none-any
    with zipfile.ZipFile(wheel) as zf:
        built = [n for n in zf.namelist() if n.endswith(".so")]
    for ext in EXTENSIONS:
        assert any(Path(n).name.startswith(ext + ".") for n in built), (ext, built)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), wheel],
        check=True,
        timeout=300,
    )
    # the dependencies from this environment, geodns itself only from the wheel
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = "import geodns, sys; print(geodns.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr
    version = subprocess.run(
        [sys.executable, "-m", "geodns", "version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert version.returncode == 0 and "fast path: native" in version.stdout, version
