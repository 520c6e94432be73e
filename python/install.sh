#!/bin/sh
# Installs the terracodec package for 'make install':
#   python/install.sh PYTHONDIR LIBDIR VERSION
# PYTHONDIR (DESTDIR included) gets terracodec/ and its dist-info, whose
# entry point (group numcodecs.codecs) lets numcodecs load codec "tec" when
# a Zarr store names it, without terracodec being imported first.  LIBDIR
# (without DESTDIR) is where the installed package looks for libtec.so.
set -eu
dest=$1 libdir=$2 version=$3
src=$(dirname "$0")/terracodec
pkg=$dest/terracodec
info=$dest/terracodec-$version.dist-info

install -d "$pkg" "$info"
for f in "$src"/*.py; do
    install -m 644 "$f" "$pkg/"
done
printf '"""Written by make install: where libtec.so was installed."""\nLIBDIR = %s\n' \
    "'$libdir'" > "$pkg/_installed.py"

# A dist-info of another version would name the package twice.
for old in "$dest"/terracodec-*.dist-info; do
    [ "$old" = "$info" ] || rm -rf "$old"
done
cat > "$info/METADATA" <<EOF
Metadata-Version: 2.1
Name: terracodec
Version: $version
Summary: TerraCodec (libtec) for Python: .tecv coding, a Zarr codec, xarray
License: see the TerraCodec sources
EOF
cat > "$info/entry_points.txt" <<'EOF'
[numcodecs.codecs]
tec = terracodec.codec:TecCodec
EOF
echo terracodec > "$info/top_level.txt"
echo make > "$info/INSTALLER"
# RECORD: the files, so that pip can list and remove them (no hashes).
{
    for f in "$pkg"/*.py; do echo "terracodec/$(basename "$f"),,"; done
    for f in METADATA entry_points.txt top_level.txt INSTALLER RECORD; do
        echo "terracodec-$version.dist-info/$f,,"
    done
} > "$info/RECORD"
