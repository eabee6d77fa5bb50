# homelab.nvidia_gpu — one entry point for setup, tests and the lab.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup test test-slow lint unit sanity molecule readme lab lab-down lab-status build collection bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

setup:  ## Venv, Docker engine, qemu binfmt, base images, signed fixture mirror (idempotent)
	@scripts/setup.sh

test: setup  ## Every gate: yamllint, ansible-lint, ruff, argspecs, build, galaxy-importer, docs-lint, docs-site, readme, unit, sanity, molecule
	@scripts/test.sh

test-slow: setup  ## Molecule with the scenarios marked SLOW too (none at present)
	@SLOW=1 scripts/test.sh molecule

lint: setup  ## Only the linters
	@scripts/test.sh yamllint ansible-lint ruff argspecs

unit: setup  ## Only the Python unit tests
	@scripts/test.sh unit

sanity: setup  ## Only ansible-test sanity
	@scripts/test.sh sanity

molecule: setup  ## Only Molecule (MOLECULE_SCENARIOS="a b" to pick)
	@scripts/test.sh molecule

readme: setup  ## Only the README commands test (runs or checks every command line in README.md, docs/*.md, tests/lab/README.md)
	@scripts/test.sh readme

lab: setup  ## Start the container lab, run playbooks/site.yml and validate.yml against it
	@tests/lab/lab.sh up

lab-down:  ## Remove the lab's containers
	@tests/lab/lab.sh down

lab-status:  ## Show the lab's containers
	@tests/lab/lab.sh status

bench: setup  ## Benchmarks (not tests): module timings and site.yml converge/no-op times
	@for b in tests/bench/*.sh; do echo "== $$b"; $$b || exit 1; done

# The tools of the active venv, else the checkout's .venv: `make build` works in the quick start's venv too.
ANSIBLE_GALAXY ?= $(shell command -v ansible-galaxy 2>/dev/null || echo .venv/bin/ansible-galaxy)

build:  ## Build the collection tarball, homelab-nvidia_gpu-<version>.tar.gz, in the checkout's root
	@$(ANSIBLE_GALAXY) collection build --force .

collection:  ## Link the checkout as homelab.nvidia_gpu into .cache/collections, where ansible.cfg looks first
	@mkdir -p .cache/collections/ansible_collections/homelab
	@l=.cache/collections/ansible_collections/homelab/nvidia_gpu; [ -L $$l ] || [ ! -e $$l ] || \
	  { echo "$$l is an installed copy, not a link to the checkout: remove it first"; exit 1; }
	@ln -sfn ../../../.. .cache/collections/ansible_collections/homelab/nvidia_gpu
	@echo "homelab.nvidia_gpu -> $(CURDIR) (.cache/collections)"

clean:  ## Remove build outputs and test logs (keeps .venv and images)
	rm -rf .cache/build .cache/ecosystem .cache/docs-site .cache/sanity .cache/test-logs tests/output homelab-nvidia_gpu-*.tar.gz
