"""The native C code under AddressSanitizer and UndefinedBehaviorSanitizer (fuzz/run.sh):
every harness whose sources are in the tree, briefly, with 0 findings; and the driver does
catch a read past an input's end (else a green run would prove nothing)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
FUZZ = ROOT / "fuzz"
SECONDS_EACH = 2  # 10 harnesses: about 20 s, plus building them
# fuzz/run.sh's harnesses
HARNESSES = ["cookie", "rrl", "rrlreply", "ranges", "mmdb", "netparse", "geodata", "qlog"]
HARNESSES += ["pick", "sign"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1"]


def sanitizers_work(tmp: Path) -> str | None:
    """None when gcc builds and runs an ASan/UBSan program here, else why not."""
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        return f"no C compiler ({cc})"
    src = tmp / "probe.c"
    src.write_text("int main(void) { return 0; }\n")
    built = subprocess.run(
        [cc, *SANITIZE, "-o", str(tmp / "probe"), str(src)], capture_output=True, text=True
    )
    if built.returncode != 0:
        return f"no ASan/UBSan runtime: {built.stderr.strip()[:200]}"
    if subprocess.run([str(tmp / "probe")], capture_output=True).returncode != 0:
        return "an ASan program does not run here (ptrace or personality limits?)"
    return None


@pytest.fixture
def out(tmp_path: Path) -> Path:
    why = sanitizers_work(tmp_path)
    if why is not None:
        pytest.skip(why)
    return tmp_path


def test_every_native_harness_runs_clean_under_asan_and_ubsan(out: Path) -> None:
    # the harnesses build against this interpreter's headers and libpython (fuzz/run.sh)
    env = dict(os.environ, FUZZ_OUT=str(out / "fuzz"), PYTHON=sys.executable)
    run = subprocess.run(
        [str(FUZZ / "run.sh"), str(SECONDS_EACH)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SECONDS_EACH * 5 + 120,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    done = dict(
        re.findall(r"fuzz: fuzz_(\w+): \d+ seeds, (\d+) runs in [\d.]+ s .*, 0 findings", report)
    )
    assert {"cookie", "rrl"} <= done.keys(), report  # ours are always in the tree
    for name, runs in done.items():
        # ran for real (geodata, with its interpreter, ~3,000 on a quiet machine; seen at 770
        # on a loaded one): a floor that says "it ran", not a speed
        assert int(runs) >= 100, (name, report)
    skipped = set(re.findall(r"fuzz: (\w+): skipped", report))
    if "stress_threads" in skipped:  # no ThreadSanitizer here
        skipped.remove("stress_threads")
    else:  # one account at a frozen clock answers its rate in all, whatever the threads
        assert re.search(r"stress: 4 threads x \d+: 1000 answered of one account", report), report
    assert set(done) | skipped == set(HARNESSES), report


def test_the_driver_catches_a_read_past_the_input_and_keeps_it(out: Path) -> None:
    harness = out / "fuzz_overread.c"
    harness.write_text(
        '#include "fuzz.h"\n'
        "volatile uint8_t sink;\n"
        "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {\n"
        "    if (n >= 3 && d[0] == 'G' && d[1] == 'D') sink = d[n];  /* one past the end */\n"
        "    return 0;\n"
        "}\n"
    )
    seed = out / "seed.bin"
    seed.write_bytes(b"GD\x00\x00")
    exe = out / "fuzz_overread"
    cc = os.environ.get("CC", "gcc")
    cmd = [cc, *SANITIZE, f"-I{FUZZ}", "-o", str(exe), str(FUZZ / "driver.c"), str(harness)]
    subprocess.run(cmd, check=True)
    run = subprocess.run(
        [str(exe), "-seconds", "10", "-seed", "1", str(seed)],
        env=dict(os.environ, FUZZ_OUT=str(out)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "heap-buffer-overflow" in run.stderr, run.stderr[-2000:]
    saved = list(out.glob("crash-fuzz_overread-*.bin"))
    assert len(saved) == 1 and saved[0].read_bytes()[:2] == b"GD"
