# stationsync (村站通). `make help` lists the targets.
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.Version=$(VERSION)
GO ?= go
export CGO_ENABLED := 1

.PHONY: help build test test-postgres test-short bench herd run stop fuzz check clean dist test-dist chaos browser-deps powercut powercut-deps tour

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## build station-agent and county-server into dist/
	$(GO) build -ldflags "$(LDFLAGS)" -o dist/ ./cmd/station-agent ./cmd/county-server

test: browser-deps powercut-deps ## run every test (race detector on), including the killed-process and fault tests
	$(GO) vet ./...
	$(GO) vet -tags stationsync_test ./agent/ ./cmd/station-agent/
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) test-postgres
	$(MAKE) test-dist

test-postgres: ## the county store's suite (store, merge, feed, scoping, staff pages, their Chromium tests) again on PostgreSQL at 127.0.0.1:5432; fails if it is not there
	STATIONSYNC_TEST_STORE=postgres $(GO) test -count=1 -timeout 20m ./server/... ./tests/countyweb/

test-short: browser-deps ## quick run: fewer kill cycles, same assertions, no race detector
	$(GO) test -short -count=1 ./...

chaos: ## the full fault-injection suite (500 agent kills, 100 county kills, link, clock, disk faults, a herd of 1,000; up to an hour); ends with the results table
	@mkdir -p dist
	@set -o pipefail; CHAOS_FULL=1 CHAOS_RESULTS=$(CURDIR)/dist/chaos-results.txt $(GO) test -count=1 -v -timeout 100m ./tests/chaos/ 2>&1 | tee dist/chaos.log | grep -E -- '^(--- |ok|FAIL)|RESULT'; rc=$$?; cat dist/chaos-results.txt 2>/dev/null; echo "full log: dist/chaos.log"; exit $$rc

powercut: powercut-deps ## 200 power cuts of a QEMU station (up to ~2 h under emulation); ends with the results table
	@mkdir -p dist
	@set -o pipefail; POWERCUT_CUTS=$${POWERCUT_CUTS:-200} POWERCUT_RESULTS=$(CURDIR)/dist/powercut-results.txt $(GO) test -count=1 -v -timeout 240m -run TestPowerCuts ./tests/powercut/ 2>&1 | tee dist/powercut.log | grep -E -- '^(--- |ok|FAIL)|RESULT'; rc=$$?; cat dist/powercut-results.txt 2>/dev/null; echo "full log: dist/powercut.log"; exit $$rc

powercut-deps: ## install QEMU, busybox-static and unpack a guest kernel for the power-cut tests (quick when present)
	bash scripts/install-powercut-deps.sh >/dev/null

browser-deps: ## install Chromium and a CJK font for the station pages' browser tests (quick when present)
	bash scripts/install-browser.sh

tour: browser-deps ## refresh README's tour screenshots (docs/tour/) from the browser tests
	bash scripts/refresh-tour.sh

bench: ## run the benchmarks and print a table of the figures
	@set -o pipefail; { $(GO) test -run '^$$' -bench . -skip 2GPhoto -benchtime 3x -count 1 ./bench/ ./agent/web/ ./bench/county/ && \
	  $(GO) test -run '^$$' -bench 2GPhoto -benchtime 1x -count 1 ./bench/ && \
	  $(GO) test -run '^$$' -bench Bundle1000 -benchtime 1x -count 1 ./tests/bundle/; } | tee /dev/stderr | $(GO) run ./bench/table

herd: ## N stations (3,000 × 100 changes; HERD_STATIONS=300,1000 HERD_CHANGES=… HERD_STORES=sqlite,postgres) return at once to a county-server process on each store; prints the herd table, profiles the county
	@mkdir -p dist
	@rm -f dist/herd-results.txt
	@set -o pipefail; HERD=1 HERD_RESULTS=$(CURDIR)/dist/herd-results.txt HERD_PROFILE=$${HERD_PROFILE:-$(CURDIR)/dist/herd-cpu.pprof} $(GO) test -count=1 -v -timeout 120m -run '^TestHerd$$' ./bench/herd/ 2>&1 | tee dist/herd.log | grep -E -- '^(--- |ok|FAIL)|herd:'; rc=$$?; cat dist/herd-results.txt 2>/dev/null; echo "full log: dist/herd.log; the county's CPU profile per herd: go tool pprof -top dist/herd-cpu-STORE-N.pprof"; exit $$rc

fuzz: ## fuzz the payload decoder for 60 s
	$(GO) test -run '^$$' -fuzz FuzzParseEnvelope -fuzztime 60s ./syncproto/

run: build ## start a county server and two stations on loopback with demo records
	bash scripts/run-demo.sh

stop: ## stop what `make run` started
	bash scripts/run-demo.sh stop

check: ## vet and gofmt
	$(GO) vet ./...
	$(GO) vet -tags stationsync_test ./agent/ ./cmd/station-agent/
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)

clean: ## remove build output and demo data
	rm -rf dist run

dist: ## packages into dist/: station and county .debs (amd64, arm64; static), the signed Windows MSI
	bash installer/packaging/build.sh

test-dist: ## packaging tests: .deb install/upgrade/purge, lintian, units, arm64 under qemu, MSI tables and signatures
	bash tests/dist/run.sh
