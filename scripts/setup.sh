#!/usr/bin/env bash
# Installs what siamface needs on this machine, idempotently (a second run takes seconds):
# npm packages, the Temporal CLI and MinIO binaries (tools cache), native TensorFlow for
# tfjs-node where it can be had, and the compiled JavaScript in dist/.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[setup] $*"; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if (( node_major < 20 )); then
  echo "[setup] error: Node.js >= 20 is required (found $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# onnxruntime-node's postinstall would download CUDA libraries (not needed on CPU, impossible offline).
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"

lock_hash=$(sha256sum package-lock.json | cut -c1-16)
if [[ ! -f node_modules/.siamface-installed ]] || [[ "$(cat node_modules/.siamface-installed)" != "$lock_hash" ]]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.siamface-installed
fi

say "server binaries"
bash infra/install-tools.sh | sed 's/^/[setup]   /'

if [[ -f infra/setup-tfjs-node.sh ]]; then
  bash infra/setup-tfjs-node.sh || say "native TensorFlow (tfjs-node) not set up; TensorFlow.js falls back to wasm"
fi

if [[ -f infra/setup-browser.sh && "${SIAMFACE_SKIP_BROWSER:-}" != 1 ]]; then
  bash infra/setup-browser.sh || say "no headless Chromium: the Temporal UI end-to-end test will be skipped"
fi

say "compiling TypeScript"
npx tsc -p tsconfig.json
say "ready"
