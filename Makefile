# The two commands of the README: `make up` (install, build, start a local VCH) and `make test`.
SHELL := /bin/bash
VCH_HOME ?= $(CURDIR)/.vch
VCH_PORT ?= 2375
CONFIG ?= Release

.PHONY: up down deps build test bench format clean

up: deps build
	VCH_HOME=$(VCH_HOME) VCH_PORT=$(VCH_PORT) scripts/vch-up.sh

down:
	VCH_HOME=$(VCH_HOME) scripts/vch-down.sh

deps:
	scripts/install-deps.sh

# What `make up` runs; the tests build the rest of the solution themselves.
build:
	scripts/publish-endpoint.sh $(CONFIG)
	scripts/install-vic-machine.sh $(CONFIG)

test: deps
	scripts/run-tests.sh $(CONFIG)

bench: deps build
	scripts/run-benchmarks.sh

format:
	dotnet format VIC.sln --verify-no-changes

clean:
	rm -rf out
	find . -name bin -o -name obj -type d -prune -exec rm -rf {} +
