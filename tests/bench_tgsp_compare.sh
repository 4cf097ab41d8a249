#!/bin/sh
# Two builds side by side on one TGSP package: tests/bench_tgsp_mount.sh for
# each, interleaved (A B A B ...), RUNS times, then the median, min and max
# of each figure per build. A shared machine varies from run to run; the
# interleaving spreads that over both builds. Not a test; as root:
#   keyctl session - sh tests/bench_tgsp_compare.sh [MiB (1024)] [RUNS (3)] BUILD_A BUILD_B
set -eu
MIB=${1:-1024}
RUNS=${2:-3}
A=$(cd "$3" && pwd)
B=$(cd "$4" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
P=$(mktemp -d /tmp/bench_tgsp_compare.XXXXXX)
trap 'rm -rf "$P"' EXIT
export BENCH_TGSP_PKG="$P"
i=0
while [ $i -lt "$RUNS" ]; do
	for b in "$A" "$B"; do
		line=$(sh "$HERE/bench_tgsp_mount.sh" "$MIB" "$b" | grep '^bench tgsp:')
		echo "$b $line" | tee -a "$P/results"
	done
	i=$((i + 1))
done
# one row per build and figure: median [min, max]
for b in "$A" "$B"; do
	echo "== $b"
	for k in open_s_per_gib read_gb_s open_cpu_per_wall read_cpu_per_wall; do
		grep "^$b " "$P/results" | tr ' ' '\n' | sed -n "s/^$k=//p" | sort -g |
			awk -v k="$k" '{ v[NR] = $1 } END {
				m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
				printf "  %-18s median %.3f  min %.3f  max %.3f  (%d runs)\n", k, m, v[1], v[NR], NR }'
	done
done
