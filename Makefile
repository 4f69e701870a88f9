# The README's two commands are `make run` and `make test`; both install what they need.
PYTHON ?= python3

.PHONY: install run test lint bench container-test container-tools

install:
	$(PYTHON) -m pip install -q -e '.[test,demo]'

run: install
	geodns serve

# Debian tools the tests use (dig, kdig for the cookie test, nats-server for the fleet tests,
# prometheus and promtool for the alert and dashboard test); skipped when already present or
# not root.
test-tools:
	@{ command -v dig && command -v kdig && command -v prometheus && command -v promtool && \
	   { command -v nats-server || test -x /usr/sbin/nats-server; }; } \
	  >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bind9-dnsutils knot-dnsutils \
	  nats-server prometheus >/dev/null; } || true

# Every test, then the end-to-end tests again with two worker processes per server, then
# the image built and run hardened (about 2 minutes from scratch, 20 s with a cached base).
test: install test-tools
	ruff check .
	ruff format --check .
	$(PYTHON) -m pytest -q
	GEODNS_TEST_WORKERS=2 $(PYTHON) -m pytest -q tests/e2e
	$(MAKE) container-test

lint:
	ruff check . && ruff format --check .

bench:
	bash bench/run.sh

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
