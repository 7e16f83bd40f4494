#!/usr/bin/env bash
# What the test suite needs beyond pip, from Debian: Chromium (the browser tests), a PostgreSQL
# server (the PostgreSQL run of `make test`) and systemd-analyze (tests/test_deploy.py).
# As root, installs what is missing; otherwise stops and prints the one command to run.
# CHROMIUM, as in tests/browser/conftest.py, is the browser the tests drive (and the path checked).
set -euo pipefail

chromium=${CHROMIUM:-/usr/bin/chromium}

need=()
[ -x "$chromium" ] || need+=(chromium fonts-dejavu-core)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
command -v systemd-analyze >/dev/null || need+=(systemd)

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
