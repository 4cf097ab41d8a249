"""`make bench` in miniature: the speed benchmark (tools/bench/ctfs-bench
--quick) runs end to end through real mounts and writes a report holding
every figure and every target. No timing is judged here: CI machines are
too noisy for thresholds, and the figures mean something only at full size."""

import json
import os
import shutil
import subprocess

from conftest import BUILD, IN_CI, REPO, binary, need

BENCH = os.path.join(REPO, "tools", "bench", "ctfs-bench")

# The figures issues 5 and 14 ask for; kept here on purpose rather than imported
# from the benchmark, so that a figure dropped there fails this test.
FIGURES = [
    "read_native", "read_ctfs_cold", "read_ctfs_warm",
    "read_gocryptfs_cold", "read_gocryptfs_warm",
    "read_passthrough_cold", "read_passthrough_warm", "load_numpy_passthrough",
    "load_numpy_plain", "load_numpy_ctfs_cold", "load_numpy_ctfs_warm",
    "load_torch_plain", "load_torch_ctfs_cold", "load_torch_ctfs_warm",
    "load_numpy_plain_disk", "load_numpy_ctfs_disk",
    "load_numpy_plain_dropped", "load_numpy_ctfs_dropped",
    "load_torch_plain_dropped", "load_torch_ctfs_dropped",
    "mem_numpy_plain_dropped", "mem_numpy_ctfs_dropped",
    "mem_torch_plain_dropped", "mem_torch_ctfs_dropped",
    "read_resident_cold", "read_resident_warm",
    "load_numpy_resident_warm", "load_torch_resident_warm",
    "load_numpy_resident_dropped", "mem_numpy_resident_dropped",
    "ofb_resident", "rss_resident_peak", "locked_resident",
    "tgsp_open_per_gib", "read_tgsp",
    "rand4k_native_p50", "rand4k_native_p99",
    "rand4k_ctfs_cold_p50", "rand4k_ctfs_cold_p99",
    "rand4k_ctfs_warm_p50", "rand4k_ctfs_warm_p99",
    "ofb_native", "ofb_ctfs_cold", "first_tensor_ctfs_cold",
    "rss_ctfs_peak", "rss_ctfs_peak_many", "rss_gocryptfs_peak",
]
GOCRYPTFS = {"read_gocryptfs_cold", "read_gocryptfs_warm", "rss_gocryptfs_peak"}
TORCH = {k for k in FIGURES if "torch" in k}
# -o resident is being built: a daemon without it leaves these out, saying so
RESIDENT = {k for k in FIGURES if "resident" in k}
TGSP = {"tgsp_open_per_gib", "read_tgsp"}      # a hook, not measured yet
TARGETS = 22


def have_torch():
    p = subprocess.run(["/usr/bin/python3", "-c", "import torch"], capture_output=True)
    return p.returncode == 0


def sanitized():
    """Built with AddressSanitizer, whose mlock does nothing."""
    with open(binary("ctfs"), "rb") as f:
        return b"__asan_init" in f.read()


def test_bench_quick_reports_every_figure(tmp_path):
    need(os.path.exists("/dev/fuse"), "/dev/fuse missing")
    need(os.geteuid() == 0, "mounting tests run as root")
    need(os.path.exists("/usr/bin/python3"), "Debian's python3 missing")
    binary("ctfs")
    binary("ctfs-tool")
    optional = set()
    if not IN_CI:      # CI installs both (contrib/install-deps.sh)
        if not shutil.which("gocryptfs"):
            optional |= GOCRYPTFS
        if not have_torch():
            optional |= TORCH
    out = tmp_path / "bench-out"
    p = subprocess.run(["/usr/bin/python3", BENCH, "--quick", "--no-install",
                        "--out", str(out), "--build-dir", BUILD],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, "ctfs-bench failed:\n" + p.stdout[-3000:] + p.stderr[-3000:]

    doc = json.loads((out / "report.json").read_text())
    md = (out / "report.md").read_text()
    for key in FIGURES:
        f = doc["figures"].get(key)
        assert f is not None, "figure %s missing from report.json" % key
        assert "`%s`" % key in md, "figure %s missing from report.md" % key
        if key in TGSP:
            assert f["value"] is None and "bench_tgsp_mount.sh" in f["skipped"], f
            continue
        if key in RESIDENT and f["value"] is None and \
                f["skipped"].startswith("ctfs -o resident did not mount"):
            optional.add(key)
            continue
        if f["value"] is None and key in optional:
            continue
        if key == "locked_resident" and sanitized():
            assert f["value"] == 0, f     # AddressSanitizer's mlock locks nothing
            continue
        assert f["value"] is not None and f["value"] > 0 and f["runs"], \
            "figure %s not measured: %s" % (key, f.get("skipped"))

    assert len(doc["targets"]) == TARGETS
    for t in doc["targets"]:
        assert t["verdict"] in ("PASS", "MISS", "n/a"), t
        if t["verdict"] == "n/a":
            assert set(t["figures"]) & optional, "target %s not evaluated" % t["name"]
        assert t["name"] in p.stdout, "target %s not printed" % t["name"]
        assert t["name"] in md

    if shutil.which("gnuplot") or IN_CI:
        assert (out / "chart.png").exists() or (out / "chart.svg").exists(), "no chart"
    # its temporary models and mount points are gone, nothing stays mounted
    assert not [d for d in os.listdir(out) if d.startswith("work-")]
    with open("/proc/self/mounts") as m:
        assert str(out) not in m.read()
