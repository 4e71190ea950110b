#!/usr/bin/env bash
# Extracts sshd from Debian's openssh-server package into .cache/openssh-server, for the client benchmark's
# sshuttle row, which runs sshd inside the devcluster's router namespace with throwaway keys.
# Never `apt-get install openssh-server`: its postinst generates host keys and starts an sshd on the host.
# Prints the path of the sshd binary. Cached; never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/extract-deb.sh
sshd=.cache/openssh-server/usr/sbin/sshd
if [ ! -x "$sshd" ]; then
  # Prefer the installed openssh-client's version (same build); any bookworm sshd works.
  extract_deb openssh-server openssh-client
fi
if missing=$(ldd "$sshd" | grep 'not found'); then
  echo "fetch-openssh-server: sshd needs libraries that are not installed (tools/setup.sh installs them):" >&2
  echo "$missing" >&2
  exit 1
fi
echo "$PWD/$sshd"
