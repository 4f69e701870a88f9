# geodns image: serves with nothing mounted (the repo's zones and the 2018 demo GeoLite2-City
# baked in, with a loud warning), as any UID, under --cap-drop=ALL --read-only.
# DNS listens on 5353 and HTTP on 8053 *inside* the container, so no capability is needed:
# publish 53 -> 5353 (see README "Container" and docs/operations.md).
#   podman build --format docker -t localhost/geodns .   # --format docker keeps the HEALTHCHECK
#   docker run --rm -p 53:5353/udp -p 53:5353/tcp -p 127.0.0.1:8053:8053 localhost/geodns
# deploy/container-test.sh builds it on a local Debian base when the registry is out of reach:
#   --build-arg BASE=localhost/geodns-base:bookworm
ARG BASE=docker.io/library/python:3.11-slim

# Build stage: the venv (with the C extension) and the demo database; nothing of it but
# /opt/geodns and the .mmdb reaches the image (no wheel directory, no pip, no compiler).
FROM ${BASE} AS build
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 GEODNS_NATIVE=required
# A compiler, libcrypto's headers (the C DNSSEC signer, csrc/sign/), and the Python headers
# where the base lacks them (python:3.11-slim has them in /usr/local/include; the
# debootstrapped Debian base needs python3-dev). Build stage only.
RUN pkgs="gcc libc6-dev libssl-dev"; \
    [ -f "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ] \
      || pkgs="$pkgs python3-dev"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends $pkgs >/dev/null && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /tmp/tools && python3 -m venv --without-pip /opt/geodns
RUN /tmp/tools/bin/pip install -q --use-pep517 --no-deps --target /tmp/demo \
      'maxminddb-geolite2>=2018.703' \
    && mkdir -p /out/GeoIP \
    && cp /tmp/demo/_maxminddb_geolite2/GeoLite2-City.mmdb /out/GeoIP/GeoLite2-City.mmdb
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY csrc ./csrc
COPY geodns ./geodns
# pycountry's locales are 22 MB of country-name translations; geodns reads only its codes.
# GEODNS_NATIVE=required: a failed compile fails the build; the grep fails it when the
# extension built but does not load.
RUN /tmp/tools/bin/pip --python /opt/geodns/bin/python install -q --compile . \
    && rm -rf /opt/geodns/lib/python3*/site-packages/pycountry/locales \
    && /opt/geodns/bin/geodns version | tee /dev/stderr | grep -q '^fast path: native' \
    && /opt/geodns/bin/geodns version | grep -q '^dnssec signer: native'

FROM ${BASE}
COPY --from=build /opt/geodns /opt/geodns
COPY --from=build /out/GeoIP/GeoLite2-City.mmdb /var/lib/GeoIP/GeoLite2-City.mmdb
COPY deploy/container-config.yaml /etc/geodns/geodns.yaml
COPY zones /etc/geodns/zones
ENV PATH=/opt/geodns/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# The extension links libcrypto.so.3 (Debian's libssl3, which both bases carry for Python's
# own ssl module): without it the extension would not load at all, so the image checks.
RUN geodns version | grep -q '^dnssec signer: native' \
    || { echo "libcrypto.so.3 missing: apt-get install libssl3" >&2; exit 1; }
# Any UID works (every file is world-readable, nothing is written); 10053 is the default.
USER 10053:0
EXPOSE 5353/udp 5353/tcp 8053/tcp
# Reads http.listen from the config, so it follows a mounted /etc/geodns/geodns.yaml.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["geodns", "healthcheck", "--ready", "--config", "/etc/geodns/geodns.yaml"]
ENTRYPOINT ["geodns"]
CMD ["serve", "--config", "/etc/geodns/geodns.yaml"]
