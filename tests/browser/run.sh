#!/usr/bin/env bash
# The browser tests: the whole flow in Debian's headless Chromium, driven by playwright-core
# (pinned in package.json, installed by `npm ci`), checked with axe-core on every screen.
# scripts/test.sh runs this after the Rust tests, with the local stack up and WATCH_URL,
# SES_STORE_URL, PUBLIC_BASE_URL, AWS_ENDPOINT_URL_DYNAMODB, USERS_TABLE, … exported.
# Screenshots land in .local/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf '==> %s\n' "$*"; }

apt_updated=
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "error: $* missing and not root to install it: run 'sudo apt-get install -y $*'" >&2
    exit 1
  fi
  if [ -z "$apt_updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Debian's Chromium (a browser download of playwright's own would fail here, and is not wanted).
if [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium and chromium-driver with apt-get (once; a minute or two)"
  apt_install chromium chromium-driver
fi
# Japanese glyphs for the pages and their screenshots.
if ! fc-list 2>/dev/null | grep -i 'cjk' >/dev/null; then
  say "installing fonts-noto-cjk with apt-get (Japanese glyphs for the screenshots)"
  apt_install fonts-noto-cjk
fi
if [ ! -d node_modules/playwright-core ] || [ ! -f node_modules/axe-core/axe.min.js ]; then
  say "installing the pinned npm tools (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

say "$(/usr/bin/chromium --version 2>/dev/null | head -n 1), playwright-core $(node -p 'require("playwright-core/package.json").version'), axe-core $(node -p 'require("axe-core/package.json").version')"
export WATCH_URL=${WATCH_URL:-http://127.0.0.1:9000}
node --test tests/browser/
