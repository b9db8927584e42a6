#!/usr/bin/env bash
# Compiles native/ for 64-bit and 32-bit ARM (Raspberry Pi) with Debian's cross compilers, with
# warnings as errors, to keep the addon portable (no x86-only code). Objects only: linking needs
# the target's Node, which the Pi has.
#   scripts/cross-compile.sh [TRIPLET ...]   default: aarch64-linux-gnu arm-linux-gnueabihf
set -euo pipefail
cd "$(dirname "$0")/.."
triplets=("$@")
((${#triplets[@]})) || triplets=(aarch64-linux-gnu arm-linux-gnueabihf)
# Node's headers: where node-gyp is told to look (nodedir), else next to the node binary.
node_inc=""
for d in "$(npm config get nodedir 2>/dev/null)/include/node" "$(dirname "$(dirname "$(command -v node)")")/include/node" /usr/include/node; do
  if [ -f "$d/node_api.h" ]; then node_inc=$d; break; fi
done
[ -n "$node_inc" ] || { echo "cross-compile: Node's headers (node_api.h) not found" >&2; exit 3; }
napi_inc=$(node -p "require('node-addon-api').include_dir")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=(-Wall -Wextra -Wno-unused-parameter -Werror -O2 -fPIC -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -I"$node_inc" -I"$napi_inc")
for t in "${triplets[@]}"; do
  if ! command -v "$t-gcc" >/dev/null; then
    echo "cross-compile: $t-gcc not found (apt-get install -y g++-$t)" >&2
    exit 3
  fi
  for src in native/src/*.c; do "$t-gcc" -std=gnu11 "${flags[@]}" -c "$src" -o "$out/$(basename "$src").o"; done
  for src in native/src/*.cc; do "$t-g++" -std=c++17 "${flags[@]}" -c "$src" -o "$out/$(basename "$src").o"; done
  echo "cross-compile: native/ compiles cleanly for $t"
done
