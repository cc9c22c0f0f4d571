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
# As root, or through password-less sudo (the CI runner).
apt_install() {
  local as_root=()
  if [ "$(id -u)" != 0 ]; then
    if sudo -n true 2>/dev/null; then
      as_root=(sudo -n)
    else
      echo "error: $* missing and not root to install it: run 'sudo apt-get install -y $*'" >&2
      exit 1
    fi
  fi
  if [ -z "$apt_updated" ]; then
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The browser: CHROMIUM_PATH when set (the CI runner's preinstalled Google Chrome: Ubuntu 24.04's
# apt "chromium" is only a snap stub), else Debian's Chromium, installed once (a browser download
# of playwright's own would fail here, and is not wanted).
if [ -n "${CHROMIUM_PATH:-}" ]; then
  [ -x "$CHROMIUM_PATH" ] || { echo "error: CHROMIUM_PATH=$CHROMIUM_PATH is not an executable browser" >&2; exit 1; }
else
  export CHROMIUM_PATH=/usr/bin/chromium
  if [ ! -x "$CHROMIUM_PATH" ]; then
    say "installing Debian's chromium and chromium-driver with apt-get (once; a minute or two)"
    apt_install chromium chromium-driver
  fi
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

say "node $(node --version), $("$CHROMIUM_PATH" --version 2>/dev/null | head -n 1), playwright-core $(node -p 'require("playwright-core/package.json").version'), axe-core $(node -p 'require("axe-core/package.json").version')"
export WATCH_URL=${WATCH_URL:-http://127.0.0.1:9000}
# The test files by a shell pattern, not the folder: since Node 21 `node --test DIR` takes DIR as
# a file pattern and fails with MODULE_NOT_FOUND. The spec report goes to the terminal, a TAP copy
# to BROWSER_TAP, whose "# pass N" line make test counts.
tap=${BROWSER_TAP:-.local/browser.tap}
mkdir -p "$(dirname "$tap")"
# Arguments name test files (scripts/dev-test.sh --browser FILE); none: every file.
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(tests/browser/*.test.mjs)
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" "${files[@]}"
