#!/usr/bin/env bash
# The demo: a simulated cluster (tools/devcluster), the chart rendered with `helm template` and applied,
# the client connected from the cluster's workstation namespace, and the echo service reached by name.
# Prints each step; removes everything it created on the way out (also on failure or Ctrl-C).
# Needs root (network namespaces, a TUN device, nft). Env: DEMO_NAME (default tpdemo), DEMO_EXTRA_IMAGES=FILE
# (another devcluster image map, e.g. tools/loadgen/images.json), DEMO_KEEP=1 to
# leave the cluster and the connection up at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NAME=${DEMO_NAME:-tpdemo}
DC=(node "$ROOT/tools/devcluster/dist/cli.js")
RUN_DIR=/run/telepresence-$NAME
TP=(env TELEPRESENCE_RUN_DIR="$RUN_DIR" node "$ROOT/apps/client/dist/main.js")

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

if [ "$(id -u)" != 0 ]; then
  echo "demo: needs root (it creates network namespaces, a TUN device and nft rules); run: sudo npm run demo" >&2
  exit 1
fi

cleanup() {
  local rc=$?
  if [ "${DEMO_KEEP:-}" = 1 ] && [ $rc = 0 ]; then
    echo; echo "Left running (DEMO_KEEP=1). Clean up with:"
    echo "  ip netns exec $NAME-ws env TELEPRESENCE_RUN_DIR=$RUN_DIR node apps/client/dist/main.js quit"
    echo "  node tools/devcluster/dist/cli.js down --name $NAME"
    return
  fi
  step "Cleaning up"
  if ip netns list | grep -q "^$NAME-ws\b"; then
    ip netns exec "$NAME-ws" "${TP[@]}" quit || true
  fi
  "${DC[@]}" down --name "$NAME" || true
  rm -rf "$RUN_DIR" "${TMP:-}"
  exit $rc
}
trap cleanup EXIT INT TERM

step "Building (client, traffic-manager, devcluster)"
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
npx nx run-many -t build -p @telepresence/client @telepresence/traffic-manager @telepresence/devcluster \
  --outputStyle=static >/dev/null
[ -x tools/bin/helm ] || bash tools/fetch-k8s-tools.sh >/dev/null

step "Starting the simulated cluster \"$NAME\""
show "${DC[@]}" up --name "$NAME" --images tools/demo/images.json ${DEMO_EXTRA_IMAGES:+--images $DEMO_EXTRA_IMAGES}
KUBECONFIG_WS=$("${DC[@]}" kubeconfig --name "$NAME")
KUBECONFIG_HOST=$("${DC[@]}" kubeconfig --name "$NAME" --host)
KUBECTL=("$ROOT/tools/bin/kubectl" --kubeconfig "$KUBECONFIG_HOST")

step "Installing the traffic-manager: helm template charts/telepresence | devcluster apply"
TMP=$(mktemp -d)
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ambassador\n' >"$TMP/ns.yaml"
"${DC[@]}" apply --name "$NAME" -f "$TMP/ns.yaml"
# The whole chart, RBAC included: devcluster enforces it, so the manager runs with the chart's permissions.
tools/bin/helm template traffic-manager charts/telepresence --namespace ambassador >"$TMP/chart.yaml"
"${DC[@]}" apply --name "$NAME" -f "$TMP/chart.yaml"

step "Deploying the echo service in namespace default"
"${DC[@]}" apply --name "$NAME" -f tools/demo/echo.yaml

step "Waiting for the pods"
for _ in $(seq 1 60); do
  ready=$("${KUBECTL[@]}" get pods -A -o jsonpath='{range .items[*]}{.status.containerStatuses[0].ready}{" "}{end}')
  case "$ready" in *false* | "") sleep 1 ;; *) break ;; esac
done
show "${KUBECTL[@]}" get pods -A -o wide

step "The workstation has no route to the cluster yet"
show ip netns exec "$NAME-ws" ip route
ip netns exec "$NAME-ws" curl -sS --max-time 2 http://echo.default || echo "(as expected: echo.default is not reachable)"

step "telepresence connect (in the workstation namespace)"
show ip netns exec "$NAME-ws" "${TP[@]}" connect --kubeconfig "$KUBECONFIG_WS"
show ip netns exec "$NAME-ws" "${TP[@]}" status

step "Reaching the echo service by name"
show ip netns exec "$NAME-ws" curl -sS --max-time 10 http://echo.default
echo
show ip netns exec "$NAME-ws" curl -sS --max-time 10 http://echo.default.svc.cluster.local
echo
show ip netns exec "$NAME-ws" dig +noall +answer echo.default.svc.cluster.local

step "telepresence quit"
show ip netns exec "$NAME-ws" "${TP[@]}" quit
show ip netns exec "$NAME-ws" ip route

echo; echo "Demo done: the echo service answered by name through the VIF and the traffic-manager."
