#!/usr/bin/env bash
# The whole test suite: setup, lint, type check, then unit, integration and end-to-end tests
# against a real Temporal server and a real MinIO started here on free loopback ports.
# `bash scripts/test.sh unit|integration|e2e` runs one suite (npm run test:unit is the fast loop: no stack).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "[test] lint"
npx eslint .
echo "[test] type check"
npx tsc -p tsconfig.json --noEmit

run_dir="$PWD/.data/test-run"
rm -rf "$run_dir"
cleanup() { node dist/test/support/prepare-run.js down "$run_dir" || true; }
trap cleanup EXIT
node dist/test/support/prepare-run.js up "$run_dir"

mkdir -p test-output
export SIAMFACE_DATA_DIR="$run_dir" SIAMFACE_TEST_OUTPUT="$PWD/test-output" SIAMFACE_WORKFLOW_BUNDLE="$PWD/dist/workflow-bundle.js"
# One runner invocation per Node version so each summary counts every test; files run one at a time (2 cores) and each
# test file uses its own bucket and task queues. Test files are listed here because Node 22's runner takes globs,
# not directories.
test_files() { find "$@" -name '*.test.js' | sort; }
if (( $# )); then
  suites=()
  for s in "$@"; do
    [[ -d "dist/test/$s" ]] || { echo "[test] no test suite '$s' (unit, integration, e2e)" >&2; exit 2; }
    suites+=("dist/test/$s")
  done
else
  suites=(dist/test/unit dist/test/integration)
  [[ -d dist/test/e2e ]] && suites+=(dist/test/e2e)
fi
echo "[test] Node $(node --version): ${suites[*]}"
mapfile -t files < <(test_files "${suites[@]}")
node --test --test-concurrency=1 --test-timeout=1200000 "${files[@]}"

# The whole suite again would double its time; the second supported Node runs the unit suite and the integration
# files that load every native module (Temporal's bridge, tfjs-node, sharp, ONNX Runtime), replay recorded workflow
# histories, train, resume and verify.
if (( ! $# )) && [[ "${SIAMFACE_TEST_NODE22:-1}" != 0 ]]; then
  node22=$(bash infra/install-node22.sh)
  if [[ "$("$node22" --version)" != "$(node --version)" ]]; then
    node22_files=(dist/test/integration/foundation dist/test/integration/pipeline/replay.test.js
      dist/test/integration/verify/verify.test.js dist/test/integration/train/train-resume.test.js)
    echo "[test] Node $("$node22" --version): dist/test/unit ${node22_files[*]}"
    mapfile -t files < <(test_files dist/test/unit "${node22_files[@]}")
    PATH="$(dirname "$node22"):$PATH" "$node22" --test --test-concurrency=1 --test-timeout=1200000 "${files[@]}"
  fi
fi
