# The dynamo-ft-runner image: the runner, aiperf 0.13.0 and the DGD templates. Dynamo itself is not
# here: the graph under test runs in Dynamo's own images.
#
#   docker build -t dynamo-ft-runner:0.1.0 .
#
# BASE_IMAGE is any Debian-like image with python3 (3.11-3.13) and its venv module; both stages use it,
# so the virtualenv's interpreter is the same in both. Every Python package is pinned in
# requirements/image.txt.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=120
RUN python3 -m venv /opt/venv
COPY requirements/image.txt /tmp/image.txt
RUN /opt/venv/bin/pip install --no-deps -r /tmp/image.txt
# The source keeps the repository's layout (runner/ beside templates/) at the same path in both stages.
COPY pyproject.toml README.md /opt/ft-runner/
COPY runner /opt/ft-runner/runner
COPY templates /opt/ft-runner/templates
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation -e /opt/ft-runner \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/python -m compileall -q /opt/ft-runner/runner

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="dynamo-ft-runner" \
      org.opencontainers.image.description="Fault-tolerance test runner for NVIDIA Dynamo inference graphs" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 10001 runner \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin runner
# iptables and iproute2's `ss`: the image is also the ephemeral container that cuts a worker pod's network
# for the partition and connection-reset faults (runner/platforms/kubernetes/netcut.py); the runner
# itself never runs them (it runs as user 10001 with every capability dropped).
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables iproute2 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/ft-runner /opt/ft-runner
# The root filesystem is read-only in the chart: everything writable lives under /tmp and the results dir.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    HF_HOME=/tmp/hf \
    MPLCONFIGDIR=/tmp/matplotlib \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FT_RUNNER_TEMPLATES=/opt/ft-runner/templates
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["ft-runner"]
CMD ["--help"]
