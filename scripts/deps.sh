#!/usr/bin/env bash
# Install what building and testing mpm needs, when it is missing (Debian 12).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libnng-dev libmsgpack-dev libsodium-dev libcriterion-dev)
[ "${MPM_BENCH_DEPS:-0}" = 1 ] && pkgs+=(redis-server python3 util-linux)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
