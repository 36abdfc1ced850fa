# syntax=docker/dockerfile:1
# The recorder as it runs in a cluster (deploy/): `timetravel record`, as uid 10001, on a
# read-only root file system. It writes only to /data (the volume: the SQLite store, the
# git checkout) and /tmp. Build from the checkout:
#
#   docker build -t registry.example.com/timetravel:0.1.0 .
#
# tests/test_image.py checks that the install below is the README's, and that the files
# copied here are enough for the package to install and run.

ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY timetravel ./timetravel
# As the README installs it, with the team store's driver (psycopg), into a venv that the
# final stage takes whole.
RUN python -m venv /opt/timetravel && /opt/timetravel/bin/pip install '.[postgres]'

# kustomize renders the repository's kustomize directories (timetravel.sources.render).
# A pinned release, checked against the sums of its checksums.txt before it is unpacked.
ARG TARGETARCH=amd64
RUN set -eu; \
    version=v5.4.3; \
    case "$TARGETARCH" in \
      amd64) sum=3669470b454d865c8184d6bce78df05e977c9aea31c30df3c669317d43bcc7a7 ;; \
      arm64) sum=1b515578b0af12c15d9856720066ce2fe66756d63785b2cbccaf2885beb2381c ;; \
      *) echo "no kustomize checksum for $TARGETARCH" >&2; exit 1 ;; \
    esac; \
    url="https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2F${version}/kustomize_${version}_linux_${TARGETARCH}.tar.gz"; \
    python -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
      "$url" /tmp/kustomize.tar.gz; \
    echo "$sum  /tmp/kustomize.tar.gz" | sha256sum -c -; \
    tar -xzf /tmp/kustomize.tar.gz -C /usr/local/bin kustomize; \
    /usr/local/bin/kustomize version

FROM ${PYTHON_IMAGE}
# git follows the repository (ssh for ssh:// remotes); ca-certificates for https remotes.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 timetravel \
    && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin timetravel \
    && mkdir /data \
    && chown 10001:10001 /data
COPY --from=build /opt/timetravel /opt/timetravel
COPY --from=build /usr/local/bin/kustomize /usr/local/bin/kustomize
# Every path a process may write is under /data or /tmp: the root stays read-only.
ENV PATH=/opt/timetravel/bin:$PATH \
    HOME=/data \
    XDG_DATA_HOME=/data \
    XDG_CONFIG_HOME=/data/config \
    XDG_CACHE_HOME=/tmp/cache \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9090
ENTRYPOINT ["timetravel"]
CMD ["record"]
