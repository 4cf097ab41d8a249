#!/bin/sh
# The main job end to end on a fresh Debian 12 machine: install, build, make
# keys, encrypt a small model, load the keys into the kernel keyring, mount,
# load every tensor through the mount with numpy, unmount. Run as root.
set -eu
cd "$(dirname "$0")/.."
sh contrib/install-deps.sh >/dev/null
[ -x ctfs ] || { autoreconf -fi && ./configure && make -j"$(nproc)"; } >/dev/null
work=$(mktemp -d)
trap 'fusermount3 -u "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/plain" "$work/protected" "$work/mnt"

echo "== a provider protects a model"
/usr/bin/python3 contrib/demo/make_model.py "$work/plain"
./ctfs-tool keygen --alg aes256gcm --out "$work/keys.json"
./ctfs-tool encrypt "$work/plain/model.safetensors" "$work/protected/model.cryptotensors" \
	--keys "$work/keys.json"
cp "$work/plain/config.json" "$work/protected/"
ls -l "$work/protected"

echo "== an operator mounts it (keys in a private session keyring)"
keyctl session - sh -eu -c '
	./ctfs-tool key add --keyring @s "$1/keys.json"
	./ctfs "$1/protected" "$1/mnt" -o keyring=@s
	ls -l "$1/mnt"
	echo "== any framework reads it; here numpy, memory-mapped"
	/usr/bin/python3 contrib/demo/load_model.py "$1/mnt/model.safetensors" "$1/plain/model.safetensors"
	fusermount3 -u "$1/mnt"
	echo "== unmounted: access revoked"
' demo "$work"
