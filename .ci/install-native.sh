#!/usr/bin/env bash
# Install OpenBLAS (Debian/Ubuntu) and build the native GEMM addon, failing
# loudly if it cannot be built: CI must exercise the native path.
#
# Call from .ci/run after `npm ci` (whose "install" script already tries the
# build and skips quietly when OpenBLAS is missing), then run the tests twice:
#   npm test                      # native openblas path (the default when built)
#   PEFT_TS_GEMM=js npm test      # the JS fallback path
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -e /usr/include/cblas.h ] && [ ! -e /usr/include/x86_64-linux-gnu/cblas.h ] && [ ! -e /usr/include/aarch64-linux-gnu/cblas.h ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenblas-dev >/dev/null
  else
    echo "[ci] no apt-get: install OpenBLAS's development files by hand" >&2
  fi
fi

PEFT_TS_REQUIRE_NATIVE=1 node native/build.mjs
# The library must pick it up: PEFT_TS_GEMM=native makes a missing addon an error.
PEFT_TS_GEMM=native npx tsx -e '
  import("./src/backend/index.ts")
    .then(({ initBackend }) => initBackend({ quiet: true }))
    .then((r) => console.log(`[ci] gemm: ${r.gemm.path} (${r.gemm.detail})`))
    .catch((e) => { console.error(e); process.exit(1); });
'
