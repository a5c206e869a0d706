# One image for every Quartz agent: the CLI with its native (C++) core. The k3s manifests
# give each container its arguments (`trade serve ...`, `decide`, ...).
#   docker build -t quartz:0.1.0 .
# Reproducible: every Python package comes from requirements.lock (pinned, hash-checked;
# `scripts/lock` regenerates it), and Docker's built-in Dockerfile frontend suffices (BuildKit,
# Docker 23+), so the build needs no registry but the base image's and the package indexes.
#
# The base image should be pinned by digest (python:3.12-slim-bookworm@sha256:<digest>).
# UNPINNED: the digest could not be resolved where this was written (no registry access).
# Resolve it on a machine that reaches Docker Hub and write it here, e.g.
#   docker buildx imagetools inspect python:3.12-slim-bookworm --format '{{json .Manifest.Digest}}'
# tests/test_image.py flags the image while this tag is unpinned.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# --- web: the dashboard's front end, bundled (nothing from a CDN at run time) ------------
FROM node:20-bookworm-slim AS web
WORKDIR /web/app
COPY src/quartz_cli/web/app/package.json src/quartz_cli/web/app/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY src/quartz_cli/web/app/ ./
RUN npm run build

# --- build: the wheel, with the C++ core compiled by scikit-build-core ---------------------
FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ cmake make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The locked wheels first (their layer is reused until the lock changes), then Quartz's own
# wheel, built offline with the locked build backend; the runtime installs from /wheels only.
COPY requirements.lock ./
RUN python -m pip wheel --no-cache-dir --require-hashes --only-binary=:all: \
      --wheel-dir /wheels -r requirements.lock \
 && python -m pip install --no-cache-dir --no-index --find-links=/wheels \
      scikit-build-core pybind11
COPY pyproject.toml README.md ./
COPY cpp/ cpp/
COPY src/ src/
COPY --from=web /web/dist src/quartz_cli/web/dist
RUN python -m pip wheel --no-cache-dir --no-index --no-build-isolation --no-deps \
      --wheel-dir /wheels .

# --- runtime: no compiler, no sources, a non-root user ------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
# tini as PID 1 forwards SIGTERM, so a job or server stopped by Kubernetes ends cleanly.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 quartz \
 && useradd --system --uid 10001 --gid quartz --home-dir /var/lib/quartz --no-create-home \
      --shell /usr/sbin/nologin quartz \
 && install -d -o quartz -g quartz -m 0700 /var/lib/quartz
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-cache-dir --no-index --find-links=/wheels quartz-cli \
 && python -c "import quartz_cli._native" \
 && quartz --version
# The root filesystem is read-only in the cluster: state goes to QUARTZ_HOME (a volume),
# scratch to /tmp (an emptyDir); byte code was compiled at install time.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    QUARTZ_HOME=/var/lib/quartz \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/cache
USER 10001:10001
WORKDIR /var/lib/quartz
EXPOSE 8005 8080
ENTRYPOINT ["/usr/bin/tini", "--", "quartz"]
CMD ["--help"]
