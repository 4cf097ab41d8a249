#!/bin/sh
# The Python environment of the interop tests (tests/test_interop_*.py):
# the real upstream `cryptotensors` and `safetensors` packages and a real
# model, all pinned in contrib/interop-requirements.txt, on top of Debian's
# python3, numpy and torch (--system-site-packages). The rest of the suite
# keeps running on /usr/bin/python3 and calls this environment's python
# only for the upstream side.
#
#   sh contrib/interop-venv.sh [DIR]      (default: build/venv, git-ignored)
#   CTFS_INTEROP_PY=DIR/bin/python make check
#
# Needs python3-venv (contrib/install-deps.sh) and PyPI. Does nothing when
# DIR already holds these exact pins.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/../build/venv}
req=$here/interop-requirements.txt
stamp=$dir/ctfs-requirements.txt

if [ -x "$dir/bin/python" ] && cmp -s "$req" "$stamp"; then
	echo "interop environment $dir is up to date"
	exit 0
fi
rm -rf "$dir"
/usr/bin/python3 -m venv --system-site-packages "$dir"
# --no-deps: the requirements list the whole closure, so nothing unpinned
# (a newer numpy, say) can come in behind Debian's torch
"$dir/bin/pip" install --disable-pip-version-check --no-input --no-deps \
	--timeout 60 --retries 5 --progress-bar off -q -r "$req"
"$dir/bin/python" -c 'import cryptotensors, safetensors, numpy, torch, sentence_transformers, msgpack
print("interop environment:", "cryptotensors", cryptotensors.__version__,
      "safetensors", safetensors.__version__, "numpy", numpy.__version__,
      "torch", torch.__version__, "sentence-transformers", sentence_transformers.__version__)'
cp "$req" "$stamp"
