"""The benchmark's own logic, without mounts or timing: the memory
high-water sampler, the targets table (same-run ratios and verdicts) and
the --skip groups of tools/bench/ctfs-bench."""

import importlib.machinery
import importlib.util
import os
import sys
import time

import pytest

from conftest import REPO

BENCH_DIR = os.path.join(REPO, "tools", "bench")
sys.path.insert(0, BENCH_DIR)

np = pytest.importorskip("numpy")   # bench_io needs it; Debian's python3 has it

import bench_io    # noqa: E402
import bench_report  # noqa: E402


def load_cli():
    path = os.path.join(BENCH_DIR, "ctfs-bench")
    loader = importlib.machinery.SourceFileLoader("ctfs_bench", path)
    spec = importlib.util.spec_from_loader("ctfs_bench", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


class Readings:
    """Returns the given values one call after the other, the last forever."""

    def __init__(self, *values):
        self.values = list(values)

    def __call__(self, *args):
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def test_highwater_keeps_the_highest_sum_of_cache_growth_and_daemon_rss():
    # the cache is read once for the base, then once per sample
    cache = Readings(1000, 1000, 1500, 3000, 2000, 2000)
    rss = Readings(100, 900, 200, 100, 100)
    # an interval longer than the test: only the explicit samples count
    with bench_io.HighWater(pid=4242, interval=3600, cache=cache, rss=rss) as hw:
        hw.sample()      # 500 + 900 = 1400
        hw.sample()      # 2000 + 200 = 2200, the peak
        hw.sample()      # 1000 + 100
    assert hw.base_kib == 1000
    assert (hw.peak_kib, hw.cache_kib, hw.rss_kib) == (2200, 2000, 200)
    assert hw.samples == 5          # the first at the start, the last at the end
    assert hw.peak_mib == pytest.approx(2200 / 1024.0)


def test_highwater_without_a_daemon_counts_the_page_cache_only():
    calls = []
    cache = Readings(10, 10, 50, 30)
    with bench_io.HighWater(interval=3600, cache=cache,
                            rss=lambda pid: calls.append(pid) or 0) as hw:
        hw.sample()
    assert hw.peak_kib == 40 and hw.rss_kib == 0
    assert calls == []              # no daemon, no /proc/PID read


def test_highwater_keeps_the_last_rss_of_a_daemon_that_went_away():
    cache = Readings(0)
    rss = Readings(300, None)
    with bench_io.HighWater(pid=1, interval=3600, cache=cache, rss=rss) as hw:
        hw.sample()
    assert hw.peak_kib == 300 and hw.rss_kib == 300


def test_highwater_samples_in_its_thread():
    with bench_io.HighWater(interval=0.001, cache=lambda: 7) as hw:
        for _ in range(200):
            if hw.samples >= 5:
                break
            time.sleep(0.01)
    assert hw.samples >= 5 and hw.peak_kib == 0


def test_page_cache_and_anon_rss_readers_read_proc():
    assert bench_io.page_cache_kib() > 0
    assert bench_io.anon_rss_kib(os.getpid()) > 0
    assert bench_io.anon_rss_kib(2 ** 22 + 12345) is None   # beyond pid_max: gone


def figures(values):
    fig = bench_report.Figures()
    fig.begin()
    for key, v in values.items():
        fig.add(key, v)
    fig.use([0])
    return fig


def by_name(rows):
    return {r[1]: r for r in rows}


def test_targets_are_same_run_ratios_with_verdicts():
    fig = figures({
        "read_native": 10.0, "read_resident_warm": 9.5, "read_ctfs_warm": 4.0,
        "read_ctfs_cold": 1.9, "read_gocryptfs_cold": 1.0,
        "load_numpy_plain": 0.10, "load_numpy_resident_warm": 0.105,
        "load_numpy_plain_dropped": 1.0, "load_numpy_ctfs_dropped": 1.5,
        "mem_numpy_plain_dropped": 1024.0, "mem_numpy_ctfs_dropped": 1100.0,
        "rss_ctfs_peak": 100.0,
    })
    rows = by_name(bench_report.targets(fig, 64))
    assert len(rows) == len(bench_report.targets(fig, 64))    # names are unique

    def check(name, measured, verdict, keys):
        issue, _, m, cmp, limit, how, got_keys = rows[name]
        if measured is None:
            assert m is None
        else:
            assert m == pytest.approx(measured)
        assert bench_report.verdict(m, cmp, limit) == verdict
        assert got_keys == keys and all(k in how for k in keys)

    check("warm read, resident >= 0.9x native", 0.95, "PASS",
          ["read_resident_warm", "read_native"])
    check("warm read, default mode >= 0.9x native", 0.4, "MISS",
          ["read_ctfs_warm", "read_native"])
    check("cold read >= 2x gocryptfs", 1.9, "MISS", ["read_ctfs_cold", "read_gocryptfs_cold"])
    check("numpy load warm, resident <= 1.1x plaintext", 1.05, "PASS",
          ["load_numpy_resident_warm", "load_numpy_plain"])
    check("numpy load, caches dropped <= 1.3x plaintext", 1.5, "MISS",
          ["load_numpy_ctfs_dropped", "load_numpy_plain_dropped"])
    check("numpy load memory, caches dropped <= 1.1x plaintext", 1100 / 1024.0, "PASS",
          ["mem_numpy_ctfs_dropped", "mem_numpy_plain_dropped"])
    check("daemon RSS <= 64 MiB + cache_size", 100.0, "PASS", ["rss_ctfs_peak"])
    # a figure that was not measured makes its target n/a, never a verdict
    check("torch load warm, resident <= 1.1x plaintext", None, "n/a",
          ["load_torch_resident_warm", "load_torch_plain"])
    assert rows["cold read >= 2x gocryptfs"][0] == "14"


def test_every_target_names_known_figures():
    for row in bench_report.targets(figures({}), 64):
        assert row[6] and set(row[6]) <= set(bench_report.FIGURE_KEYS), row
        assert row[2] is None


def test_verdict_limits_are_inclusive():
    assert bench_report.verdict(1.1, "<=", 1.1) == "PASS"
    assert bench_report.verdict(0.9, ">=", 0.9) == "PASS"
    assert bench_report.verdict(1.11, "<=", 1.1) == "MISS"
    assert bench_report.verdict(None, ">=", 0.9) == "n/a"


def test_skip_groups_of_the_cli():
    cli = load_cli()
    a = cli.parse_args(["--skip", "dropped,resident,tgsp,gocryptfs"])
    assert a.skip == {"dropped", "resident", "tgsp", "gocryptfs"}
    with pytest.raises(SystemExit):
        cli.parse_args(["--skip", "nosuchgroup"])
    # every group a figure belongs to can be skipped by name
    for prefix, group in (("mem_", "dropped"), ("ofb_resident", "resident"),
                          ("tgsp_", "tgsp")):
        assert group in cli.GROUPS
        assert any(k.startswith(prefix) for k in bench_report.FIGURE_KEYS)
