# whiskey — the two commands on a fresh machine:
#   make bench      set up once, bring the lab up, run the benchmark (WORKERS=6 by default)
#   make test       set up once, then lint and run every test (pytest, molecule) — what CI runs
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
WORKERS ?= 6
BENCH_ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup lock venv lab lab-down bench report lint syntax test test-fast clean-lab

setup:                      ## Docker engine, venv, Elasticsearch archive, base images (idempotent)
	bash scripts/setup.sh

lock:                       ## re-lock every pip install after a requirements*.in changed (hashes of every file)
	bash scripts/lock.sh

lab: setup                  ## bring the local lab up (server + client containers)
	ansible-playbook playbooks/lab.yml

lab-down:                   ## remove the lab's containers and network
	ansible-playbook playbooks/lab-down.yml

bench: setup                ## the benchmark on the lab: ansible-playbook bench.yml -e workers=$(WORKERS)
	ansible-playbook bench.yml -e workers=$(WORKERS) $(BENCH_ARGS)

lint:                       ## yamllint, ansible-lint (production profile), ruff
	yamllint -s .
	ansible-lint --offline -q
	ruff check .
	ruff format --check .

syntax:                     ## ansible-playbook --syntax-check of every playbook
	for p in bench.yml playbooks/*.yml; do ansible-playbook --syntax-check "$$p" >/dev/null || exit 1; done; \
	echo "syntax ok"

test: setup lint syntax     ## everything CI runs
	pytest $(PYTEST_ARGS)

test-fast:                  ## the tests without molecule (no containers)
	pytest -m "not molecule and not lab" $(PYTEST_ARGS)
