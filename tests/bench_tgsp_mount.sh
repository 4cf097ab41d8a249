#!/bin/sh
# End-to-end read rate of a TGSP package through the mount; not a test.
#   keyctl session - sh tests/bench_tgsp_mount.sh [MiB (1024)] [BUILD_DIR (.)]
# Packages MiB of bf16 weights (normal(0, 0.02), made with numpy), mounts the
# package as root and reports: the first access (opening: checks, payload
# hash, index pass), a sequential read with dd, and the daemon's CPU time for
# each (CPU time / wall time tells whether one core is the limit). The last
# line, "bench tgsp: key=value ...", is for `make bench` and scripts:
# open_s_per_gib, read_gb_s, and the daemon's CPU per wall second of each.
# BENCH_TGSP_PKG=DIR keeps the package and its keys in DIR and reuses them
# when they are there (tests/bench_tgsp_compare.sh: two builds read the same
# package; building one takes minutes).
set -eu
MIB=${1:-1024}
B=$(cd "${2:-.}" && pwd)
W=$(mktemp -d /tmp/bench_tgsp_mount.XXXXXX)
trap 'fusermount3 -u "$W/mnt" 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -p "$W/model" "$W/src" "$W/mnt"
T="$B/ctfs-tool"
K=${BENCH_TGSP_PKG:-}
if [ -n "$K" ] && [ -f "$K/m-$MIB.tgsp" ] && [ -f "$K/k/encryption.priv" ]; then
	echo "reusing the ${MIB} MiB package of $K"
	mkdir -p "$W/k"
	cp "$K/k/"* "$W/k/"
	ln "$K/m-$MIB.tgsp" "$W/src/m.tgsp" 2>/dev/null || cp "$K/m-$MIB.tgsp" "$W/src/m.tgsp"
else
/usr/bin/python3 - "$W/model/model.safetensors" "$MIB" <<'EOF'
import sys
import numpy as np
rng = np.random.default_rng(1)
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2]) // 64):
        a = rng.normal(0, 0.02, size=32 << 20).astype(np.float32)
        f.write((a.view(np.uint32) >> 16).astype(np.uint16).tobytes())
EOF
$T tgsp keygen --type signing --out "$W/k" >/dev/null
$T tgsp keygen --type encryption --out "$W/k" >/dev/null
echo "building a ${MIB} MiB package..."
$T tgsp build "$W/model" --out "$W/src/m.tgsp" --signing-key "$W/k/signing.priv" \
	--signing-pub "$W/k/signing.pub" --recipient r="$W/k/encryption.pub" >/dev/null
rm -f "$W/model/model.safetensors"
if [ -n "$K" ]; then
	mkdir -p "$K/k"
	cp "$W/k/"* "$K/k/"
	cp "$W/src/m.tgsp" "$K/m-$MIB.tgsp"
fi
fi
R=$(keyctl newring bench_tgsp @s)
keyctl padd user ctfs:tgsp:r "$R" < "$W/k/encryption.priv" >/dev/null
"$B/ctfs" "$W/src" "$W/mnt" -f -o "keyring=$R,tgsp_trust=$W/k/signing.pub" 2>"$W/log" &
P=$!
i=0
while ! mountpoint -q "$W/mnt" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
cpu() { awk '{print $14 + $15}' "/proc/$P/stat"; }
now() { date +%s.%N; }
c0=$(cpu); t0=$(now)
stat -c %s "$W/mnt/m/model.safetensors" >/dev/null
c1=$(cpu); t1=$(now)
dd if="$W/mnt/m/model.safetensors" of=/dev/null bs=1M 2>/dev/null
c2=$(cpu); t2=$(now)
echo "$t0 $t1 $t2 $c0 $c1 $c2 $MIB" | awk '{
	printf "first access (open):  %.2f s wall, %.2f s daemon CPU\n", $2 - $1, ($5 - $4) / 100
	printf "sequential read (dd): %.2f s wall, %.2f s daemon CPU: %.0f MB/s, %.0f MB per CPU second\n",
		$3 - $2, ($6 - $5) / 100, $7 * 1.048576 / ($3 - $2), $7 * 1.048576 / (($6 - $5) / 100)
	printf "bench tgsp: open_s_per_gib=%.3f read_gb_s=%.3f open_cpu_per_wall=%.2f read_cpu_per_wall=%.2f\n",
		($2 - $1) * 1024 / $7, $7 * 1.048576e-3 / ($3 - $2),
		($5 - $4) / 100 / ($2 - $1), ($6 - $5) / 100 / ($3 - $2) }'
grep "tgsp" "$W/log" || true
