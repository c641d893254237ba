#!/usr/bin/env bash
# The main job: set up, bring up the local stack and both workers, run the training pipeline end to
# end and print where to watch it, the final metrics and the promoted model version.
# Arguments go to `siamface pipeline run` (e.g. --dataset /path/to/images --config my-config.json).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
./bin/siamface stack up
# The local workers' input policy (README "Security model"): whoever runs this is their operator, so the folders
# named here become readable dataset roots: the shared face sets and any local --dataset / --identity-file given.
roots="${SIAMFACE_DATASET_ROOTS:-}"
add_root() { [[ -e "$1" ]] && roots="${roots:+$roots:}$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; return 0; }
[[ -d ../shared/data ]] && add_root ../shared/data
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in --dataset | --identity-file) [[ "${args[i + 1]:-}" != *://* ]] && add_root "${args[i + 1]:-}" ;; esac
done
export SIAMFACE_DATASET_ROOTS="$roots"
echo "[main] workers may read local datasets under: ${SIAMFACE_DATASET_ROOTS:-nothing}"
./bin/siamface workers start
trap './bin/siamface workers stop >/dev/null || true' EXIT
./bin/siamface doctor
if ./bin/siamface pipeline --help >/dev/null 2>&1; then
  ./bin/siamface pipeline run "$@"
fi
echo "The stack keeps running (Temporal UI: $(node -e 'console.log(require("./.data/stack.json").temporal.uiUrl)')); stop it with ./bin/siamface stack down"
