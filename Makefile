# The README's two commands are `make run` and `make test`; both install what they need.
PYTHON ?= python3

.PHONY: install run test lint bench

install:
	$(PYTHON) -m pip install -q -e '.[test,demo]'

run: install
	geodns serve

# Debian tools the tests use (dig, nats-server for the fleet tests); skipped when already
# present or not root.
test-tools:
	@{ command -v dig && { command -v nats-server || test -x /usr/sbin/nats-server; }; } \
	  >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bind9-dnsutils nats-server \
	  >/dev/null; } || true

# Every test, then the end-to-end tests again with two worker processes per server.
test: install test-tools
	ruff check .
	ruff format --check .
	$(PYTHON) -m pytest -q
	GEODNS_TEST_WORKERS=2 $(PYTHON) -m pytest -q tests/e2e

lint:
	ruff check . && ruff format --check .

bench:
	bash bench/run.sh
