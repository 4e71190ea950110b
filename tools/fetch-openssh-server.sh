#!/usr/bin/env bash
# Extracts sshd from Debian's openssh-server package into .cache/openssh-server, for the client benchmark's
# sshuttle row, which runs sshd inside the devcluster's router namespace with throwaway keys.
# Never `apt-get install openssh-server`: its postinst generates host keys and starts an sshd on the host.
# `apt-get download` only fetches the .deb; nothing on the host changes.
# Prints the path of the sshd binary. Cached; never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=.cache/openssh-server
sshd=$root/usr/sbin/sshd
if [ -x "$sshd" ]; then
  echo "$PWD/$sshd"
  exit 0
fi
mkdir -p .cache/debs
if ! ls .cache/debs/openssh-server_*.deb >/dev/null 2>&1; then
  # Prefer the installed openssh-client's version (same build); any bookworm sshd works.
  version=$(dpkg-query -W -f='${Version}' openssh-client 2>/dev/null || true)
  download() {
    (cd .cache/debs && apt-get download -qq "openssh-server${version:+=$version}" >/dev/null 2>&1) ||
      (cd .cache/debs && apt-get download -qq openssh-server >/dev/null 2>&1)
  }
  if ! download; then
    # Fresh machines have no package lists yet; updating them changes nothing else.
    [ "$(id -u)" -eq 0 ] && apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 || true
    download || {
      echo "fetch-openssh-server: apt-get download openssh-server failed; check apt sources" >&2
      exit 1
    }
  fi
fi
rm -rf "$root.tmp"
dpkg-deb -x .cache/debs/openssh-server_*.deb "$root.tmp"
rm -rf "$root"
mv "$root.tmp" "$root"
if missing=$(ldd "$sshd" | grep 'not found'); then
  echo "fetch-openssh-server: sshd needs libraries that are not installed (tools/setup.sh installs them):" >&2
  echo "$missing" >&2
  exit 1
fi
echo "$PWD/$sshd"
