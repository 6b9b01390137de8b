#!/usr/bin/env bash
# Chromium and its WebDriver server from Debian's packages, for the dashboard's browser tests
# (tests/dashboard.rs drives /usr/bin/chromium through /usr/bin/chromedriver). Does nothing when
# both are there; otherwise `apt-get update` and an install without recommended packages (as root,
# or through sudo). Browser downloads by a tool's own installer do not work on the CI machines:
# the distribution's packages do.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if ! command -v apt-get > /dev/null; then
  echo "install-browser: no apt-get; install Chromium and chromedriver at /usr/bin/chromium and /usr/bin/chromedriver" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo > /dev/null || { echo "install-browser: not root and no sudo: run as root, or install chromium and chromium-driver" >&2; exit 1; }
  sudo=(sudo)
fi
echo "installing chromium and chromium-driver from the distribution's packages (once, about a minute)" >&2
start=$SECONDS
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver > /dev/null
echo "installed $(/usr/bin/chromium --version 2>/dev/null) and $(/usr/bin/chromedriver --version) in $((SECONDS - start)) s" >&2
