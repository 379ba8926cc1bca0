#!/usr/bin/env bash
# pgo.sh — refresh cmd/riskd/default.pgo, the CPU profile `go build` uses to
# optimise riskd (profile-guided optimisation: hot calls inlined, interface
# calls devirtualised; https://go.dev/doc/pgo).
#
# It profiles bin/riskd under the load `make load` applies: riskload's
# single-model scenario (examples/loan_ml) with Zipf and with uniform keys and
# the three-model scenario (examples/loan_pipeline) with Zipf keys, 10 seconds
# each, then merges the three profiles into one. Run it (`make pgo`) after
# changes that move riskd's hot path, then rebuild and compare the builds with
# `bin/riskload ab` (docs/OPERATIONS.md §15).
#
# Needs bin/riskd and bin/riskload (make build) and onnxruntime (make deps).
# Environment: PGO_PORT (default 18480) and PGO_DEBUG_PORT (default 16480),
# the loopback ports riskd and its pprof listener use; PGO_OUT (default
# cmd/riskd/default.pgo).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PORT="${PGO_PORT:-18480}"
DEBUG_PORT="${PGO_DEBUG_PORT:-16480}"
OUT="${PGO_OUT:-cmd/riskd/default.pgo}"
export RISKFORGE_ORT_LIB="${RISKFORGE_ORT_LIB:-$ROOT/third_party/onnxruntime/lib/libonnxruntime.so}"
for bin in bin/riskd bin/riskload; do
	[ -x "$bin" ] || { echo "pgo.sh: $bin is missing: run make build" >&2; exit 1; }
done

WORK="$(mktemp -d)"
RISKD_PID=""
cleanup() {
	[ -n "$RISKD_PID" ] && kill "$RISKD_PID" 2>/dev/null && wait "$RISKD_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

# profile NAME POLICY DIST: one 10-second CPU profile of riskd serving POLICY
# under riskload drive with DIST keys, into $WORK/NAME.prof.
profile() {
	local name="$1" policy="$2" dist="$3"
	printf 'server:\n  addr: 127.0.0.1:%s\n  debug_addr: 127.0.0.1:%s\npolicies:\n  - path: %s\n' \
		"$PORT" "$DEBUG_PORT" "$ROOT/$policy" > "$WORK/riskd.yaml"
	bin/riskd serve --config "$WORK/riskd.yaml" > "$WORK/riskd.log" 2>&1 &
	RISKD_PID=$!
	for _ in $(seq 1 120); do
		grep -q '"msg":"listening"' "$WORK/riskd.log" && break
		kill -0 "$RISKD_PID" 2>/dev/null || { cat "$WORK/riskd.log" >&2; exit 1; }
		sleep 0.25
	done
	grep -q '"msg":"listening"' "$WORK/riskd.log" || { echo "pgo.sh: riskd did not start" >&2; cat "$WORK/riskd.log" >&2; exit 1; }
	echo "==> $name: $policy, $dist keys"
	bin/riskload drive --url "http://127.0.0.1:$PORT/v1/decide" --policy "$policy" --dist "$dist" --duration 14s &
	local drive=$!
	sleep 3
	curl -fsS -o "$WORK/$name.prof" "http://127.0.0.1:$DEBUG_PORT/debug/pprof/profile?seconds=10"
	wait "$drive"
	kill "$RISKD_PID"
	wait "$RISKD_PID" 2>/dev/null || true
	RISKD_PID=""
}

profile single-zipf examples/loan_ml zipf
profile single-uniform examples/loan_ml uniform
profile three-zipf examples/loan_pipeline zipf
go tool pprof -proto "$WORK/single-zipf.prof" "$WORK/single-uniform.prof" "$WORK/three-zipf.prof" > "$WORK/merged.pgo"
mv "$WORK/merged.pgo" "$OUT"
echo "==> wrote $OUT ($(wc -c < "$OUT") bytes); rebuild riskd (make build) to use it"
