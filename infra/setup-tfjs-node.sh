#!/usr/bin/env bash
# Makes `require('@tensorflow/tfjs-node')` (or, with the GPU flavour, '@tensorflow/tfjs-node-gpu')
# work on a machine that reaches package registries but not the internet. tfjs-node's own install
# script downloads libtensorflow from Google's storage; here the same TensorFlow C library comes
# from TensorFlow's PyPI wheel instead:
#   1. pip download $TF_WHEEL==$TF_VERSION (manylinux x86_64 wheel, sha256 pinned);
#      its libtensorflow_cc.so.2 exports the full C and eager C API (TF_*, TFE_*) that the
#      binding calls, libtensorflow_framework.so.2 is its companion, include/ has the C headers;
#   2. npm pack the tfjs-node package at $TFJS_NODE_VERSION, its runtime dependencies installed
#      nested in the package (without @tensorflow/tfjs: it must resolve to the project's copy so
#      the native backend registers on the same tfjs-core);
#   3. build binding/tfjs_binding.node with node-gyp against those headers and libraries.
# Flavours (SIAMFACE_TFJS_FLAVOUR=cpu|gpu, or --gpu):
#   cpu (default): @tensorflow/tfjs-node on the tensorflow-cpu wheel;
#   gpu: @tensorflow/tfjs-node-gpu on the `tensorflow` wheel (CUDA 12 kernels, PTX for sm_90, so
#        Hopper runs it), plus the NVIDIA runtime wheels its `and-cuda` extra pins (CUDA runtime,
#        cuBLAS, cuDNN, cuFFT, cuRAND, cuSOLVER, cuSPARSE, NCCL, nvJitLink, NVRTC), their
#        libraries unpacked beside libtensorflow_cc.so.2. Every one of those libraries has $ORIGIN
#        in its RUNPATH (TensorFlow's too), so they find each other there: no LD_LIBRARY_PATH.
#        Only the NVIDIA driver (libcuda.so.1) comes from the machine. Needs no GPU to build;
#        without a driver TensorFlow runs on the CPU (and logs three harmless "Unable to register
#        cuFFT/cuDNN/cuBLAS factory" lines, as 2.17 does everywhere).
# Everything lands in a tools cache outside the repository, keyed by versions, built once:
#   ${SIAMFACE_TOOLS_DIR:-~/.cache/siamface/tools}/tfjs-node[-gpu]-<ver>-tf<ver>-linux-x64-napi<N>/
# Each run (cold or warm) then copies the package (a few MB) into node_modules and links its
# deps/ folder (the TensorFlow libraries) to the cache, so a later `npm install` that removes or
# replaces the package is repaired by running this script again (seconds). A cache copied to a
# machine without any registry (same path or SIAMFACE_TOOLS_DIR) installs from it alone.
#
# Exit status: 0 when the package works, or when it cannot be provided here (one line starting
# "[tfjs-node] skipped:" says why; the project then falls back to the next backend);
# non-zero only on unexpected failures (a build or check that should have worked did not).
# Env: SIAMFACE_TFJS_NODE=skip to do nothing; SIAMFACE_TF_WHEEL_VERSION to try another wheel.
set -euo pipefail

TFJS_NODE_VERSION="4.22.0"                 # must equal the @tensorflow/tfjs it pairs with
FLAVOUR="${SIAMFACE_TFJS_FLAVOUR:-cpu}"
[[ "${1:-}" == "--gpu" ]] && FLAVOUR=gpu
case "$FLAVOUR" in
  cpu)
    PKG_NAME="tfjs-node"
    TF_WHEEL="tensorflow-cpu"
    TF_VERSION_DEFAULT="2.12.1"            # oldest wheel for CPython 3.11; C API checked below
    TF_WHEEL_SHA256_DEFAULT="7ffb595707a8fb376deaddc768784c7a0242b16cbc6e06393b1733b2ce19f855"
    NVIDIA_WHEELS=()
    FALLBACK="the wasm backend will be used"
    ;;
  gpu)
    PKG_NAME="tfjs-node-gpu"
    TF_WHEEL="tensorflow"
    # 2.17.1, 2.18.1 and 2.19.0 all pass the C API check below; 2.17, the first tried, is pinned.
    # Their kernels are alike: SASS for sm_60/70/80/89, PTX for compute_90 (Hopper JIT-compiles it).
    TF_VERSION_DEFAULT="2.17.1"
    TF_WHEEL_SHA256_DEFAULT="68841e17e573301d8ba9192f929b8096b0b341567cb81414096305c723de68d0"
    # tensorflow==2.17.1's `and-cuda` extra (METADATA), without cupti (profiling) and nvcc (ptxas,
    # for XLA, which the C API's eager ops do not use). name==version sha256
    NVIDIA_WHEELS=(
      "nvidia-cublas-cu12==12.3.4.1 9b25b27bd5a5be1cc7e83a7b8004258daa338800798e22986e5b67ee06f0859d"
      "nvidia-cuda-nvrtc-cu12==12.3.107 4db66788a37a234304a0b3203744f9a6c665f48bde65f69a096ae3b5799b5b1d"
      "nvidia-cuda-runtime-cu12==12.3.101 04604679ddca6acb96c76a7a9306282cddc16981f92e148e2dfe227078883cda"
      "nvidia-cudnn-cu12==8.9.7.29 adf4f59ed7a1341103822ed8df6e144f4d47ea8b10d9bf0ea0047ba738fd7b02"
      "nvidia-cufft-cu12==11.0.12.1 3b2c85d24d7dcc578720fdf39e2823950b5857e85164c3c1dc97184a8a8e0398"
      "nvidia-curand-cu12==10.3.4.107 d798db82ae445cf1d8bf6af9ca3bd6bb6cc87753c229a441cf8d2597b09332e5"
      "nvidia-cusolver-cu12==11.5.4.101 783a3279553feaf8e47af12cab1fa769ffd5e644ea876db3dc2252f35f9bf256"
      "nvidia-cusparse-cu12==12.2.0.103 fe9e17daf406c98c28fbc8bcf785ecd4db301bf02ce626de6aa1046de66f84bd"
      "nvidia-nccl-cu12==2.19.3 a9734707a2c96443331c1e48c717024aa6678a0e2a4cb66b2c364d18cee6b48d"
      "nvidia-nvjitlink-cu12==12.3.101 64335a8088e2b9d196ae8665430bc6a2b7e6ef2eb877a9c735c804bd4ff6467c"
    )
    FALLBACK="the GPU worker falls back to tfjs-node or wasm"
    ;;
  *) echo "[tfjs-node] error: SIAMFACE_TFJS_FLAVOUR must be cpu or gpu, not '$FLAVOUR'" >&2; exit 1 ;;
esac
TF_VERSION="${SIAMFACE_TF_WHEEL_VERSION:-$TF_VERSION_DEFAULT}"
# The wheel's libraries do not depend on the Python version; pin one tag for a repeatable pick.
WHEEL_PYTHON="3.11"
WHEEL_PLATFORM="manylinux2014_x86_64"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${SIAMFACE_TOOLS_DIR:-$HOME/.cache/siamface/tools}"
DEST="$ROOT/node_modules/@tensorflow/$PKG_NAME"
START_S=$SECONDS

log() { echo "[tfjs-node] $*" >&2; }
# A reason this machine cannot have tfjs-node: not an error, the wasm backend takes over.
skip() { echo "[tfjs-node] skipped: $*; $FALLBACK"; exit 0; }
die() { echo "[tfjs-node] error: $*" >&2; exit 1; }

# Loads the package from the project and runs one op on the native backend. Prints the reason on failure.
tfjs_node_works() {
  (cd "$ROOT" && TF_CPP_MIN_LOG_LEVEL=3 node -e '
    const tf = require("@tensorflow/" + process.argv[1]);
    if (tf.getBackend() !== "tensorflow") throw new Error("backend is " + tf.getBackend() + ", not tensorflow");
    const v = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()[0];
    if (v !== 11) throw new Error("matMul gave " + v);
  ' "$PKG_NAME" 2>&1)
}

[[ "${SIAMFACE_TFJS_NODE:-}" == "skip" ]] && skip "SIAMFACE_TFJS_NODE=skip"
command -v node >/dev/null 2>&1 || die "node is not on PATH"
[[ -f "$ROOT/node_modules/@tensorflow/tfjs/package.json" ]] \
  || die "$ROOT/node_modules/@tensorflow/tfjs is missing: run 'npm ci' (or npm install) before this script"
TFJS_VERSION="$(node -p "require('$ROOT/node_modules/@tensorflow/tfjs/package.json').version")"
[[ "$TFJS_VERSION" == "$TFJS_NODE_VERSION" ]] \
  || skip "installed @tensorflow/tfjs is $TFJS_VERSION but this script provides $PKG_NAME $TFJS_NODE_VERSION (update TFJS_NODE_VERSION in $0)"

if why="$(tfjs_node_works)"; then
  log "already working: @tensorflow/$PKG_NAME loads and runs (nothing to do)"
  exit 0
fi
[[ -e "$DEST" ]] && log "present but not working ($(echo "$why" | grep -m1 -E 'Error|error' || echo "$why" | head -1)); replacing it"

[[ "$(uname -s)" == "Linux" && "$(uname -m)" == "x86_64" ]] \
  || skip "only Linux x86_64 is supported by this script (this is $(uname -s) $(uname -m)); use npm's own tfjs-node install where the internet is reachable"

# The binding is built for the highest N-API version tfjs-node ships for that node supports, the
# one @mapbox/node-pre-gyp's find() picks at require time.
NAPI="$(node -p 'Math.min(8, Number(process.versions.napi))')"
[[ "$NAPI" -ge 3 ]] || skip "node $(node -v) supports N-API $NAPI only; tfjs-node needs >= 3"
CACHE="$TOOLS_DIR/$PKG_NAME-$TFJS_NODE_VERSION-tf$TF_VERSION-linux-x64-napi$NAPI"

# Finds the C/C++ headers of the running node so node-gyp does not try to download them.
node_headers_dir() {
  local candidates=("$(npm config get nodedir 2>/dev/null || true)" "$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")")
  local v; v="$(node -p 'process.versions.node')"
  candidates+=("$HOME/.cache/node-gyp/$v" "$HOME/.node-gyp/$v")
  for d in "${candidates[@]}"; do
    [[ -n "$d" && "$d" != "undefined" && -f "$d/include/node/node_api.h" && -f "$d/include/node/common.gypi" ]] && { echo "$d"; return 0; }
  done
  return 1
}

# node-gyp bundled with npm (no download), else from the npm registry.
node_gyp() {
  local bundled
  bundled="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  if [[ -f "$bundled" ]]; then node "$bundled" "$@"; else npm exec --yes --package=node-gyp@11 -- node-gyp "$@"; fi
}

# TF_*/TFE_* functions the binding calls, read from its sources (inline helpers excluded).
binding_symbols() {
  grep -ohE '\bTFE?_[A-Za-z0-9_]+\(' "$1"/binding/*.cc "$1"/binding/*.h | tr -d '(' \
    | grep -vE '^TF_(AutoStatus|AutoTensor|TString_)|^TFE_AutoOp' | sort -u
}

build_cache() {
  local work="$CACHE.tmp.$$"
  rm -rf "$work" && mkdir -p "$work/wheel" "$work/deps/lib" "$work/deps/include"
  trap 'rm -rf "$work"' EXIT

  command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 || skip "python3 with pip is needed to fetch TensorFlow from PyPI"
  for tool in g++ make; do command -v "$tool" >/dev/null 2>&1 || skip "$tool is needed to build the tfjs-node binding (Debian: apt-get install build-essential)"; done
  local nodedir; nodedir="$(node_headers_dir)" || skip "no headers for node $(node -v) found (Debian: install the nodejs dev headers, or the nodejs.org tarball, which has include/node)"

  log "building the cache once (downloads $([[ $FLAVOUR == gpu ]] && echo "~2.3 GB, a few minutes" || echo "~230 MB, a minute or two")): $CACHE"
  local req="$work/requirements.txt"
  if [[ "$TF_VERSION" == "$TF_VERSION_DEFAULT" ]]; then
    echo "$TF_WHEEL==$TF_VERSION --hash=sha256:$TF_WHEEL_SHA256_DEFAULT" > "$req"
  else
    echo "$TF_WHEEL==$TF_VERSION" > "$req"
  fi
  # pip checks all hashes or none: with another TensorFlow version the NVIDIA pins go unhashed too.
  local w
  for w in "${NVIDIA_WHEELS[@]}"; do
    if [[ "$TF_VERSION" == "$TF_VERSION_DEFAULT" ]]; then echo "${w% *} --hash=sha256:${w#* }"; else echo "${w% *}"; fi
  done >> "$req"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --implementation cp --python-version "$WHEEL_PYTHON" --platform "$WHEEL_PLATFORM" \
      -r "$req" -d "$work/wheel" >&2 \
    || skip "pip could not download $TF_WHEEL==$TF_VERSION$([[ $FLAVOUR == gpu ]] && echo " and its NVIDIA wheels") ($WHEEL_PLATFORM, cp${WHEEL_PYTHON/./}) from PyPI (not reachable?)"
  local whl; whl="$(ls "$work"/wheel/"${TF_WHEEL//-/_}"-*.whl)"

  # Only the two libraries and the C API headers (plus the tstring/status headers they include).
  python3 - "$whl" "$work/deps" "$work"/wheel/nvidia_*.whl <<'PY' || die "could not unpack the TensorFlow (and NVIDIA) libraries from the wheels"
import fnmatch, os, shutil, sys, zipfile
whl, deps, nvidia = sys.argv[1], sys.argv[2], sys.argv[3:]
libs = {"tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"}
headers = ("tensorflow/include/tensorflow/c/", "tensorflow/include/tensorflow/core/platform/",
           "tensorflow/include/tensorflow/tsl/", "tensorflow/include/tsl/", "tensorflow/include/xla/tsl/")
found = set()
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        name = info.filename
        if name in libs:
            target = os.path.join(deps, "lib", os.path.basename(name)); found.add(name)
        elif name.startswith(headers) and name.endswith(".h"):
            target = os.path.join(deps, "include", name[len("tensorflow/include/"):])
        else:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
missing = libs - found
if missing:
    sys.exit("wheel lacks " + ", ".join(sorted(missing)))
# NVIDIA's shared libraries, flat beside TensorFlow's: each finds the others through $ORIGIN.
for path in nvidia:
    if "*" in path:
        continue  # the CPU flavour: the glob matched nothing
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if fnmatch.fnmatch(n, "nvidia/*/lib/*.so*")]
        if not names:
            sys.exit(os.path.basename(path) + " has no nvidia/*/lib/*.so*")
        for name in names:
            with z.open(name) as src, open(os.path.join(deps, "lib", os.path.basename(name)), "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
PY
  rm -rf "$work/wheel"
  # TensorFlow dlopens the CUDA libraries only when a GPU is there: check now that each one's
  # own dependencies resolve from the folder (libcuda.so.1 is the driver's, on GPU machines only).
  if [[ "$FLAVOUR" == gpu ]] && command -v ldd >/dev/null 2>&1; then
    local unresolved
    unresolved="$(cd "$work/deps/lib" && for f in lib*.so*; do ldd "./$f" 2>/dev/null | awk -v f="$f" '/not found/ && $1 != "libcuda.so.1" {print f ": " $1}'; done)"
    [[ -z "$unresolved" ]] || die "NVIDIA libraries with unresolved dependencies: $(echo $unresolved)"
  fi
  # The binding links -ltensorflow -ltensorflow_framework; the wheel's C API library is libtensorflow_cc.
  ln -s libtensorflow_cc.so.2 "$work/deps/lib/libtensorflow.so"
  ln -s libtensorflow_framework.so.2 "$work/deps/lib/libtensorflow_framework.so"
  [[ -f "$work/deps/include/tensorflow/c/c_api.h" && -f "$work/deps/include/tensorflow/c/eager/c_api.h" ]] \
    || skip "the $TF_WHEEL $TF_VERSION wheel has no C API headers"

  (cd "$work" && npm pack --silent "@tensorflow/$PKG_NAME@$TFJS_NODE_VERSION" >/dev/null 2>&1) \
    || skip "npm could not fetch @tensorflow/$PKG_NAME@$TFJS_NODE_VERSION (registry not reachable?)"
  tar -xzf "$work/tensorflow-$PKG_NAME-$TFJS_NODE_VERSION.tgz" -C "$work" && rm "$work"/*.tgz
  local pkg="$work/package"

  # Node loads addons lazily: a C function missing from the library would only fail when called.
  if command -v nm >/dev/null 2>&1; then
    local missing
    missing="$(comm -23 <(binding_symbols "$pkg") \
      <(nm -D --defined-only "$work"/deps/lib/libtensorflow_cc.so.2 "$work"/deps/lib/libtensorflow_framework.so.2 | awk '{print $3}' | sed 's/@.*//' | sort -u))"
    [[ -z "$missing" ]] || skip "$TF_WHEEL $TF_VERSION lacks C API functions the binding calls: $(echo $missing)"
  fi

  # Runtime dependencies, nested in the package; @tensorflow/tfjs stays the project's own.
  mkdir -p "$work/npm-deps"
  node -e '
    const p = require(process.argv[1]); const deps = { ...p.dependencies };
    for (const k of Object.keys(deps)) if (k.startsWith("@tensorflow/")) delete deps[k];
    require("fs").writeFileSync(process.argv[2], JSON.stringify({ name: "tfjs-node-runtime-deps", private: true, dependencies: deps }));
  ' "$pkg/package.json" "$work/npm-deps/package.json"
  (cd "$work/npm-deps" && npm install --silent --omit=dev --ignore-scripts --no-audit --no-fund >&2) \
    || skip "npm could not install tfjs-node's dependencies (registry not reachable?)"
  mv "$work/npm-deps/node_modules" "$pkg/node_modules" && rm -rf "$work/npm-deps"

  log "compiling the binding (node-gyp, headers from $nodedir)"
  ln -s "$work/deps" "$pkg/deps"
  (cd "$pkg" && node_gyp rebuild --nodedir="$nodedir" --jobs=2 \
      --module_name=tfjs_binding --module_path="$pkg/lib/napi-v$NAPI" --napi_build_version="$NAPI" >"$work/node-gyp.log" 2>&1) \
    || { tail -30 "$work/node-gyp.log" >&2; die "node-gyp could not build the tfjs-node binding (log above)"; }
  [[ -f "$pkg/lib/napi-v$NAPI/tfjs_binding.node" ]] || die "node-gyp finished but $pkg/lib/napi-v$NAPI/tfjs_binding.node is missing"
  # Headers and objects were only needed to compile; deps/ is linked to the cache at install.
  rm -rf "$pkg/build" "$pkg/deps" "$work/deps/include" "$work/node-gyp.log"
  cat > "$work/MANIFEST" <<EOF
@tensorflow/$PKG_NAME $TFJS_NODE_VERSION (npm), binding built for N-API $NAPI with node $(node -v)
TensorFlow C library from PyPI $TF_WHEEL==$TF_VERSION ($(basename "$whl"))
built $(date -u +%Y-%m-%dT%H:%M:%SZ) by infra/setup-tfjs-node.sh
EOF
  for w in "${NVIDIA_WHEELS[@]}"; do echo "NVIDIA libraries from PyPI ${w% *}"; done >> "$work/MANIFEST"
  rm -rf "$CACHE" && mv "$work" "$CACHE"
  trap - EXIT
}

install_into_project() {
  local tmp="$DEST.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$(dirname "$DEST")"
  cp -a "$CACHE/package" "$tmp"
  # The binding finds the libraries through its rpath $ORIGIN/../../deps/lib.
  ln -s "$CACHE/deps" "$tmp/deps"
  rm -rf "$DEST" && mv "$tmp" "$DEST"
}

mkdir -p "$TOOLS_DIR"
# One builder at a time per cache (a developer and CI may run this together).
exec 9>"$TOOLS_DIR/.tfjs-node.lock"
command -v flock >/dev/null 2>&1 && flock 9
if [[ -f "$CACHE/MANIFEST" && -f "$CACHE/package/lib/napi-v$NAPI/tfjs_binding.node" && -f "$CACHE/deps/lib/libtensorflow_cc.so.2" ]]; then
  log "using the cached build $CACHE"
else
  build_cache
fi
install_into_project
if ! why="$(tfjs_node_works)"; then
  rm -rf "$DEST"
  echo "$why" | tail -15 >&2
  die "$PKG_NAME was installed from $CACHE but does not load (error above); removed it again. Delete $CACHE to rebuild."
fi
echo "[tfjs-node] ready: @tensorflow/$PKG_NAME $TFJS_NODE_VERSION on TensorFlow $TF_VERSION (PyPI $TF_WHEEL), linked from $CACHE ($((SECONDS - START_S)) s)"
