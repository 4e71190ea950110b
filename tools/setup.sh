#!/usr/bin/env bash
# Sets up a fresh machine for the demo and the tests: Debian packages, npm packages (native addons built
# against the local Node headers), helm and kubectl, and a build of every package. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(
  iproute2 nftables iptables kmod procps psmisc curl unzip openssl ca-certificates
  dnsutils dnsperf dnsmasq-base iperf3 socat netcat-openbsd conntrack ethtool
  python3 make g++
  dbus-daemon libsystemd-shared
  openssh-client sshuttle libwrap0
  sudo
)
# dbus-daemon: the private bus of the systemd-resolved tests (this package starts no system bus; the `dbus`
# package would). systemd-resolved itself is never installed: tools/fetch-systemd-resolved.sh extracts it.
# sshuttle (the client benchmark's comparison; its postinst only byte-compiles) and openssh-client start
# nothing. openssh-server is never installed (its postinst starts an sshd): tools/fetch-openssh-server.sh
# extracts it (libwrap0 is the one library it needs that nothing above brings), and the benchmark runs it
# inside the devcluster's router namespace. sudo: the packaged client starts its root daemon through it
# (e2e/test/package-user.test.ts).

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    echo "setup: run as root (sudo bash tools/setup.sh), or install them yourself." >&2
    exit 1
  fi
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node-gyp must find Node's headers locally (no header download here); .npmrc says nodedir=/usr.
export npm_config_nodedir=/usr
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-fund --no-audit
fi
bash tools/fetch-k8s-tools.sh
bash tools/fetch-systemd-resolved.sh >/dev/null
bash tools/fetch-openssh-server.sh >/dev/null

export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
npx nx run-many -t build --outputStyle=static >/dev/null || npx nx run-many -t build --outputStyle=static
echo "setup: done"
