#!/usr/bin/env bash
# Gives onnxruntime-node its CUDA execution provider without the internet. The npm package ships
# the CPU build only; its install script would fetch the provider from NuGet (Microsoft.ML.
# OnnxRuntime.Gpu.Linux), which this machine cannot reach. The same provider, built from the same
# release, is in the onnxruntime-gpu wheel on PyPI, and the CUDA libraries it needs are NVIDIA's
# wheels (the versions its `cuda`/`cudnn` extras allow, pinned):
#   1. pip download them (sha256 pinned) into the tools cache,
#      ${SIAMFACE_TOOLS_DIR:-~/.cache/siamface/tools}/onnxruntime-cuda-<ver>-linux-x64/lib/;
#   2. copy libonnxruntime_providers_{shared,cuda}.so beside onnxruntime-node's libonnxruntime.so.1,
#      where its own install script puts them and where the library looks for them.
# The provider library has no RUNPATH, so a process that asks for CUDA (SIAMFACE_ORT_CUDA=1) needs
# the cache's lib/ on LD_LIBRARY_PATH: `source <cache>/env.sh`. It is CUDA 13 (driver >= 580);
# tfjs-node-gpu's CUDA 12 libraries have other sonames, except libcurand.so.10, which TensorFlow
# then loads from here too (both are CUDA-major-independent cuRAND 10).
# Exit status: 0 when installed, or "[ort-cuda] skipped: ..." when it cannot be had here.
set -euo pipefail

ORT_VERSION="1.30.0"                       # must equal the installed onnxruntime-node
# name==version sha256; onnxruntime-gpu 1.30.0's extras: cuda runtime/nvrtc ~=13.0, cufft ~=12.0,
# curand ~=10.0, cudnn-cu13 ~=9.0; cuBLAS 13 and nvJitLink 13 are what those libraries link.
ORT_WHEELS=(
  "onnxruntime-gpu==1.30.0 4fbf0c5d7b5fb99266c2e8a802e3e64af68bdc383e0f3c7349b985f1087eedaa"
  "nvidia-cuda-runtime==13.5.37 df2b79a8852f10d1fef8c848489c49eebb5754051bf870202a862831412b179d"
  "nvidia-cuda-nvrtc==13.5.37 86b4d68058807988b7d9af5b44917a0601e9c337f35ccd657bfb3c759ff8d8bc"
  "nvidia-cublas==13.10.0.20 dcc6d63884c53d07e267ce7e6feac17b2538cebaafec5db865736c3e28e4dc84"
  "nvidia-cudnn-cu13==9.28.1.4 a54f205b1db1f2895d99f398754db1369816f0569dd459731f925635cf7b65ec"
  "nvidia-cufft==12.5.0.14 b8be26837a5abad2b5b74f3e92dd29f622a42934b355be0961a48712cbba23ad"
  "nvidia-curand==10.4.5.25 22bb226a857e5888fe6b54ae465fc4371296bcff13a35f79e19691bcf454f529"
  "nvidia-nvjitlink==13.5.37 280d7cb9649704145f074b8dbde500de04ce02d0872e066e20a83c17bcaa93eb"
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${SIAMFACE_TOOLS_DIR:-$HOME/.cache/siamface/tools}"
CACHE="$TOOLS_DIR/onnxruntime-cuda-$ORT_VERSION-linux-x64"
BIN="$ROOT/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
PROVIDERS=(libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so)

log() { echo "[ort-cuda] $*" >&2; }
skip() { echo "[ort-cuda] skipped: $*; onnxruntime runs on the CPU"; exit 0; }
die() { echo "[ort-cuda] error: $*" >&2; exit 1; }

[[ "$(uname -s)" == "Linux" && "$(uname -m)" == "x86_64" ]] || skip "only Linux x86_64 has a CUDA provider here"
[[ -f "$BIN/libonnxruntime.so.1" ]] || die "$BIN/libonnxruntime.so.1 is missing: run 'npm ci' first"
installed="$(node -p "require('$ROOT/node_modules/onnxruntime-node/package.json').version")"
[[ "$installed" == "$ORT_VERSION" ]] || skip "onnxruntime-node is $installed, this script provides the $ORT_VERSION provider (update ORT_WHEELS in $0)"

build_cache() {
  local work="$CACHE.tmp.$$"
  rm -rf "$work" && mkdir -p "$work/wheel" "$work/lib"
  trap 'rm -rf "$work"' EXIT
  command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 || skip "python3 with pip is needed to fetch the wheels from PyPI"
  log "building the cache once (downloads ~1.5 GB): $CACHE"
  local w
  for w in "${ORT_WHEELS[@]}"; do echo "${w% *} --hash=sha256:${w#* }"; done > "$work/requirements.txt"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --implementation cp --python-version 3.11 --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64 \
      -r "$work/requirements.txt" -d "$work/wheel" >&2 \
    || skip "pip could not download the onnxruntime-gpu and NVIDIA wheels from PyPI (not reachable?)"
  # The two provider libraries and NVIDIA's shared libraries, flat: cuDNN and cuBLAS find their
  # parts through $ORIGIN.
  python3 - "$work/lib" "$work"/wheel/*.whl <<'PY' || die "could not unpack the wheels"
import fnmatch, os, shutil, sys, zipfile
lib, wheels = sys.argv[1], sys.argv[2:]
want = ("onnxruntime/capi/libonnxruntime_providers_shared.so", "onnxruntime/capi/libonnxruntime_providers_cuda.so")
for path in wheels:
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name in want or fnmatch.fnmatch(name, "nvidia/*/lib/*.so*") or fnmatch.fnmatch(name, "nvidia/cu*/lib/*.so*"):
                with z.open(name) as src, open(os.path.join(lib, os.path.basename(name)), "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
PY
  rm -rf "$work/wheel"
  local p; for p in "${PROVIDERS[@]}"; do [[ -f "$work/lib/$p" ]] || die "onnxruntime-gpu wheel lacks $p"; done
  # Everything the provider links must resolve from lib/ alone (libcuda.so.1 is the driver's).
  local unresolved
  unresolved="$(LD_LIBRARY_PATH="$work/lib" ldd "$work/lib/libonnxruntime_providers_cuda.so" | awk '/not found/ && $1 != "libcuda.so.1" {print $1}')"
  [[ -z "$unresolved" ]] || die "the CUDA provider needs libraries the wheels lack: $(echo $unresolved)"
  echo "export LD_LIBRARY_PATH=\"$CACHE/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\"" > "$work/env.sh"
  { echo "onnxruntime-node $ORT_VERSION CUDA execution provider, from PyPI:"; for w in "${ORT_WHEELS[@]}"; do echo "  ${w% *}"; done
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) by infra/setup-ort-cuda.sh"; } > "$work/MANIFEST"
  rm -rf "$CACHE" && mv "$work" "$CACHE"
  trap - EXIT
}

mkdir -p "$TOOLS_DIR"
exec 9>"$TOOLS_DIR/.ort-cuda.lock"
command -v flock >/dev/null 2>&1 && flock 9
if [[ -f "$CACHE/MANIFEST" ]]; then log "using the cached build $CACHE"; else build_cache; fi
for p in "${PROVIDERS[@]}"; do cp "$CACHE/lib/$p" "$BIN/$p"; done
echo "[ort-cuda] ready: onnxruntime-node $ORT_VERSION CUDA provider in $BIN; before SIAMFACE_ORT_CUDA=1: source $CACHE/env.sh"
