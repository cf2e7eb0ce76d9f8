#!/bin/sh
# Installs Debian's chromium for the browser test of the HTML summary (npm run test:browser).
# Playwright's own browser download is not used: CI and the developer machines reach only the npm
# registry and Debian's packages. Does nothing when /usr/bin/chromium exists; without root or apt-get
# it says so and exits 0, and the browser test then skips with a message.
set -eu
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != "0" ]; then
  echo "install-chromium: skipped (needs root and apt-get); the browser test will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
  echo "install-chromium: $(/usr/bin/chromium --version 2>/dev/null || echo installed)"
else
  echo "install-chromium: apt-get could not install chromium; the browser test will skip" >&2
fi
