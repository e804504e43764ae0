#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (/usr/bin/chromium) with Playwright; Playwright's own
# browser download is not used. Install the package when it is missing, or fail saying why.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "error: $CHROMIUM is missing and apt-get is not available to install it (Debian's 'chromium' package)." >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
  if ! command -v sudo >/dev/null; then
    echo "error: $CHROMIUM is missing; install it as root: apt-get update && apt-get install -y chromium" >&2
    exit 1
  fi
else
  SUDO=
fi
echo "Installing Chromium for the browser tests (apt-get install chromium)..."
if ! { $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium; }; then
  echo "error: could not install Debian's chromium package; the browser tests need $CHROMIUM." >&2
  exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
  echo "error: the chromium package is installed but $CHROMIUM is not there." >&2
  exit 1
fi
echo "Chromium is installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
