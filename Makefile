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
install: $(if $(filter $(VENV)/bin/python,$(PY)),$(VENV)/bin/python)
	$(PY) -m pip install -q -e '.[test,demo]'

$(VENV)/bin/python:
	@echo "$(PYTHON) is managed by the system (PEP 668): installing into a virtual environment, $(VENV)/"
	@$(PYTHON) -m venv $(VENV) || { echo "cannot make a venv: install python3-venv (apt-get install python3-venv)"; exit 1; }

run: install
	$(BIN)geodns serve

# Debian tools the tests use (dig, kdig for the cookie test, nats-server for the fleet tests,
# prometheus and promtool for the alert and dashboard test, named-checkzone for the BIND
# importer's test, clang-format for the C style test); skipped when already present or not root.
test-tools:
	@{ command -v dig && command -v kdig && command -v prometheus && command -v promtool && \
	   command -v named-checkzone && command -v clang-format && \
	   { command -v nats-server || test -x /usr/sbin/nats-server; }; } \
	  >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bind9-dnsutils knot-dnsutils \
	  bind9-utils nats-server prometheus clang-format >/dev/null; } || true

# Every test (UDP answered by the native fast path where the extension built: fast_path
# auto), then the end-to-end tests again with two worker processes per server, and again on
# the Python fast path (the reference, and what a machine without a compiler runs), then
# the image built and run hardened (about 2 minutes from scratch, 20 s with a cached base).
test: install test-tools
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q
	GEODNS_TEST_WORKERS=2 $(PY) -m pytest -q tests/e2e
	GEODNS_TEST_FAST_PATH=python $(PY) -m pytest -q tests/e2e
	$(MAKE) container-test

lint:
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

bench:
	bash bench/run.sh

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
	bash deploy/container-test.sh

# Debian packages container-test uses; skipped when present or not root. runc: crun refuses
# hosts with hybrid (v1 + v2) cgroups, and the script falls back to it there.
container-tools:
	@command -v podman >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq podman debootstrap runc >/dev/null; } || true
