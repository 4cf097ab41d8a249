#!/bin/sh
# The integration suite (real FUSE mounts, the real kernel keyring, real
# loaders), run by pytest inside a session keyring of its own and reported
# as TAP for automake. Debian's python3 is used on purpose: its packages
# (numpy, torch, cryptography) are what the tests load models with.
srcdir=${CTFS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3
if [ "${CTFS_INTEGRATION:-1}" = 0 ]; then
	echo "1..0 # SKIP integration suite disabled (CTFS_INTEGRATION=0, as for distcheck)"; exit 0
fi
if ! $PY -c 'import pytest' 2>/dev/null; then
	[ -n "$CI" ] && { echo "Bail out! python3-pytest is not installed"; exit 1; }
	echo "1..0 # SKIP python3-pytest is not installed"; exit 0
fi
if ! command -v keyctl >/dev/null; then
	[ -n "$CI" ] && { echo "Bail out! keyctl is not installed"; exit 1; }
	echo "1..0 # SKIP keyctl is not installed"; exit 0
fi
# the interop tests' environment (contrib/interop-venv.sh), when one was made
if [ -z "${CTFS_INTEROP_PY:-}" ] && [ -x "$srcdir/build/venv/bin/python" ]; then
	CTFS_INTEROP_PY=$srcdir/build/venv/bin/python; export CTFS_INTEROP_PY
fi
export CTFS_TAP=1 PYTHONDONTWRITEBYTECODE=1
exec keyctl session - $PY -m pytest -q -p no:cacheprovider -rfs \
	${CTFS_PYTEST_ARGS:-} "$srcdir/tests" 2>&1
