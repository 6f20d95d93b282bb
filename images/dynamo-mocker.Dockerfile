# A Dynamo runtime image for the mocker backend (no GPU): ai-dynamo 1.6.1 with its runtime and the
# tiny offline model (tokenizer + config, no weights) at /models/tiny-llm. Built for the one-machine
# cluster (scripts/cluster/dynamo-image.sh), where there is no registry and no vendor image.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=120
RUN python3 -m venv /opt/dynamo
COPY dynamo-image.txt /tmp/dynamo-image.txt
RUN /opt/dynamo/bin/pip install --no-deps -r /tmp/dynamo-image.txt \
 && /opt/dynamo/bin/python -m dynamo.frontend --version \
 && /opt/dynamo/bin/python -m dynamo.mocker --version
COPY tiny-llm /models/tiny-llm
RUN groupadd --gid 10001 dynamo && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp dynamo
ENV PATH=/opt/dynamo/bin:$PATH HOME=/tmp HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
WORKDIR /tmp
USER 10001:10001
