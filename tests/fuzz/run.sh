#!/bin/sh
# Run every built libFuzzer harness for a bounded time, from a build
# directory configured with --enable-fuzz CC=clang:
#   ../../tests/fuzz/run.sh SECONDS [NAME...]
# Builds them first (make fuzz), fuzzes each for SECONDS (-max_total_time)
# from its seeds in tests/fuzz/corpus/NAME (read only: new inputs go to
# fuzz-out/NAME/corpus), and prints per harness the executions, the
# coverage (cov: edges, ft: features, from libFuzzer's final status line)
# and the time. A crash, leak, timeout or out-of-memory is a failure: its
# input is kept in fuzz-out/NAME/artifacts and the report is shown. Ends
# with "fuzz: N passed, N failed"; exits 1 on any failure.
set -u
secs=${1:?usage: run.sh SECONDS [NAME...]}
shift
srcdir=$(cd "$(dirname "$0")/../.." && pwd)

if ! make -j"${FUZZ_JOBS:-2}" fuzz >fuzz-build.log 2>&1; then
	cat fuzz-build.log
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi
grep '^fuzz: .* skipped' fuzz-build.log

passed=0 failed=0
printf '%-16s %12s %7s %7s %6s  %s\n' harness execs cov ft secs result
for bin in tests/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	name=${bin##*/fuzz_}
	if [ $# -gt 0 ]; then
		case " $* " in *" $name "*) ;; *) continue ;; esac
	fi
	work=fuzz-out/$name
	rm -rf "$work"
	mkdir -p "$work/corpus" "$work/artifacts"
	seeds=$srcdir/tests/fuzz/corpus/$name
	[ -d "$seeds" ] || seeds=
	start=$(date +%s)
	"$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$work/artifacts/" "$work/corpus" $seeds >"$work/log" 2>&1
	rc=$?
	took=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
	last=$(grep -E '^#[0-9]+.*cov: ' "$work/log" | tail -1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	if [ $rc -eq 0 ]; then
		result=ok
		passed=$((passed + 1))
	else
		result="FAILED (exit $rc)"
		failed=$((failed + 1))
	fi
	printf '%-16s %12s %7s %7s %6s  %s\n' "$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
		"$took" "$result"
	if [ $rc -ne 0 ]; then
		grep -E -A40 '^==[0-9]+==(ERROR|WARNING)|SUMMARY|runtime error|deadly signal' \
			"$work/log" | head -60
		ls "$work/artifacts"
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
