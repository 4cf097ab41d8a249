#!/bin/sh
# Everything ctfs needs on a fresh Debian 12 machine to build, test and demo
# (meson, ninja and dpkg-dev build libfuse 3.17: contrib/build-libfuse.sh).
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
	build-essential autoconf automake pkgconf \
	libfuse3-dev fuse3 libsodium-dev libssl-dev libcjson-dev libkeyutils-dev keyutils zlib1g-dev libpcre2-dev \
	clang libclang-rt-dev python3 python3-pytest python3-numpy python3-cryptography python3-torch python3-venv \
	gocryptfs gnuplot-nox openssl libp11-kit-dev softhsm2 \
	meson ninja-build dpkg-dev
# node and npm run the cross-implementation tests (@noble/post-quantum); a
# machine that has them from elsewhere keeps them (Debian's npm conflicts
# with other nodejs builds)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	apt-get install -y --no-install-recommends nodejs npm
fi
