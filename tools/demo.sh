#!/usr/bin/env bash
# The demo: devcluster up, the chart installed, the client connected from the workstation namespace, and
# a cluster service reached by name. Grows as the pieces land.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f apps/client/dist/main.js ]; then
  echo "demo: not yet available: the client (apps/client) does not exist yet."
  exit 0
fi
exec node tools/devcluster/dist/demo.js "$@"
