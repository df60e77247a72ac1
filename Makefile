# One entry point: `make demo` (the main job on the lab) and `make test` (everything).
# Both set themselves up from nothing with python3 and the package registries.

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV)/bin)
STAMP  := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)
LINK   := .build/collections/ansible_collections/meshdr/alicloud
GALAXY := .build/galaxy/.installed

.PHONY: venv test lint sanity unit lab-tests integration molecule site-tests demo lab-up lab-down clean benchmarks bench-deps monitoring-deps

venv: $(STAMP) $(LINK) $(GALAXY)

# The lab's Kubernetes schemas go beside site-packages, not into it: the kubernetes client imports
# kubernetes_validate whenever it is importable, which would slow every module process the tests and
# benchmarks measure (drlab.kube.schemas.kubernetes_validate_dir). A venv made before this is cleaned of it.
$(STAMP): requirements.txt requirements-dev.txt lab/pyproject.toml lab/requirements-schemas.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check -e lab
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --upgrade \
	  --target $(VENV)/share/drlab/kubernetes-validate -r lab/requirements-schemas.txt
	if $(BIN)/python -m pip show -q kubernetes-validate 2>/dev/null; then \
	  $(BIN)/python -m pip uninstall -q -y kubernetes-validate; fi
	touch $(STAMP)

# The Galaxy collections: the collection's dependencies (requirements.yml) and the tests' (awx.awx,
# tests/requirements.yml), into .build/galaxy (ansible.cfg's collections_path). Where Galaxy cannot
# be reached, the same collections come from the `ansible` package (requirements-dev.txt).
$(GALAXY): requirements.yml tests/requirements.yml $(STAMP)
	mkdir -p $(dir $(GALAXY))
	for r in requirements.yml tests/requirements.yml; do \
	  $(BIN)/ansible-galaxy collection install -r $$r -p .build/galaxy || \
	  echo "make: Galaxy unreachable for $$r; using the ansible package's copies"; \
	done
	touch $(GALAXY)

# Make `meshdr.alicloud.*` resolve to this checkout (ansible.cfg points here).
$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn $(abspath .) $(LINK)

lint: venv
	$(BIN)/ruff check plugins lab tests benchmarks

sanity: venv
	bash tests/sanity/run.sh

# The lab's real Prometheus and Alertmanager, and promtool for the alert rule tests (Debian
# packages; root installs them with apt-get; their services are not started, drlab runs its own).
monitoring-deps:
	@command -v promtool >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    prometheus prometheus-alertmanager; }

unit: venv monitoring-deps
	$(BIN)/python -m pytest -q tests/unit

lab-tests: venv monitoring-deps
	$(BIN)/python -m pytest -q tests/lab

integration: venv
	bash tests/integration/run.sh

# Molecule's default scenario starts its own lab (.build/molecule-lab, free ports), so it never
# touches the demo's lab.
molecule: venv
	$(BIN)/molecule test -s default

# site.yml end to end on labs of their own: a third region under injected API faults, and a
# re-run after the lab was killed mid-converge (several minutes).
site-tests: venv
	MESHDR_SITE_TESTS=1 $(BIN)/python -m pytest -q -x -p no:cacheprovider tests/lab/site

# Two streams: the lab tests, which mostly wait on lab processes (about one core's worth of work), beside
# every other suite in order. The lab tests' output goes to a file and is printed when both streams end,
# so the two never mix; the exit status is the worse of the two.
TEST_LOGS := .build/test-logs
test: venv monitoring-deps
	@mkdir -p $(TEST_LOGS)
	@echo "make test: lab-tests run beside the other suites; their output is in $(TEST_LOGS)/lab-tests.log, printed at the end"
	@$(MAKE) --no-print-directory lab-tests >$(TEST_LOGS)/lab-tests.log 2>&1 & lab=$$!; \
	  $(MAKE) --no-print-directory lint sanity unit integration molecule site-tests release-check; rest=$$?; \
	  wait $$lab; labs=$$?; \
	  echo "== make lab-tests (exit $$labs), from $(TEST_LOGS)/lab-tests.log"; cat $(TEST_LOGS)/lab-tests.log; \
	  if [ $$rest -ne 0 ] || [ $$labs -ne 0 ]; then \
	    echo "make test: FAILED (other suites exit $$rest, lab-tests exit $$labs)"; exit 1; fi; \
	  echo "make test: all suites passed"

# Release artefacts: Galaxy build + offline install + ansible-doc, EE build context, AWX config,
# ansible-lint (production), antsibull-docs/changelog, RAM policy vs code, ansible-runner on the lab.
.PHONY: release-check
release-check: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout 600 tests/release

# The main job on the lab: start it (short GTM intervals, lab only), run site.yml with the lab
# inventory, end with a summary (domain, regions, gateway addresses, how to dig and curl).
demo: venv monitoring-deps
	$(BIN)/drlab up --short-intervals
	eval "$$($(BIN)/drlab env)" && $(BIN)/ansible-playbook site.yml
	@echo
	@echo "make demo: done. Re-run it: 0 changed. Undo: ansible-playbook playbooks/teardown.yml; stop the lab: drlab down"

# The load engine benchmark compares against hey (Debian package); root installs it with apt-get.
bench-deps:
	command -v hey >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq hey; }

benchmarks: venv bench-deps
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lab-up: venv
	$(BIN)/drlab up

lab-down: venv
	$(BIN)/drlab down

clean:
	-$(BIN)/drlab down 2>/dev/null
	rm -rf $(VENV) .build .lab tests/output
