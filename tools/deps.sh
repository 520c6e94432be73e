#!/bin/sh
# Install the Debian packages listed in tools/deps.txt ('make deps').
# As root: apt-get update once, then apt-get install of what is missing.
# Otherwise: print the command to run.  Quick no-op when all are present.
# A package named pkg:arch (the aarch64 check's libraries) first enables
# that architecture in dpkg (multiarch).

set -eu
list=${1:-tools/deps.txt}
pkgs=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$list")

if ! command -v dpkg-query > /dev/null 2>&1; then
    echo "deps: not a Debian system: install the equivalents of the packages in $list"
    exit 0
fi

# An unqualified name means the native package (with a foreign one also
# installed, dpkg-query would answer for both), or an Architecture: all one.
native=$(dpkg --print-architecture)
missing=
for p in $pkgs; do
    case $p in *:*) q=$p ;; *) q=$p:$native ;; esac
    status=$(dpkg-query -W -f='${db:Status-Status}' "$q" 2>/dev/null ||
             dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
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

for p in $missing; do
    case $p in
        *:*)
            arch=${p#*:}
            if [ "$arch" != "$(dpkg --print-architecture)" ] &&
               ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
                echo "deps: enabling the $arch architecture for $p"
                dpkg --add-architecture "$arch"
            fi ;;
    esac
done

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086  # one word per package
apt-get install -y --no-install-recommends $missing
