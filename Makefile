# kaudit. `make run` runs the demo on the embedded broker; `make test` runs
# every test (unit + e2e on the embedded broker).
GO        ?= go
BIN       ?= bin/kaudit
PKGS      := ./...

.PHONY: all build run test test-short e2e golden fmt vet lint tidy clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/kaudit

# The demo: embedded broker + pipeline + bundled sample log; Ctrl-C stops it.
run: build
	./$(BIN) demo $(ARGS)

test:
	$(GO) test -race -count=1 $(PKGS)

# Unit tests only: e2e tests skip under -short.
test-short:
	$(GO) test -short -count=1 $(PKGS)

e2e:
	$(GO) test -race -count=1 ./e2e/...

# Fault tolerance, full size (README.md, Fault tolerance): the embedded
# broker and 3 `kaudit run` processes, 200k request-log lines, kill -9 of
# random instances and a broker restart under load, then every expected
# record id checked. `make test` runs a short variant. 3 to 5 minutes on 2
# cores. The summary line is printed last, also when the test fails.
.PHONY: test-chaos
test-chaos:
	@sum=$$(mktemp); \
	KAUDIT_CHAOS=full KAUDIT_CHAOS_SUMMARY=$$sum $(GO) test -count=1 -v -timeout 15m -run '^TestChaos$$' ./e2e/chaos/; \
	rc=$$?; cat $$sum; rm -f $$sum; exit $$rc

# The side-by-side benchmark (issue 7, BENCHMARKS.md): a sarama copy and
# kaudit on one embedded broker and one generated workload, then latency at
# half load, a 1M-connection table and its recovery. Prints a table and
# writes $BENCH_OUT (default bench-results.json). At most about 20 minutes
# (a 19-minute budget); never run by `test`. BENCH_ARGS passes flags
# (kaudit bench -h).
.PHONY: bench
bench: build
	./$(BIN) bench --out "$${BENCH_OUT:-bench-results.json}" $(BENCH_ARGS)

# Rewrite golden files (CloudEvent output, topology, sample log).
golden:
	UPDATE_GOLDEN=1 $(GO) test -count=1 ./processors/... ./topology/... ./e2e/...

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet $(PKGS)

# gofmt and vet, then the deployment files, statically (no Docker engine or
# cluster needed): the Kubernetes manifests with kubeconform (pinned as a go
# tool) against offline schemas from its module (deploy/kubeschema), strict;
# and deploy/deploy_test.go: docker-compose.yml against the Compose spec
# (compose-go; also `docker compose config -q` where the plugin exists), the
# manifests again plus cross-checks, kaudit flags in every command line.
KUBESCHEMA ?= bin/kubeschema
lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) run ./deploy/kubeschema/cmd/kubeschema -out $(KUBESCHEMA)
	$(GO) tool kubeconform -strict -summary -schema-location '$(KUBESCHEMA)/{{ .ResourceKind }}{{ .KindSuffix }}.json' deploy/kubernetes/*.yaml
	$(GO) test -count=1 ./deploy/...

tidy:
	$(GO) mod tidy && git diff --exit-code go.mod go.sum

clean:
	rm -rf bin
