"""GEODNS_NATIVE, by real builds of a copy of the tree: `required` fails without a compiler,
`optional` warns once and installs without the .so, and a wheel carries the .so, no C."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TREE = ["pyproject.toml", "setup.py", "README.md", "MANIFEST.in", "geodns", "csrc"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """What a build needs, copied: a build writes build/ and *.egg-info beside setup.py."""
    src = tmp_path / "src"
    src.mkdir()
    skip = shutil.ignore_patterns("*.so", "__pycache__", "*.egg-info")
    for name in TREE:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=skip)
        elif path.exists():
            shutil.copy2(path, src / name)
    return src


def build_ext(tree: Path, mode: str, **env: str) -> subprocess.CompletedProcess[str]:
    out = tree / "out"
    return subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-lib", str(out)],
        cwd=tree,
        env={**os.environ, "GEODNS_NATIVE": mode, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def built(tree: Path) -> list[str]:
    return sorted(p.name for p in (tree / "out").rglob("*.so")) if (tree / "out").exists() else []


def test_required_without_a_compiler_fails_the_build(tree: Path) -> None:
    done = build_ext(tree, "required", CC="/nonexistent/cc")
    assert done.returncode != 0, done.stdout + done.stderr
    assert "/nonexistent/cc" in done.stdout + done.stderr
    assert built(tree) == []


def test_optional_without_a_compiler_warns_once_and_succeeds(tree: Path) -> None:
    done = build_ext(tree, "optional", CC="/nonexistent/cc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.count("WARNING: geodns's C extension was not built") == 1, done.stderr
    assert built(tree) == []


def test_off_builds_nothing_even_with_a_compiler(tree: Path) -> None:
    done = build_ext(tree, "off")
    assert done.returncode == 0, done.stdout + done.stderr
    assert built(tree) == []


def test_a_typo_in_the_mode_is_an_error(tree: Path) -> None:
    done = build_ext(tree, "requried")
    assert done.returncode != 0
    assert "GEODNS_NATIVE='requried'" in done.stderr


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler")
def test_the_wheel_carries_the_so_and_no_c_sources(tree: Path) -> None:
    """Built as `python -m build` does: an sdist first (it must carry csrc/ and its lists),
    then the wheel from that sdist."""
    dist = tree / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), "."],
        cwd=tree,
        env={**os.environ, "GEODNS_NATIVE": "required"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert [n for n in names if n.endswith(".so")], names
    assert [n for n in names if n.endswith((".c", ".h"))] == []


@pytest.fixture
def no_libcrypto(tmp_path: Path) -> dict[str, str]:
    """libcrypto's headers hidden: an openssl/evp.h that stops the compiler, found first."""
    inc = tmp_path / "hidden" / "openssl"
    inc.mkdir(parents=True)
    (inc / "evp.h").write_text('#error "a test hides the OpenSSL headers"\n')
    return {"C_INCLUDE_PATH": str(inc.parent)}


def test_required_without_libcrypto_fails_naming_the_package(tree: Path, no_libcrypto) -> None:
    done = build_ext(tree, "required", **no_libcrypto)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "needs OpenSSL's libcrypto" in done.stderr and "libssl-dev" in done.stderr
    assert built(tree) == []


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler")
def test_optional_without_libcrypto_builds_the_engine_without_the_signer(
    tree: Path, no_libcrypto
) -> None:
    """The fast path is worth more than the signer, whose fallback signs the same bytes."""
    done = build_ext(tree, "optional", **no_libcrypto)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.count("WARNING: geodns's C extension was built without DNSSEC") == 1
    assert "was not built" not in done.stderr
    (so,) = (tree / "out").rglob("*.so")
    probe = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('geodns._native', sys.argv[1])\n"
        "m = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(m)\n"
        "print(hasattr(m, 'Table'), hasattr(m, 'SigningKey'))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe, str(so)], capture_output=True, text=True)
    assert run.stdout.split() == ["True", "False"], run.stderr
