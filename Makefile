# homelab.nvidia_gpu — one entry point for setup, tests and the lab.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup test test-slow lint unit sanity molecule lab lab-down lab-status bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

setup:  ## Venv, Docker engine, qemu binfmt, base images, signed fixture mirror (idempotent)
	@scripts/setup.sh

test: setup  ## Every gate: yamllint, ansible-lint, ruff, argspecs, build, unit, sanity, molecule
	@scripts/test.sh

test-slow: setup  ## Molecule scenarios marked SLOW too (real Debian nvidia-kernel-dkms build)
	@SLOW=1 scripts/test.sh molecule

lint: setup  ## Only the linters
	@scripts/test.sh yamllint ansible-lint ruff argspecs

unit: setup  ## Only the Python unit tests
	@scripts/test.sh unit

sanity: setup  ## Only ansible-test sanity
	@scripts/test.sh sanity

molecule: setup  ## Only Molecule (MOLECULE_SCENARIOS="a b" to pick)
	@scripts/test.sh molecule

lab: setup  ## Start the container lab, run playbooks/site.yml and validate.yml against it
	@tests/lab/lab.sh up

lab-down:  ## Remove the lab's containers
	@tests/lab/lab.sh down

lab-status:  ## Show the lab's containers
	@tests/lab/lab.sh status

bench: setup  ## Benchmarks (not tests): module timings and site.yml converge/no-op times
	@for b in tests/bench/*.sh; do echo "== $$b"; $$b || exit 1; done

clean:  ## Remove build outputs and test logs (keeps .venv and images)
	rm -rf .cache/build .cache/sanity .cache/test-logs tests/output
