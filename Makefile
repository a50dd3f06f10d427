# whippet — see README.md. Everything here runs from a fresh clone.
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PKGS      := ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
COUNT     ?= 10
ARGS      ?=

.PHONY: all build run check image test test-go test-race fuzz-ci e2e setup-test-host bench bench-compare fuzz lint tools generate check-generate clean

all: build

## build: the agent binary at bin/whippet
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/whippet ./cmd/agent

## run: run whippet on this host (without DD_API_KEY it prints each cycle); ARGS='-interval 5s'
run: build
	$(BIN)/whippet run $(ARGS)

## check: one cycle on this host, printed; ARGS='-root testdata/fakehost/v1 -sample 0' for the fixture
check: build
	$(BIN)/whippet check $(ARGS)

## test: set this machine up for the kernel/Docker tests (as root, idempotent), check the committed eBPF objects, then every test
test: setup-test-host check-generate test-go fuzz-ci

setup-test-host:
	@scripts/setup-test-host.sh

test-go:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 $(PKGS)
	cd bench && $(GO) vet ./... && $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./... >/dev/null
	cd bench && $(GO) test -count=1 ./...
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...

## image: the static scratch image (deploy/Dockerfile) on the local engine; IMAGE=whippet:latest
IMAGE ?= whippet:latest
image: build
	deploy/build-image.sh $(BIN)/whippet $(IMAGE)

## test-race: the tests under the race detector
test-race:
	$(GO) test -race -count=1 $(PKGS)

## bench: micro benchmarks beside the code
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## bench-compare: side-by-side benchmarks (bench/), COUNT runs each, summarised by benchstat and paired ratios
BENCH ?= .
bench-compare: tools
	mkdir -p bench/out
	cd bench && $(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) -count $(COUNT) -timeout 60m . | tee out/compare.txt
	$(BIN)/benchstat bench/out/compare.txt
	cd bench && $(GO) run ./cmd/ratios out/compare.txt $(RATIOS)

RATIOS ?= \
	ProcCycle/gen5000/whippet=ProcCycle/gen5000/floor ProcCycle/gen5000/whippet-open=ProcCycle/gen5000/floor \
	ProcCycle/gen5000/procfs=ProcCycle/gen5000/whippet ProcCycle/gen5000/gopsutil=ProcCycle/gen5000/whippet \
	ProcCycle/live/whippet=ProcCycle/live/floor ProcCycle/live/whippet-open=ProcCycle/live/floor \
	ProcCycle/live/procfs=ProcCycle/live/whippet ProcCycle/live/gopsutil=ProcCycle/live/whippet \
	ProcCycle/gen5000/whippet-events=ProcCycle/gen5000/whippet ProcCycle/live/whippet-events=ProcCycle/live/whippet \
	Host/whippet=Host/floor Host/procfs=Host/whippet Host/gopsutil=Host/whippet \
	CgroupCycle/gen200/whippet=CgroupCycle/gen200/floor CgroupCycle/gen200/datadog=CgroupCycle/gen200/whippet \
	CgroupCycle/gen200/containerd=CgroupCycle/gen200/whippet \
	CgroupCycle/live/whippet=CgroupCycle/live/floor CgroupCycle/live/datadog=CgroupCycle/live/whippet \
	CgroupCycle/live/containerd=CgroupCycle/live/whippet \
	DockerDecode/list/docker=DockerDecode/list/whippet DockerDecode/inspect/docker=DockerDecode/inspect/whippet \
	DockerDecode/event/docker=DockerDecode/event/whippet DockerResync/docker=DockerResync/whippet

## fuzz-ci: every Fuzz target for a few seconds (part of make test; committed corpora under testdata/fuzz)
fuzz-ci:
	GO=$(GO) scripts/fuzz.sh 3s

## e2e: the end-to-end and fault suites alone (real dockerd, real eBPF, the whippet binary)
e2e: setup-test-host
	$(GO) test -count=1 -v ./e2e/...

## fuzz: every Fuzz target for FUZZTIME each
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

## generate: compile bpf/tracer.c (clang + libbpf-dev headers) into the committed bpf/tracer_bpf{el,eb}.{go,o} with bpf2go (a tool in go.mod)
generate:
	$(GO) generate ./bpf/...

## check-generate: regenerate and fail if the committed generated files differ
check-generate: generate
	@test -z "$$(git status --porcelain --untracked-files=all -- bpf/)" || { git status --porcelain -- bpf/; echo "bpf/: generated files are stale: run make generate and commit" >&2; exit 1; }

## lint: gofmt, go vet, staticcheck
lint: tools
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)
	$(BIN)/staticcheck $(PKGS)
	cd bench && ../$(BIN)/staticcheck ./...
	cd deploy && ../$(BIN)/staticcheck ./...

## tools: staticcheck and benchstat, pinned in tools/go.mod
tools:
	cd tools && $(GO) build -o ../$(BIN)/ honnef.co/go/tools/cmd/staticcheck golang.org/x/perf/cmd/benchstat

clean:
	rm -rf $(BIN) bench/out
