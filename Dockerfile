# zproxy: slim Python, Debian's redis-server for the embedded default, non-root.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /home/zproxy --uid 10001 zproxy \
 && install -d -o zproxy -g zproxy -m 0700 /var/lib/zproxy

WORKDIR /opt/zproxy
COPY pyproject.toml README.md ./
COPY zproxy ./zproxy
COPY config ./config
RUN pip install --no-cache-dir . \
 && python -c "import zproxy.app"

USER zproxy
ENV ZPROXY_CONFIG=/opt/zproxy/config/zproxy.yaml \
    ZPROXY_DATA_DIR=/var/lib/zproxy \
    ZPROXY_LISTEN=0.0.0.0:8080 \
    ZPROXY_ADMIN_LISTEN=0.0.0.0:9090 \
    ZPROXY_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/zproxy"]
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=2).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["zproxy"]
CMD ["serve"]
