#!/usr/bin/env bash
# zmq-labs launcher for Linux and macOS: checks Node, makes sure the dependencies are installed
# (packages/kit/bin/bootstrap.mjs: finds or installs pnpm only when an install is due, says one
# line per step, never waits on a prompt), then hands over to the kit's CLI
# (packages/kit/src/cli.ts), which does the real work. `./run.sh help` for usage.
set -euo pipefail
# Relative paths the user gives a role (--files ./x.bin) are relative to where the user is.
export ZLABS_USER_CWD="${ZLABS_USER_CWD:-$PWD}"
cd "$(dirname "$0")"

die() { echo "run.sh: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "Node.js 20.19 or newer is needed (https://nodejs.org)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' </dev/null \
  || die "Node.js 20.19 or newer is needed; this is $(node --version)"
echo "run.sh: node $(node --version)" >&2

if [ "${1:-}" = "install" ]; then
  node packages/kit/bin/bootstrap.mjs run.sh --force </dev/null
  exit 0
fi
node packages/kit/bin/bootstrap.mjs run.sh </dev/null

export PATH="$PWD/node_modules/.bin:$PATH"
exec node packages/kit/bin/zlabs.mjs "$@"
