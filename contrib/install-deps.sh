#!/bin/sh
# Everything ctfs needs on a fresh Debian 12 machine to build, test and demo
# (meson, ninja and dpkg-dev build libfuse 3.17: contrib/build-libfuse.sh).
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
	build-essential autoconf automake pkgconf \
	libfuse3-dev fuse3 libsodium-dev libssl-dev libcjson-dev libkeyutils-dev keyutils zlib1g-dev libisal-dev libpcre2-dev \
	clang libclang-rt-dev python3 python3-pytest python3-numpy python3-cryptography python3-torch python3-venv \
	python3-yaml gocryptfs gnuplot-nox openssl libp11-kit-dev softhsm2 \
	meson ninja-build dpkg-dev
# prometheus scrapes a mount in the metrics tests; systemd brings
# systemd-analyze, which checks the units of contrib/systemd (most machines
# have it: then the installed systemd is left as it is, not upgraded)
apt-get install -y --no-install-recommends prometheus
command -v systemd-analyze >/dev/null || apt-get install -y --no-install-recommends systemd
# node and npm run the cross-implementation tests (@noble/post-quantum); a
# machine that has them from elsewhere keeps them (Debian's npm conflicts
# with other nodejs builds)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	apt-get install -y --no-install-recommends nodejs npm
fi
# Go fetches OPA (its conformance suite, and `opa eval` for the differential
# test of the Rego engine) at test time; a Go that is too old to build OPA
# fetches a newer toolchain itself (tests/rego_opa.py)
if ! command -v go >/dev/null && [ ! -x /usr/local/go/bin/go ]; then
	apt-get install -y --no-install-recommends golang-go git ca-certificates
fi
