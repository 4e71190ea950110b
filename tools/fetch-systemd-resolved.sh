#!/usr/bin/env bash
# Extracts systemd-resolved (and resolvectl) from Debian's package into .cache/systemd-resolved, for the
# DNS integration tests that run it inside their own network + mount namespace with a private D-Bus.
# Never `apt-get install systemd-resolved`: its postinst points the host's /etc/resolv.conf at a stub
# that nothing serves. `apt-get download` only fetches the .deb; nothing on the host changes.
# Prints the extraction root. Cached; never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=.cache/systemd-resolved
if [ -x "$root/lib/systemd/systemd-resolved" ] && [ -x "$root/usr/bin/resolvectl" ]; then
  echo "$PWD/$root"
  exit 0
fi
mkdir -p .cache/debs
if ! ls .cache/debs/systemd-resolved_*.deb >/dev/null 2>&1; then
  # Match the installed libsystemd-shared: resolved links against the exact same version.
  version=$(dpkg-query -W -f='${Version}' libsystemd-shared 2>/dev/null || true)
  download() {
    (cd .cache/debs && apt-get download -qq "systemd-resolved${version:+=$version}" >/dev/null 2>&1) ||
      (cd .cache/debs && apt-get download -qq systemd-resolved >/dev/null 2>&1)
  }
  if ! download; then
    # Fresh machines have no package lists yet; updating them changes nothing else.
    [ "$(id -u)" -eq 0 ] && apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 || true
    download || {
      echo "fetch-systemd-resolved: apt-get download systemd-resolved failed; check apt sources" >&2
      exit 1
    }
  fi
fi
rm -rf "$root.tmp"
dpkg-deb -x .cache/debs/systemd-resolved_*.deb "$root.tmp"
rm -rf "$root"
mv "$root.tmp" "$root"
echo "$PWD/$root"
