#!/bin/sh
# Everything ctfs needs on a fresh Debian 12 machine to build, test and demo.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
	build-essential autoconf automake pkgconf \
	libfuse3-dev fuse3 libsodium-dev libssl-dev libcjson-dev libkeyutils-dev keyutils zlib1g-dev \
	python3 python3-pytest python3-numpy python3-cryptography python3-torch \
	nodejs npm gocryptfs gnuplot-nox
