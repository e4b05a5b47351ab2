#!/usr/bin/env bash
# Installs what tsgi needs on a fresh Debian machine, then builds dist/.
#   bash scripts/setup.sh              build tools, python3, npm ci, build
#   bash scripts/setup.sh --test-deps  also the real peers the tests run against (nginx, uWSGI, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
export npm_config_nodedir=${npm_config_nodedir:-/usr}   # node-pty builds against local headers
export DEBIAN_FRONTEND=noninteractive

packages=(make g++ python3)
if [ "${1:-}" = "--test-deps" ]; then
  packages+=(
    curl tmux
    uwsgi-core uwsgi-plugin-python3            # the oracle for config, routing and stats
    python3-flask python3-django gunicorn      # real WSGI apps; gunicorn is a benchmark peer
    nginx redis-server php-cgi libfcgi-bin libplack-perl
    python3-starlette python3-uvicorn python3-websockets
    wrk
    chromium                                   # the emperor dashboard's real-browser test (playwright-core)
  )
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
npm ci --no-audit --no-fund
npm run build
