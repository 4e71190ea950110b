#!/usr/bin/env bash
# Sourced helper: extract_deb PKG [MATCH_VERSION_OF] downloads Debian's PKG with `apt-get download`
# (nothing on the host changes: no install, no postinst) and unpacks it into .cache/PKG. With
# MATCH_VERSION_OF, it first asks for the version of that installed package (same source build).
# Callers cd to the repository root first. Cached in .cache/debs; never committed.
extract_deb() {
  local pkg=$1 match=${2:-} version="" root=.cache/$1
  mkdir -p .cache/debs
  if ! ls .cache/debs/"${pkg}"_*.deb >/dev/null 2>&1; then
    [ -n "$match" ] && version=$(dpkg-query -W -f='${Version}' "$match" 2>/dev/null || true)
    if ! _download_deb "$pkg" "$version"; then
      # Fresh machines have no package lists yet; updating them changes nothing else.
      [ "$(id -u)" -eq 0 ] && apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 || true
      _download_deb "$pkg" "$version" || {
        echo "extract_deb: apt-get download $pkg failed; check apt sources" >&2
        return 1
      }
    fi
  fi
  rm -rf "$root.tmp"
  dpkg-deb -x .cache/debs/"${pkg}"_*.deb "$root.tmp"
  rm -rf "$root"
  mv "$root.tmp" "$root"
}

_download_deb() {
  local pkg=$1 version=$2
  (cd .cache/debs && apt-get download -qq "$pkg${version:+=$version}" >/dev/null 2>&1) ||
    (cd .cache/debs && apt-get download -qq "$pkg" >/dev/null 2>&1)
}
