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

# Rewrite golden files (CloudEvent output, topology, sample log).
golden:
	UPDATE_GOLDEN=1 $(GO) test -count=1 ./processors/... ./topology/... ./e2e/...

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet $(PKGS)

lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)

tidy:
	$(GO) mod tidy && git diff --exit-code go.mod go.sum

clean:
	rm -rf bin
