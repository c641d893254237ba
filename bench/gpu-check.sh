#!/usr/bin/env bash
# The GPU path's check, for a GPU machine that may have no internet; at most 8 minutes, every step
# time-boxed. Run from the repository root after `npm ci` and `npx tsc -p tsconfig.json` were done
# where registries are reachable, with the tools cache built there by
#   SIAMFACE_TFJS_FLAVOUR=gpu bash infra/setup-tfjs-node.sh && bash infra/setup-ort-cuda.sh
# (plus the Temporal/MinIO binaries and Node 22 it already holds) copied along:
#   SIAMFACE_TOOLS_DIR=<that folder> (default: ./tools-cache if present, else ~/.cache/siamface/tools).
# Steps: no GPU -> exit 2 at once; install tfjs-node-gpu and the ONNX Runtime CUDA provider from
# the cache (no download); TensorFlow must create a GPU device; train-bench on the GPU at 112 and
# 224 px, batch 32 and 64; embed-engine-bench with ONNX Runtime's CUDA provider. Prints img/s and
# the peak GPU memory (nvidia-smi) of each step, and a summary; exit 0 only if every step passed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
TOTAL_S=470                                # leaves half a minute of the 8 for the summary
START=$SECONDS
OUT_DIR="${SIAMFACE_GPU_CHECK_OUT:-$ROOT/test-output/gpu-check}"
mkdir -p "$OUT_DIR"
failed=()
summary=()

say() { echo "[gpu-check] $*" >&2; }
fail_now() { say "FAIL: $1"; exit "${2:-1}"; }
left() { echo $((TOTAL_S - (SECONDS - START))); }
# Step budget: the smaller of what it asks for and what is left.
budget() { local l; l="$(left)"; (( l < $1 )) && echo "$l" || echo "$1"; }

# 1. A GPU, before anything slow.
command -v nvidia-smi >/dev/null 2>&1 || fail_now "no NVIDIA GPU: nvidia-smi is not on PATH (this check needs a CUDA machine)" 2
gpus="$(timeout 20 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1)" \
  || fail_now "no NVIDIA GPU: nvidia-smi failed: $(echo "$gpus" | head -1)" 2
[[ -n "$gpus" ]] || fail_now "no NVIDIA GPU: nvidia-smi lists none" 2
say "GPU: $gpus"

if [[ -z "${SIAMFACE_TOOLS_DIR:-}" && -d "$ROOT/tools-cache" ]]; then export SIAMFACE_TOOLS_DIR="$ROOT/tools-cache"; fi
TOOLS="${SIAMFACE_TOOLS_DIR:-$HOME/.cache/siamface/tools}"
[[ -d "$TOOLS" ]] || fail_now "no tools cache at $TOOLS (set SIAMFACE_TOOLS_DIR)"
if ! command -v node >/dev/null 2>&1; then
  node_bin="$(ls -d "$TOOLS"/node-*/bin 2>/dev/null | tail -1)"
  [[ -n "$node_bin" ]] || fail_now "node is not on PATH and $TOOLS has no node-*/bin"
  export PATH="$node_bin:$PATH"
fi
[[ -f node_modules/@tensorflow/tfjs/package.json ]] || fail_now "node_modules is missing: run npm ci where the registry is reachable and copy it along"
[[ -f dist/bench/train-bench.js ]] || fail_now "dist/ is missing: run npx tsc -p tsconfig.json first"
# train-bench writes its small data set from lfw-train (../shared/data, or shared/data carried inside).
if [[ -z "${SIAMFACE_SHARED_DATA:-}" && ! -d "$ROOT/../shared/data" && -d "$ROOT/shared/data" ]]; then export SIAMFACE_SHARED_DATA="$ROOT/shared/data"; fi
[[ -d "${SIAMFACE_SHARED_DATA:-$ROOT/../shared/data}/lfw-train" ]] || fail_now "no lfw-train in ${SIAMFACE_SHARED_DATA:-$ROOT/../shared/data} (set SIAMFACE_SHARED_DATA)"

# Runs a command and then prints the peak memory.used (MiB) nvidia-smi saw meanwhile.
with_gpu_memory() {
  local log="$1"; shift
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 250 > "$log.mem" 2>/dev/null &
  local sampler=$!
  "$@"; local rc=$?
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  echo "peak GPU memory $(sort -n "$log.mem" | tail -1) MiB"
  return $rc
}

# 2. Install both from the cache. The installers would download what the cache lacks: offline
#    they then skip, and the package check below says so.
timeout "$(budget 30)" env SIAMFACE_TFJS_FLAVOUR=gpu bash infra/setup-tfjs-node.sh 2>&1 | tee "$OUT_DIR/setup-tfjs-node-gpu.log" >&2
[[ -f node_modules/@tensorflow/tfjs-node-gpu/package.json ]] \
  || fail_now "tfjs-node-gpu was not installed (log: $OUT_DIR/setup-tfjs-node-gpu.log); is its cache in $TOOLS?"
timeout "$(budget 30)" bash infra/setup-ort-cuda.sh 2>&1 | tee "$OUT_DIR/setup-ort-cuda.log" >&2
ort_env="$(ls "$TOOLS"/onnxruntime-cuda-*/env.sh 2>/dev/null | tail -1)"

# Hopper has PTX for most of TensorFlow's kernels (SASS up to sm_89): the driver compiles what is
# used once into its cache; a large cache keeps it for the next run. Memory grows as needed, so
# nvidia-smi shows what the step used rather than TensorFlow's up-front reservation.
export CUDA_MODULE_LOADING=LAZY CUDA_CACHE_MAXSIZE=4294967296 TF_FORCE_GPU_ALLOW_GROWTH=true
export SIAMFACE_TF_BACKEND=tensorflow

# 3. TensorFlow sees the GPU.
probe="$OUT_DIR/tf-gpu-probe.log"
if timeout "$(budget 60)" env TF_CPP_MIN_LOG_LEVEL=0 node -e '
  const tf = require("@tensorflow/tfjs-node-gpu");
  const a = tf.randomNormal([2048, 2048], 0, 1, "float32", 1);
  const t0 = Date.now(); tf.matMul(a, a).dataSync(); console.log("first matMul " + (Date.now() - t0) + " ms, TF " + tf.backend().binding.TF_Version);
' > "$probe" 2>&1 && grep -q 'Created device .*GPU:0' "$probe"; then
  summary+=("tensorflow GPU device: $(grep -m1 -o 'Created device .*' "$probe" | cut -c1-160)")
else
  tail -20 "$probe" >&2
  fail_now "TensorFlow did not create a GPU device (log: $probe)"
fi

# 4. Training on the GPU. Each run starts its own private stack (Temporal/MinIO binaries from the cache).
# The first run pays for compiling the kernels' PTX; the second finds them in the driver's cache.
for batch in 32 64; do
  log="$OUT_DIR/train-b$batch.log"
  b="$(budget $(( batch == 32 ? 160 : 110 )))"
  if (( b < 40 )); then failed+=("train batch $batch: no time left"); continue; fi
  with_gpu_memory "$log" timeout "$b" node dist/bench/train-bench.js --backends tensorflow --sizes 112,224 \
    --batch "$batch" --steps 4 --warmup 2 --timeout $(( (b - 20) / 2 )) > "$log" 2>&1
  rc=$?
  json="$(grep '^{"bench":"train"' "$log" | tail -1)"
  if [[ $rc -ne 0 || -z "$json" ]]; then failed+=("train batch $batch (rc $rc, log $log)"); continue; fi
  lines="$(node -e '
    const r = JSON.parse(process.argv[1]);
    for (const x of r.results) console.log(`${x.size} px: ` + (x.error ? `FAILED ${x.error}` : `${x.imagesPerSec.toFixed(1)} img/s, ${x.detail}`));
  ' "$json")"
  while read -r line; do summary+=("train batch $batch pairs ($((2 * batch)) images/step) $line"); done <<<"$lines"
  [[ "$lines" == *FAILED* ]] && failed+=("train batch $batch: a size failed (log $log)")
  summary+=("train batch $batch: $(tail -1 "$log")")
done

# 5. Inference with ONNX Runtime's CUDA provider, its CUDA 13 libraries on LD_LIBRARY_PATH for this step only;
#    tfjs on its pure-JS backend just builds and exports the model, so no second CUDA stack shares the process.
for size in 112 224; do
  log="$OUT_DIR/embed-$size.log"
  b="$(budget 45)"
  if (( b < 20 )); then failed+=("onnx cuda $size px: no time left"); continue; fi
  with_gpu_memory "$log" timeout "$b" bash -c '[[ -n "$1" ]] && source "$1"; SIAMFACE_ORT_CUDA=1 SIAMFACE_TF_BACKEND=cpu node dist/bench/embed-engine-bench.js --size "$2" --batch 64 --runs 5 --onnx-only' _ "$ort_env" "$size" > "$log" 2>&1
  rc=$?
  json="$(grep '^{"size"' "$log" | tail -1)"
  if [[ $rc -ne 0 || -z "$json" ]]; then failed+=("onnx cuda $size px (rc $rc, log $log)"); continue; fi
  line="$(node -e 'const r = JSON.parse(process.argv[1]); console.log(`${r.onnx.engine} ${r.onnx.imagesPerSecond} img/s (ONNX export ${r.exportMs} ms, ${r.onnxMiB} MiB)`)' "$json")"
  summary+=("embed $size px batch 64: $line; $(tail -1 "$log")")
  [[ "$line" == *"(cuda"* ]] || failed+=("onnx $size px ran without the CUDA provider (log $log)")
done

echo
echo "GPU check ($gpus), $((SECONDS - START)) s, logs in $OUT_DIR"
for s in "${summary[@]}"; do echo "  $s"; done
if (( ${#failed[@]} )); then
  for f in "${failed[@]}"; do echo "  FAILED: $f"; done
  exit 1
fi
echo "  all steps passed"
