#!/bin/sh
# Install the Debian packages listed in tools/deps.txt ('make deps').
# As root: apt-get update once, then apt-get install of what is missing.
# Otherwise: print the command to run.  Quick no-op when all are present.

set -eu
list=${1:-tools/deps.txt}
pkgs=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$list")

if ! command -v dpkg-query > /dev/null 2>&1; then
    echo "deps: not a Debian system: install the equivalents of the packages in $list"
    exit 0
fi

missing=
for p in $pkgs; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
    echo "deps: all build and test dependencies are installed"
    exit 0
fi

echo "deps: missing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: run as root (or with sudo):"
    echo "  apt-get update && apt-get install -y --no-install-recommends$missing"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086  # one word per package
apt-get install -y --no-install-recommends $missing
