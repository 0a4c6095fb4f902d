#!/usr/bin/env bash
# zmq-labs launcher for Linux and macOS: makes sure pnpm and the dependencies are there, then hands
# over to the kit's CLI (packages/kit/src/cli.ts), which does the real work. `./run.sh help` for usage.
set -euo pipefail
cd "$(dirname "$0")"

die() { echo "run.sh: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "Node.js 20.19 or newer is needed (https://nodejs.org)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || die "Node.js 20.19 or newer is needed; this is $(node --version)"

PNPM_VERSION=$(node -p 'require("./package.json").packageManager.split("@")[1]')
LOCAL_PNPM=.tools/pnpm/node_modules/.bin/pnpm

# pnpm: the one on PATH if it is version 10 or newer, else corepack's, else a private copy under .tools/.
find_pnpm() {
  if command -v pnpm >/dev/null 2>&1 && [ "$(pnpm --version 2>/dev/null | cut -d. -f1)" -ge 10 ] 2>/dev/null; then
    PNPM=(pnpm); return
  fi
  if [ -x "$LOCAL_PNPM" ]; then PNPM=("$LOCAL_PNPM"); return; fi
  if command -v corepack >/dev/null 2>&1 && COREPACK_ENABLE_DOWNLOAD_PROMPT=0 corepack pnpm --version >/dev/null 2>&1; then
    PNPM=(corepack pnpm); return
  fi
  echo "run.sh: installing pnpm $PNPM_VERSION into .tools/ (once)" >&2
  npm install --prefix .tools/pnpm --no-audit --no-fund --loglevel=error "pnpm@$PNPM_VERSION" >&2 \
    || die "could not install pnpm with npm"
  PNPM=("$LOCAL_PNPM")
}

# Install when node_modules is missing or older than the lockfile (or the package.json files).
STAMP=node_modules/.zlabs-installed
needs_install() {
  [ "${CI:-}" = "true" ] || [ ! -f "$STAMP" ] || [ -n "$(find pnpm-lock.yaml package.json labs/*/package.json packages/*/package.json -newer "$STAMP" 2>/dev/null | head -n 1)" ]
}

find_pnpm
if needs_install; then
  echo "run.sh: installing dependencies" >&2
  if [ "${CI:-}" = "true" ]; then "${PNPM[@]}" install --frozen-lockfile >&2; else "${PNPM[@]}" install >&2; fi
  touch "$STAMP"
fi

export PATH="$PWD/node_modules/.bin:$PATH"
exec node packages/kit/bin/zlabs.mjs "$@"
