# Riskforge build scaffolding. `make` builds; `make test` is what CI runs.
# Needs: Go (cgo on, the default), gcc, and npm for the one-time `make deps`.

GO          ?= go
BIN         := $(CURDIR)/bin
TOOLS_BIN   := $(BIN)/tools

# ONNX Runtime shared library, loaded at run time by github.com/yalue/onnxruntime_go
# (v1.27.0 speaks ORT API version 24, i.e. onnxruntime 1.24.x).
ORT_VERSION := 1.24.1
ORT_DIR     := $(CURDIR)/third_party/onnxruntime
ORT_REAL    := $(ORT_DIR)/lib/libonnxruntime.so.$(ORT_VERSION)
ORT_LIB     := $(ORT_DIR)/lib/libonnxruntime.so
# Every recipe (tests, benchmarks, fuzzing, riskd) finds the library through this;
# set RISKFORGE_ORT_LIB in the environment to use another copy.
export RISKFORGE_ORT_LIB ?= $(ORT_LIB)

STATICCHECK_VERSION := v0.8.2
STATICCHECK         := $(TOOLS_BIN)/staticcheck

# Mutation testing (make mutate): Gremlins, pinned and installed like staticcheck.
GREMLINS_VERSION := v0.6.0
GREMLINS         := $(TOOLS_BIN)/gremlins
MUTATE_PKGS      ?= # comma-separated, e.g. windows,compiler; empty: every package in internal/mutate/targets.txt
MUTATE_WORKERS   ?= 2
MUTATE_FLAGS     ?=

GO_TEST_FLAGS ?= -count=1 -timeout 10m

# Fuzz targets as package:FuncName pairs; FUZZTIME is per target.
FUZZ_TARGETS ?= ./lang:FuzzFormat ./lang:FuzzNumbersIn ./compiler:FuzzCheck ./vm:FuzzDecode ./vm:FuzzDecodeJSON ./dataset:FuzzCSV ./api:FuzzFastDecode ./server:FuzzDecide ./server:FuzzBatchDepth ./server:FuzzCheckBody ./lsp:FuzzLSPDidChange ./playground:FuzzPlaygroundRun \
                ./audit:FuzzDecodeRecord ./audit:FuzzDecodeCheckpoint ./audit/schema:FuzzDecodeCompact ./internal/gm:FuzzSignatureHeader ./windows:FuzzRestoreSnapshot ./state:FuzzReplayRecord ./models:FuzzNativeTrees
FUZZTIME     ?= 50000x # an exec count: time limits hit golang/go#75804 on Go 1.26

RISKD_POLICY ?= examples/loan
RISKD_ADDR   ?= 127.0.0.1:8080

.PHONY: build deps chromium playground-bundle lint fmt-check test run pgo bench fuzz load load-gc load-otel load-kafka load-cache crash mutate clean

# The commit for --version when Go's own VCS stamp is missing (a git worktree,
# GOFLAGS=-buildvcs=false); a stamp in the build info takes precedence.
COMMIT      ?= $(shell git rev-parse HEAD 2>/dev/null)
COMMIT_TIME ?= $(shell git log -1 --format=%cI 2>/dev/null)
LDFLAGS     := -X github.com/riskforge/riskforge/internal/cli.Commit=$(COMMIT) -X github.com/riskforge/riskforge/internal/cli.CommitTime=$(COMMIT_TIME)

# build: compile riskc, riskd and the load generator riskload into bin/ (default target).
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/riskc ./cmd/riskc
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/riskd ./cmd/riskd
	$(GO) build -o bin/riskload ./cmd/riskload

# deps: install onnxruntime into third_party/onnxruntime/ once, and Debian's chromium
# (the playground's browser test drives it), redis-server (the lookup and window tests
# start a real one) and redis-tools (redis-cli creates the Redis Cluster tests' cluster)
# where missing; a no-op afterwards.
deps: $(ORT_LIB) chromium redis-server

# chromium: apt-get install it as root when no chromium is on PATH (or $$CHROMIUM is unset).
chromium:
	@if [ -n "$$CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "==> apt-get install -y chromium (for the playground's browser test)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "make deps: chromium is missing: as root run apt-get install -y chromium (or set CHROMIUM to a Chrome binary)" >&2; exit 1; \
	fi

# playground-bundle: rebuild playground/static/editor.js (CodeMirror 6, pinned in
# playground/web/package-lock.json) with esbuild, plus its licence file and input sums.
# Needs npm; the Go build does not (the bundle is committed).
playground-bundle:
	cd playground/web && npm ci --no-audit --no-fund && npm run build

.PHONY: redis-server
redis-server:
	@command -v redis-server >/dev/null || { \
		[ "$$(id -u)" = 0 ] || { echo "redis-server is missing: run 'sudo apt-get install -y redis-server' (or make deps as root)" >&2; exit 1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }
	@command -v redis-cli >/dev/null || { \
		[ "$$(id -u)" = 0 ] || { echo "redis-cli is missing (the Redis Cluster tests create their cluster with it): run 'sudo apt-get install -y redis-tools' (or make deps as root)" >&2; exit 1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-tools; }

$(ORT_REAL) $(ORT_LIB) &:
	ORT_VERSION=$(ORT_VERSION) ./scripts/fetch-onnxruntime.sh

# lint: go vet plus staticcheck (pinned, installed into bin/tools/ on first use).
lint: $(STATICCHECK)
	$(GO) vet ./...
	$(STATICCHECK) ./...

# After changing STATICCHECK_VERSION run `make clean` so it is installed again.
$(STATICCHECK):
	GOBIN=$(TOOLS_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# fmt-check: fail if any Go file (outside bin/, third_party/, testdata/) needs gofmt.
fmt-check:
	@files=$$(find . \( -path ./.git -o -path ./bin -o -path ./third_party -o -name testdata \) -prune \
		-o -name '*.go' -type f -print | xargs -r gofmt -l); \
	if [ -n "$$files" ]; then \
		echo "gofmt -l lists these files (run gofmt -w on them):"; echo "$$files"; exit 1; \
	fi

# test: everything CI checks — deps, lint, formatting, all tests, then the
# policy tests of every example (docs/TESTING.md).
test: deps lint fmt-check
	$(GO) test $(GO_TEST_FLAGS) ./...
	$(GO) run ./cmd/riskc test examples/...

# run: start the decision server on the example policy and print a curl command for it.
run: build deps
	@echo "riskd will serve $(RISKD_POLICY) on http://$(RISKD_ADDR) (Ctrl-C stops it). Try, from another terminal:"
	@echo
	@printf "  curl -s -X POST http://%s/v1/decide -H 'Content-Type: application/json' -d '%s'\n" '$(RISKD_ADDR)' \
		'{"event":"loan_apply","request_id":"demo-1","features":{"user_id":"u-1001","device_id":"dev-42","ip_country":"NL","residence_country":"DE","age":34,"amount":12000,"term_months":36,"income":2100,"existing_debt":450,"overdue_30d":2,"bureau_score":560,"account_opened":"2024-02-01T00:00:00Z","ts":"2026-03-01T10:00:00Z"}}'
	@echo
	./bin/riskd serve --policy $(RISKD_POLICY) --addr $(RISKD_ADDR) --log-format text

# pgo: refresh cmd/riskd/default.pgo, the CPU profile go build optimises riskd
# with, from riskd under riskload's scenarios (scripts/pgo.sh; about a minute).
pgo: build deps
	./scripts/pgo.sh

# bench: run every benchmark, no tests.
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./...

# fuzz: fuzz each package:FuncName in FUZZ_TARGETS for FUZZTIME.
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; \
		if [ "$$pkg" = "$$t" ] || [ -z "$$pkg" ] || [ -z "$$fn" ]; then \
			echo "fuzz: bad FUZZ_TARGETS entry '$$t' (want package:FuncName)" >&2; exit 2; \
		fi; \
		if ! $(GO) test -list "^$$fn\$$" "$$pkg" | grep -qx "$$fn"; then \
			echo "fuzz: no fuzz target $$fn in $$pkg" >&2; exit 2; \
		fi; \
		echo "==> $(GO) test -run '^\$$' -fuzz '^$$fn\$$' -fuzztime $(FUZZTIME) $$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	done

# mutate: mutation testing of the packages that decide (internal/mutate/targets.txt):
# prints efficacy and mutator coverage per package and every surviving mutant not
# explained in internal/mutate/allow.txt; fails below the thresholds in targets.txt.
# Takes minutes per package (see docs/CONTRIBUTING.md); not part of `make test`.
mutate: $(GREMLINS) deps
	$(GO) run ./internal/mutate -gremlins $(GREMLINS) -workers $(MUTATE_WORKERS) $(if $(strip $(MUTATE_PKGS)),-pkg $(strip $(MUTATE_PKGS))) $(MUTATE_FLAGS)

# After changing GREMLINS_VERSION run `make clean` so it is installed again.
$(GREMLINS):
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)

# load: the named scenarios, single-model (examples/loan_ml: 22 rules, 2 ONNX models, 3 windows)
# and three-model (examples/loan_pipeline: three ONNX models in series), each with Zipf-popular
# devices/IPs/merchants/cards and 80% new users, then with uniform keys: a fresh riskd and a minimal
# net/http echo server (the machine's ceiling) under the same closed-loop load on loopback
# (LOAD_CONNS keep-alive connections, default 64; LOAD_DURATION per target, default 10s, after
# LOAD_WARMUP, default 2s). Prints
# req/s, p50/p95/p99, server CPU per request and RSS, and riskd / echo against the targets.
# Then riskd again with an audit log (LOAD_AUDIT sync policy, default batch; LOAD_AUDIT= skips
# it) and the ratio of its throughput to riskd without one; then riskd with its windows in Redis
# (a redis-server on loopback) next to the embedded store. LOAD_SCENARIOS and LOAD_DIST narrow it.
# Every comparison (echo/riskd, riskd/riskd+audit, riskd/riskd+redis) runs LOAD_ROUNDS rounds
# (default 3) on the same two server processes, the order swapped each round (A B, B A, A B),
# 1s warm-up before each later measurement; the verdicts are on the median of the per-round
# ratios, printed with their range. One run moves a ratio by ±0.06-0.15 on a shared 2-core
# machine; LOAD_ROUNDS=1 gives the single measurement of earlier figures (about 3x shorter).
LOAD_AUDIT     ?= batch
LOAD_SCENARIOS ?= single-model,three-model
LOAD_DIST      ?= both
LOAD_ROUNDS    ?= 3
load: build deps
	$(GO) build -o bin/riskload ./cmd/riskload
	./bin/riskload compare --riskd ./bin/riskd --scenario $(LOAD_SCENARIOS) --dist $(LOAD_DIST) --duration $(or $(LOAD_DURATION),10s) --conns $(or $(LOAD_CONNS),64) $(if $(LOAD_WARMUP),--warmup $(LOAD_WARMUP)) \
		--rounds $(LOAD_ROUNDS) $(if $(LOAD_AUDIT),--audit $(LOAD_AUDIT)) --with-redis

# load-gc: riskd on the single-model scenario (Zipf keys) once per GOGC value (LOAD_GOGC, default
# 100,200,400,800; the environment wins over runtime.gc_percent), LOAD_GOMEMLIMIT for all when set:
# req/s, p99, server CPU per request and RSS side by side.
LOAD_GOGC ?= 100,200,400,800
load-gc: build deps
	$(GO) build -o bin/riskload ./cmd/riskload
	./bin/riskload gc --riskd ./bin/riskd --gogc $(LOAD_GOGC) $(if $(LOAD_GOMEMLIMIT),--gomemlimit $(LOAD_GOMEMLIMIT)) --duration $(or $(LOAD_DURATION),10s) --conns $(or $(LOAD_CONNS),64)

# crash: kill -9 riskd at random moments under load CRASH_ROUNDS times (default 200) and check
# after each restart that every request answered 200 is in the audit log and the log verifies.
# `make test` runs the same test with 6 rounds.
CRASH_ROUNDS ?= 200
crash: deps
	RISKD_CRASH_ROUNDS=$(CRASH_ROUNDS) $(GO) test -count=1 -timeout 30m -run 'Crash' -v ./cmd/riskd

# load-otel: what tracing costs: riskd with tracing off, then exporting to an in-process
# OTLP sink at 1% and 100% sampling, the same load each time.
load-otel: build deps
	$(GO) build -o bin/riskload ./cmd/riskload
	./bin/riskload otel --riskd ./bin/riskd --policy examples/loan --duration $(or $(LOAD_DURATION),10s) --conns $(or $(LOAD_CONNS),64)

# load-kafka: riskd consume draining a topic of an in-process Kafka (kfake) vs riskd serve
# over HTTP: decisions/s and CPU per decision.
load-kafka: build deps
	$(GO) build -o bin/riskload ./cmd/riskload
	./bin/riskload kafka --riskd ./bin/riskd --policy examples/loan --events $(or $(LOAD_EVENTS),200000) --duration $(or $(LOAD_DURATION),10s)

# load-cache: riskd's HTTP path with feature lookups next to the echo ceiling, in one run:
# riskd serves examples/datastack/loan_profile.risk, its profile lookup reading a real
# redis-server with 200k profiles through a cache bounded at 10k entries, its device lookup
# an HTTP service riskload runs; users and devices Zipf-distributed (s=1.1). Prints req/s,
# p50/p95/p99, CPU per request and RSS next to echo, and the hit rates and degraded decisions
# from riskd's metrics. `./bin/riskload cache --in-process` measures the cache alone.
load-cache: build deps
	$(GO) build -o bin/riskload ./cmd/riskload
	./bin/riskload cache --riskd ./bin/riskd --duration $(or $(LOAD_DURATION),10s) --conns $(or $(LOAD_CONNS),64)

# clean: remove built binaries and tools (keeps third_party/ so deps stay offline).
clean:
	rm -rf bin/
