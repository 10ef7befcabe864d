# pgbun: build, test, benchmark, demo.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
FUZZTIME ?= 4s

.PHONY: all build test unit lint fuzz bench demo deps drivers clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o pgbun ./cmd/pgbun

# Everything CI runs: formatting, vet (also for macOS and FreeBSD, which
# builds everything there), the race-enabled tests against a real
# PostgreSQL and real client libraries, and a short run of every fuzz target.
test: deps drivers lint unit fuzz

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

lint:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...
	GOOS=freebsd GOARCH=amd64 $(GO) vet ./...

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

bench: deps build
	$(GO) run ./internal/bench $(BENCHFLAGS)

# exec so that Ctrl-C reaches pgbun alone and a clean stop exits 0.
demo: deps build
	exec ./pgbun demo

# PostgreSQL server binaries are needed by the tests and the demo.
deps:
	@scripts/deps.sh

# The client libraries the driver tests run (psycopg, asyncpg, pgJDBC,
# node-postgres, postgres.js); a test whose library is missing is skipped
# unless PGBUN_REQUIRE_DRIVERS is set, as CI does.
drivers:
	@scripts/deps.sh --drivers

clean:
	rm -f pgbun
