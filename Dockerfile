# geodns container: multi-stage, slim, non-root, binds :53 via CAP_NET_BIND_SERVICE.
#   docker build -t geodns .
#   docker run --rm -p 53:53/udp -p 53:53/tcp -p 8053:8053 \
#     -v $PWD/zones:/etc/geodns/zones:ro -v /var/lib/GeoIP:/var/lib/GeoIP:ro geodns
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY geodns ./geodns
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10053 --home /nonexistent --shell /usr/sbin/nologin geodns
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && setcap cap_net_bind_service=+ep "$(readlink -f "$(command -v python3)")"
COPY deploy/container-config.yaml /etc/geodns/geodns.yaml
COPY zones /etc/geodns/zones
USER geodns
EXPOSE 53/udp 53/tcp 8053
VOLUME ["/etc/geodns/zones", "/var/lib/GeoIP"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD python3 -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8053/healthz', timeout=2).status != 200)"
ENTRYPOINT ["geodns"]
CMD ["serve", "--config", "/etc/geodns/geodns.yaml"]
