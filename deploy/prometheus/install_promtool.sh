#!/usr/bin/env bash
# Makes `promtool` available for the alert-rule tests (PrometheusRulesTest runs `promtool check rules` and
# `promtool test rules` on deploy/prometheus/*.yaml).
#
# Idempotent: exits 0 at once when promtool is already on PATH. Otherwise installs the Debian package
# `prometheus` (which ships /usr/bin/promtool) when running as root, and fails with a clear message when not.
#
# The package also ships a Prometheus server with an init script. Installing must never leave a server running
# that binds :9090, so service starts are blocked during the install (policy-rc.d, exit 101: the standard Debian
# switch), the Recommends (prometheus-node-exporter, another daemon) are not installed, and any prometheus
# service the package managed to start anyway is stopped and disabled afterwards.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  echo "promtool already installed: $(command -v promtool) ($(promtool --version 2>&1 | head -n 1))"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ERROR: promtool is not on PATH and this script is not running as root, so it cannot install it." >&2
  echo "       Install the Debian package 'prometheus' (it provides /usr/bin/promtool):" >&2
  echo "         sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus" >&2
  echo "       or put a promtool binary (Prometheus 2.x or newer) on PATH, then run this script again." >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: promtool is not on PATH and apt-get is not available: install promtool (Prometheus 2.x or newer)" >&2
  echo "       by other means and put it on PATH." >&2
  exit 1
fi

policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  # Block service starts for the duration of the install (invoke-rc.d honours exit code 101 = action forbidden).
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  own_policy=1
fi
cleanup() {
  if [ "$own_policy" -eq 1 ]; then
    rm -f "$policy"
  fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# Belt and braces: never leave a Prometheus server behind (it would bind :9090).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl stop prometheus >/dev/null 2>&1 || true
  systemctl disable prometheus >/dev/null 2>&1 || true
elif [ -x /etc/init.d/prometheus ]; then
  /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  if command -v update-rc.d >/dev/null 2>&1; then
    update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
fi

if ! command -v promtool >/dev/null 2>&1; then
  echo "ERROR: the 'prometheus' package was installed but promtool is still not on PATH." >&2
  exit 1
fi
echo "promtool installed: $(command -v promtool) ($(promtool --version 2>&1 | head -n 1))"
