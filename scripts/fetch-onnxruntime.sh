#!/usr/bin/env bash
# fetch-onnxruntime.sh — install the ONNX Runtime shared library that
# github.com/yalue/onnxruntime_go loads at run time (dlopen; nothing links it).
#
# The library is taken from the npm package onnxruntime-node, which ships the
# official Linux build. `npm pack` only downloads the tarball (no install
# scripts run). The tarball is cached under third_party/cache/, so after the
# first run this script needs no network; when the library is already in
# place it does nothing at all.
#
# Result (paths relative to the repo root):
#   third_party/onnxruntime/lib/libonnxruntime.so.<version>   the library
#   third_party/onnxruntime/lib/libonnxruntime.so.1           -> .so.<version> (its SONAME)
#   third_party/onnxruntime/lib/libonnxruntime.so             -> .so.1
#
# Environment: ORT_VERSION (default 1.24.1), FORCE=1 to re-extract.
set -euo pipefail

ORT_VERSION="${ORT_VERSION:-1.24.1}"
# sha256 of onnxruntime-node-1.24.1.tgz as served by the npm registry
# (npm's own integrity: sha512-Ex/oUXKdhDoxvlNxBT3oYtW0MH88yYpPlXQeVQUXpcJQmN24usd/8RCoPLN5kCHwDsiZ+nqsnjciyFRl423dQw==).
PINNED_VERSION="1.24.1"
PINNED_SHA256="57181cf6e6e711b155c5b942d591fd63ded0b5de5c4922d51fd994e7f6ac2772"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIB_DIR="$ROOT/third_party/onnxruntime/lib"
CACHE_DIR="$ROOT/third_party/cache"
TARBALL="$CACHE_DIR/onnxruntime-node-$ORT_VERSION.tgz"
LIB="$LIB_DIR/libonnxruntime.so.$ORT_VERSION"

die() { echo "fetch-onnxruntime: $*" >&2; exit 1; }
log() { echo "fetch-onnxruntime: $*"; }

case "$(uname -s)" in
  Linux) ;;
  *) die "only Linux is supported (this is $(uname -s)); set RISKFORGE_ORT_LIB to an onnxruntime $ORT_VERSION library by hand" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) ARCH=x64 ;;
  aarch64 | arm64) ARCH=arm64 ;;
  *) die "unsupported CPU architecture $(uname -m) (onnxruntime-node ships x64 and arm64)" ;;
esac
MEMBER="package/bin/napi-v6/linux/$ARCH/libonnxruntime.so.1"

link() {
  ln -sfn "libonnxruntime.so.$ORT_VERSION" "$LIB_DIR/libonnxruntime.so.1"
  ln -sfn "libonnxruntime.so.1" "$LIB_DIR/libonnxruntime.so"
}

if [[ -f "$LIB" && "${FORCE:-0}" != 1 ]]; then
  link
  log "onnxruntime $ORT_VERSION already installed: $LIB"
  exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# 1. Download the tarball once.
if [[ ! -f "$TARBALL" ]]; then
  command -v npm >/dev/null 2>&1 ||
    die "npm not found in PATH. Install Node.js and npm (Debian: apt-get install -y npm), or put onnxruntime-node-$ORT_VERSION.tgz into $CACHE_DIR/ yourself."
  log "downloading onnxruntime-node@$ORT_VERSION with npm pack (~85 MB)..."
  if ! (cd "$TMP" && npm pack --silent --fetch-retries=1 --fetch-retry-maxtimeout=10000 --fetch-timeout=120000 \
          "onnxruntime-node@$ORT_VERSION" >"$TMP/npm-pack.log" 2>&1); then
    cat "$TMP/npm-pack.log" >&2 || true
    die "npm pack onnxruntime-node@$ORT_VERSION failed. Is the npm registry reachable (offline? proxy?)? Alternatively put onnxruntime-node-$ORT_VERSION.tgz into $CACHE_DIR/."
  fi
  [[ -f "$TMP/onnxruntime-node-$ORT_VERSION.tgz" ]] ||
    die "npm pack did not produce onnxruntime-node-$ORT_VERSION.tgz (got: $(ls "$TMP"))"
  mkdir -p "$CACHE_DIR"
  mv "$TMP/onnxruntime-node-$ORT_VERSION.tgz" "$TARBALL.partial"
  mv "$TARBALL.partial" "$TARBALL"
fi

# 2. Check the cached tarball (only the pinned version has a known digest).
if [[ "$ORT_VERSION" == "$PINNED_VERSION" ]]; then
  got="$(sha256sum "$TARBALL" | cut -d' ' -f1)"
  [[ "$got" == "$PINNED_SHA256" ]] ||
    die "checksum mismatch for $TARBALL (got $got, want $PINNED_SHA256); delete it and run again"
fi

# 3. Extract the one library file and install it atomically.
tar -xzf "$TARBALL" -C "$TMP" "$MEMBER" ||
  die "$TARBALL has no $MEMBER"
mkdir -p "$LIB_DIR"
install -m 0755 "$TMP/$MEMBER" "$LIB.partial"
touch "$LIB.partial" # npm tarballs carry a 1985 mtime; make needs a real one
mv -f "$LIB.partial" "$LIB"
link
log "installed $LIB"
