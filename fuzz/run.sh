#!/bin/sh
# Build every native fuzz harness with AddressSanitizer and UndefinedBehaviorSanitizer and
# run each for SECONDS (default 60) on random and mutated inputs from fuzz/seeds.py.
# A harness whose sources are not in the tree yet is skipped (and says so); one that fails
# to build, or any sanitizer report or failed check, fails the run (exit 1), with the
# input saved in $FUZZ_OUT (default build/fuzz). Then, run without harness names, the RRL and
# cookie tables NET's threads share are hammered from 4 threads under ThreadSanitizer.
#
#   fuzz/run.sh [SECONDS] [HARNESS...]      e.g. fuzz/run.sh 5 cookie netparse
# Environment: CC (gcc), PYTHON (the interpreter the tests run with: its headers and libpython
# build the harnesses; default .venv/bin/python, never a bare python3 that may be another
# Python), FUZZ_OUT, FUZZ_SEED (a fixed seed: reproducible).
set -u
cd "$(dirname "$0")/.." || exit 2
SECONDS_EACH=${1:-60}
[ $# -gt 0 ] && shift
CC=${CC:-gcc}
if [ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; fi
[ -n "${PYTHON:-}" ] || { echo "fuzz: set PYTHON to the interpreter the tests run with"; exit 2; }
OUT=${FUZZ_OUT:-build/fuzz}
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
export FUZZ_OUT="$OUT"
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
FLAGS="-std=c11 -g -O1 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE
 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
PYINC=$($PYTHON -c "import sysconfig; print(sysconfig.get_paths()['include'])")

# harness: the csrc/ sources it needs (the harness is fuzz/fuzz_<name>.c), from the
# per-component lists setup.py builds the extension from
sources() {
    $PYTHON csrc/sources.py fuzz "$1" 2>/dev/null
}
# what a harness links beyond its sources: the decoder builds Python objects, so its
# harness embeds the interpreter
EMBED=$($PYTHON -c "import sysconfig as s; v = s.get_config_var
print(f\"-L{v('LIBDIR')} -L{v('LIBPL')} -lpython{v('LDVERSION')} {v('LIBS')} {v('SYSLIBS')} -Wl,-rpath,{v('LIBDIR')}\")")
PYHOME=$($PYTHON -c "import sys; print(sys.base_prefix)")
libs() {
    case $1 in
    geodata) echo "$EMBED" ;;
    sign | netparse) echo "-lcrypto" ;;
    esac
}
# how a harness runs: the embedded interpreter's allocations through malloc (ASan sees
# them), and no leak report for what the interpreter keeps until exit
run_env() {
    case $1 in
    geodata) echo "PYTHONHOME=$PYHOME PYTHONMALLOC=malloc ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0" ;;
    esac
}
HARNESSES=${*:-cookie rrl rrlreply ranges mmdb netparse geodata qlog pick sign}

$PYTHON fuzz/seeds.py "$OUT/seeds" || { echo "fuzz: seeds.py failed"; exit 1; }
status=0
for h in $HARNESSES; do
    src=$(sources "$h") || { echo "fuzz: no harness named $h"; status=1; continue; }
    files=""
    missing=""
    for s in $src; do
        if [ -f "$s" ]; then files="$files $s"; else missing="$missing $s"; fi
    done
    if [ -n "$missing" ]; then
        echo "fuzz: $h: skipped, not in the tree yet:$missing"
        continue
    fi
    # shellcheck disable=SC2086
    if ! $CC $FLAGS -Icsrc -I"$PYINC" -o "$OUT/fuzz_$h" fuzz/driver.c "fuzz/fuzz_$h.c" $files \
        $(libs "$h") -lm 2>"$OUT/build-$h.log"; then
        echo "fuzz: $h: BUILD FAILED"; cat "$OUT/build-$h.log"; status=1; continue
    fi
    if [ -s "$OUT/build-$h.log" ]; then
        echo "fuzz: $h: warnings:"; cat "$OUT/build-$h.log"
    fi
    seed=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
    # shellcheck disable=SC2046
    if ! env $(run_env "$h") "$OUT/fuzz_$h" -seconds "$SECONDS_EACH" -seed "$seed" "$OUT/seeds/$h"; then
        echo "fuzz: $h: FINDING (seed $seed; input saved in $OUT)"; status=1
    fi
done
# The tables NET's threads share, under ThreadSanitizer (unless only harnesses were named).
if [ $# -eq 0 ]; then
    # shellcheck disable=SC2046
    if $CC -std=c11 -g -O1 -Wall -Wextra -D_GNU_SOURCE -fsanitize=thread -Icsrc -I"$PYINC" \
        -o "$OUT/stress_threads" fuzz/stress_threads.c $(sources stress_threads) \
        -lpthread 2>"$OUT/build-stress.log"; then
        TSAN_OPTIONS="halt_on_error=1:${TSAN_OPTIONS:-}" "$OUT/stress_threads" 4 ||
            { echo "fuzz: stress_threads: FAILED"; status=1; }
    else
        echo "fuzz: stress_threads: skipped, no ThreadSanitizer:"; cat "$OUT/build-stress.log"
    fi
    # the query log's ring: one answering thread, one writer (csrc/log/ring.c)
    # shellcheck disable=SC2046
    if $CC -std=c11 -g -O1 -Wall -Wextra -D_GNU_SOURCE -fsanitize=thread -Icsrc \
        -o "$OUT/stress_ring" fuzz/stress_ring.c $(sources stress_ring) -lpthread \
        2>"$OUT/build-stress-ring.log"; then
        TSAN_OPTIONS="halt_on_error=1:${TSAN_OPTIONS:-}" "$OUT/stress_ring" ||
            { echo "fuzz: stress_ring: FAILED"; status=1; }
    else
        echo "fuzz: stress_ring: skipped, no ThreadSanitizer:"; cat "$OUT/build-stress-ring.log"
    fi
fi
exit $status
