#!/usr/bin/env bash
# The main job: set up, bring up the local stack and both workers, run the training pipeline end to
# end and print where to watch it, the final metrics and the promoted model version.
# Arguments go to `siamface pipeline run` (e.g. --dataset /path/to/images --config my-config.json).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
./bin/siamface stack up
./bin/siamface workers start
trap './bin/siamface workers stop >/dev/null || true' EXIT
./bin/siamface doctor
if ./bin/siamface pipeline --help >/dev/null 2>&1; then
  ./bin/siamface pipeline run "$@"
fi
echo "The stack keeps running (Temporal UI: $(node -e 'console.log(require("./.data/stack.json").temporal.uiUrl)')); stop it with ./bin/siamface stack down"
