# The README's two commands are `make run` and `make test`; both install what they need.
PYTHON ?= python3
VENV ?= .venv
# The Python that installs and runs: a venv already made here; else $(PYTHON) itself when
# pip may install into it (a virtualenv, pyenv, a container's Python); else, where the
# system's Python refuses pip (PEP 668 "externally-managed-environment": Debian 12, Ubuntu
# 23.04 and later), a venv made here.
PY := $(shell if [ -x $(VENV)/bin/python ]; then echo $(VENV)/bin/python; else $(PYTHON) -c \
  'import os, sys, sysconfig; m = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"); \
  print("$(VENV)/bin/python" if sys.prefix == sys.base_prefix and os.path.exists(m) else sys.executable)'; fi)
BIN := $(dir $(PY))

.PHONY: install run test lint bench fuzz container-test container-tools

# The C extension must build here (setup.py: GEODNS_NATIVE); `GEODNS_NATIVE=optional make`
# installs without it on a machine with no compiler.
install: export GEODNS_NATIVE ?= required
# What is installed: serving needs the package and the demo GeoIP database (`make run`);
# `make test` adds the test tools (pytest, ruff, dnspython...) by setting EXTRAS for itself.
EXTRAS ?= demo
install: $(if $(filter $(VENV)/bin/python,$(PY)),$(VENV)/bin/python)
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'

$(VENV)/bin/python:
	@echo "$(PYTHON) is managed by the system (PEP 668): installing into a virtual environment, $(VENV)/"
	@$(PYTHON) -m venv $(VENV) || { echo "cannot make a venv: install python3-venv (apt-get install python3-venv)"; exit 1; }

run: install
	$(BIN)geodns serve

# Debian packages the tests use, one list for this and CI (.ci/apt-packages: dig, kdig,
# nats-server, prometheus/promtool, kubectl, podman...); installed when one is missing and
# we are root on a Debian-like system, else left to you.
APT_PACKAGES = $(strip $(shell sed "s/#.*//" .ci/apt-packages))
test-tools:
	@command -v dpkg-query >/dev/null 2>&1 || exit 0; \
	missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	  grep -q '^install ok installed' || echo $$p; done); \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } || \
	  echo "missing Debian packages (apt-get install $$missing): their tests will skip"

# Every test (UDP answered by the native fast path where the extension built: fast_path
# auto), then again the end-to-end tests whose behaviour depends on it: those marked
# `workers` with two worker processes per server, those marked `fast_path` on the Python
# fast path (the reference, and what a machine without a compiler runs); then the image
# built and run hardened (about 2 minutes from scratch, 20 s with a cached base).
test: EXTRAS = test,demo
test: install test-tools
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q
	GEODNS_TEST_WORKERS=2 $(PY) -m pytest -q -m workers tests/e2e
	GEODNS_TEST_FAST_PATH=python $(PY) -m pytest -q -m fast_path tests/e2e
	$(MAKE) container-test

lint:
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

# The benchmark against PowerDNS, gdnsd and Knot (bench/README.md): installs the peers from
# Debian's packages (bench/install-peers.sh, as root) and runs bench/run.sh with this
# checkout's geodns; RUNS=1 SECS=2 make bench for a quick look.
bench: install
	bash bench/install-peers.sh
	PATH="$(abspath $(BIN)):$$PATH" PYTHON="$(abspath $(PY))" bash bench/run.sh

# The native C code under ASan and UBSan (fuzz/run.sh): every harness FUZZ_SECONDS each on
# random and mutated inputs (the packet parser: millions), then the tables the native
# threads share under TSan. A finding exits non-zero with its input in build/fuzz/.
FUZZ_SECONDS ?= 60
fuzz:
	PYTHON=$(PY) sh fuzz/run.sh $(FUZZ_SECONDS)

# Build localhost/geodns:latest and run it hardened with nothing mounted: dig over UDP and
# TCP, scrape, SIGTERM (deploy/container-test.sh). Needs podman (or a running docker) and,
# where the registry's python:3.11-slim cannot be pulled, root and debootstrap.
container-test: container-tools
	PYTHON="$(abspath $(PY))" bash deploy/container-test.sh

# Debian packages container-test uses; skipped when present or not root. runc: crun refuses
# hosts with hybrid (v1 + v2) cgroups, and the script falls back to it there.
container-tools:
	@command -v podman >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq podman debootstrap runc >/dev/null; } || true
