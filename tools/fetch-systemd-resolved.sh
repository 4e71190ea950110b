#!/usr/bin/env bash
# Extracts systemd-resolved (and resolvectl) from Debian's package into .cache/systemd-resolved, for the
# DNS integration tests that run it inside their own network + mount namespace with a private D-Bus.
# Never `apt-get install systemd-resolved`: its postinst points the host's /etc/resolv.conf at a stub
# that nothing serves. Prints the extraction root. Cached; never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/extract-deb.sh
root=.cache/systemd-resolved
if [ ! -x "$root/lib/systemd/systemd-resolved" ] || [ ! -x "$root/usr/bin/resolvectl" ]; then
  # resolved links against the exact version of the installed libsystemd-shared.
  extract_deb systemd-resolved libsystemd-shared
fi
echo "$PWD/$root"
