# stationsync (村站通). `make help` lists the targets.
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.Version=$(VERSION)
GO ?= go
export CGO_ENABLED := 1

.PHONY: help build test test-short bench run stop fuzz check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## build station-agent and county-server into dist/
	$(GO) build -ldflags "$(LDFLAGS)" -o dist/ ./cmd/station-agent ./cmd/county-server

test: ## run every test (race detector on), including the killed-process and fault tests
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

test-short: ## quick run: fewer kill cycles, same assertions, no race detector
	$(GO) test -short -count=1 ./...

bench: ## run the benchmarks and print a table of the figures
	$(GO) test -run '^$$' -bench . -benchtime 3x -count 1 ./bench/ | tee /dev/stderr | $(GO) run ./bench/table

fuzz: ## fuzz the payload decoder for 60 s
	$(GO) test -run '^$$' -fuzz FuzzParseEnvelope -fuzztime 60s ./syncproto/

run: build ## start a county server and two stations on loopback with demo records
	bash scripts/run-demo.sh

stop: ## stop what `make run` started
	bash scripts/run-demo.sh stop

check: ## vet and gofmt
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)

clean: ## remove build output and demo data
	rm -rf dist run
