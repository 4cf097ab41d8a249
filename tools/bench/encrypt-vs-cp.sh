#!/bin/sh
# encrypt-vs-cp.sh [SIZE_MIB] [DIR] [RUNS]
#
# Side by side on one file system: copying a SIZE_MIB safetensors shard with
# cp, and encrypting it with ctfs-tool encrypt (v2, AES-256-GCM, 2 MiB
# chunks). encrypt syncs its output before it renames it into place, so it
# is also compared with "cp + sync of the copy". The input stays in the page
# cache (it is read once before timing), outputs are removed between runs,
# and the median of RUNS runs is reported. Informational: it fails only when
# a command fails, never on the ratio.
#
# Defaults: 1024 MiB, $TMPDIR or /tmp, 5 runs. CTFS_TOOL names the binary
# (default: ctfs-tool next to this source tree's build, else in PATH).
set -eu
SIZE=${1:-1024}
BASE=${2:-${TMPDIR:-/tmp}}
RUNS=${3:-5}
here=$(cd "$(dirname "$0")/../.." && pwd)
TOOL=${CTFS_TOOL:-$here/ctfs-tool}
[ -x "$TOOL" ] || TOOL=$(command -v ctfs-tool)
DIR=$(mktemp -d "$BASE/ctfs-bench.XXXXXX")
trap 'rm -rf "$DIR"' EXIT INT TERM

python3 - "$DIR/in.safetensors" "$SIZE" <<'PY'
import json, os, struct, sys
path, mib = sys.argv[1], int(sys.argv[2])
n = 16 if mib >= 16 else 1            # a shard of 16 equal BF16 tensors
per = mib * 2**20 // n
hdr = {"__metadata__": {"format": "pt"}}
for i in range(n):
    hdr["model.layers.%d.weight" % i] = {"dtype": "BF16", "shape": [per // 2],
                                         "data_offsets": [i * per, (i + 1) * per]}
text = json.dumps(hdr, separators=(",", ":")).encode()
text += b" " * (-(8 + len(text)) % 8)
block = os.urandom(2**20)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text)
    for _ in range(n * per // 2**20):
        f.write(block)
PY
"$TOOL" keygen --alg aes256gcm --out "$DIR/keys.json" >/dev/null
cat "$DIR/in.safetensors" >/dev/null
sync

now() { python3 -c 'import time; print(time.monotonic())'; }
# run LABEL CMD...: seconds of one run, output removed afterwards
run() {
	t0=$(now); "$@" >/dev/null; t1=$(now)
	rm -f "$DIR/out"; sync
	python3 -c "print('%.3f' % ($t1 - $t0))"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

cp_t=""; cps_t=""; enc_t=""
for i in $(seq "$RUNS"); do
	cp_t="$cp_t $(run cp "$DIR/in.safetensors" "$DIR/out")"
	cps_t="$cps_t $(run sh -c "cp '$DIR/in.safetensors' '$DIR/out' && sync '$DIR/out'")"
	enc_t="$enc_t $(run "$TOOL" encrypt --quiet --keys "$DIR/keys.json" \
		"$DIR/in.safetensors" "$DIR/out")"
done
cp_m=$(echo $cp_t | tr ' ' '\n' | median)
cps_m=$(echo $cps_t | tr ' ' '\n' | median)
enc_m=$(echo $enc_t | tr ' ' '\n' | median)
fs=$(df -T "$DIR" | awk 'NR==2 {print $2}')
python3 - "$SIZE" "$cp_m" "$cps_m" "$enc_m" "$fs" "$(nproc)" <<'PY'
import sys
mib, cp, cps, enc = int(sys.argv[1]), *map(float, sys.argv[2:5])
fs, cpus = sys.argv[5], sys.argv[6]
rate = lambda t: "%7.0f MiB/s" % (mib / t) if t > 0 else "      -"
print("%d MiB shard on %s, %s CPUs, median of runs:" % (mib, fs, cpus))
print("  cp                 %7.3f s  %s" % (cp, rate(cp)))
print("  cp + sync          %7.3f s  %s" % (cps, rate(cps)))
print("  ctfs-tool encrypt  %7.3f s  %s" % (enc, rate(enc)))
print("  encrypt / cp = %.2f, encrypt / (cp + sync) = %.2f (target: <= 2)" %
      (enc / cp if cp else 0, enc / cps if cps else 0))
PY
