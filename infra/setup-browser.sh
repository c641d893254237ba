#!/usr/bin/env bash
# Headless Chromium for the end-to-end test that drives the Temporal Web UI (playwright-core drives
# the system browser; Playwright's own browser download needs the internet). Debian/Ubuntu: apt.
set -euo pipefail
for b in "${SIAMFACE_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
  if [[ -n "$b" && -x "$b" ]]; then echo "[setup] browser: $b"; exit 0; fi
done
if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
  echo "[setup] installing Chromium from the distribution's packages (apt-get install chromium)"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [[ -x /usr/bin/chromium ]] && { echo "[setup] browser: /usr/bin/chromium"; exit 0; }
fi
echo "[setup] no Chromium found and cannot install one (set SIAMFACE_CHROMIUM to a Chromium/Chrome binary)" >&2
exit 1
