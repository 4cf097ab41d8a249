"""What the benchmark reports: the figures it measures, the targets of issues
5 and 14 as ratios between figures of the same run, and the Markdown / JSON /
chart files it writes."""

import json
import os
import shutil
import statistics
import subprocess

# key, what it is, unit, which way is better
FIGURES = [
    ("read_native", "sequential read, plaintext file, page cache hot (baseline)", "GB/s", "high"),
    ("read_ctfs_cold", "sequential read through ctfs, cold (fresh mount)", "GB/s", "high"),
    ("read_ctfs_warm", "sequential read through ctfs, warm (second pass, same mount)",
     "GB/s", "high"),
    ("read_gocryptfs_cold", "sequential read through gocryptfs, cold (fresh mount)",
     "GB/s", "high"),
    ("read_gocryptfs_warm", "sequential read through gocryptfs, warm (second pass)",
     "GB/s", "high"),
    ("read_passthrough_cold", "plain safetensors through ctfs (passthrough), cold",
     "GB/s", "high"),
    ("read_passthrough_warm", "plain safetensors through ctfs (passthrough), warm",
     "GB/s", "high"),
    ("load_numpy_passthrough", "numpy mmap loader, plain safetensors through ctfs "
     "(passthrough), fresh mount", "s", "low"),
    ("load_numpy_plain", "numpy mmap loader, every tensor, plaintext file (hot)", "s", "low"),
    ("load_numpy_ctfs_cold", "numpy mmap loader through ctfs, cold", "s", "low"),
    ("load_numpy_ctfs_warm", "numpy mmap loader through ctfs, warm", "s", "low"),
    ("load_torch_plain", "torch pread+frombuffer loader, plaintext file (hot)", "s", "low"),
    ("load_torch_ctfs_cold", "torch pread+frombuffer loader through ctfs, cold", "s", "low"),
    ("load_torch_ctfs_warm", "torch pread+frombuffer loader through ctfs, warm", "s", "low"),
    ("load_numpy_plain_disk", "numpy mmap loader, plaintext file evicted (from disk)",
     "s", "low"),
    ("load_numpy_ctfs_disk", "numpy mmap loader through ctfs, fresh mount, backing file "
     "evicted (from disk)", "s", "low"),
    ("load_numpy_plain_dropped", "numpy mmap loader, plaintext file, all caches dropped",
     "s", "low"),
    ("load_numpy_ctfs_dropped", "numpy mmap loader through ctfs, fresh mount, all caches "
     "dropped", "s", "low"),
    ("load_torch_plain_dropped", "torch pread loader, plaintext file, all caches dropped",
     "s", "low"),
    ("load_torch_ctfs_dropped", "torch pread loader through ctfs, fresh mount, all caches "
     "dropped", "s", "low"),
    ("mem_numpy_plain_dropped", "memory high-water of the numpy load of the plaintext, "
     "caches dropped (page cache growth)", "MiB", "low"),
    ("mem_numpy_ctfs_dropped", "memory high-water of the numpy load through ctfs, caches "
     "dropped (page cache growth + daemon anonymous RSS)", "MiB", "low"),
    ("mem_torch_plain_dropped", "memory high-water of the torch load of the plaintext, "
     "caches dropped (page cache growth)", "MiB", "low"),
    ("mem_torch_ctfs_dropped", "memory high-water of the torch load through ctfs, caches "
     "dropped (page cache growth + daemon anonymous RSS)", "MiB", "low"),
    ("read_resident_cold", "sequential read through ctfs -o resident, fresh mount (the "
     "open decrypts the whole file)", "GB/s", "high"),
    ("read_resident_warm", "sequential read through ctfs -o resident, warm (second pass)",
     "GB/s", "high"),
    ("load_numpy_resident_warm", "numpy mmap loader through ctfs -o resident, warm",
     "s", "low"),
    ("load_numpy_resident_dropped", "numpy mmap loader through ctfs -o resident, fresh "
     "mount, all caches dropped", "s", "low"),
    ("mem_numpy_resident_dropped", "memory high-water of the numpy load through ctfs -o "
     "resident, caches dropped (page cache growth + daemon anonymous RSS)", "MiB", "low"),
    ("load_torch_resident_warm", "torch pread loader through ctfs -o resident, warm",
     "s", "low"),
    ("rand4k_native_p50", "random 4 KiB pread, plaintext file (hot), p50", "us", "low"),
    ("rand4k_native_p99", "random 4 KiB pread, plaintext file (hot), p99", "us", "low"),
    ("rand4k_ctfs_cold_p50", "random 4 KiB pread through ctfs, cold, p50", "us", "low"),
    ("rand4k_ctfs_cold_p99", "random 4 KiB pread through ctfs, cold, p99", "us", "low"),
    ("rand4k_ctfs_warm_p50", "random 4 KiB pread through ctfs, warm, p50", "us", "low"),
    ("rand4k_ctfs_warm_p99", "random 4 KiB pread through ctfs, warm, p99", "us", "low"),
    ("ofb_native", "open to first byte, plaintext many-tensor model", "ms", "low"),
    ("ofb_ctfs_cold", "open to first byte through ctfs, many-tensor model, cold", "ms", "low"),
    ("first_tensor_ctfs_cold", "open to first tensor byte (header parsed) through ctfs, "
     "many-tensor model, cold", "ms", "low"),
    ("ofb_resident", "open to first byte of the main model through a fresh ctfs -o resident "
     "mount (whole file decrypted at open)", "ms", "low"),
    ("tgsp_open_per_gib", "first access (open) of a TGSP package through ctfs, per GiB",
     "s/GiB", "low"),
    ("read_tgsp", "sequential read of a TGSP package's model through ctfs", "GB/s", "high"),
    ("policy_decide", "access decision: a typical compiled policy evaluated with its input",
     "us", "low"),
    ("policy_open_step", "access step of an open: /proc facts of the caller, input, "
     "decision", "us", "low"),
    ("rss_ctfs_peak", "ctfs daemon peak RSS (VmHWM), largest over the main model's mounts",
     "MiB", "low"),
    ("rss_ctfs_peak_many", "ctfs daemon peak RSS (VmHWM), many-tensor model mounts",
     "MiB", "low"),
    ("rss_gocryptfs_peak", "gocryptfs peak RSS (VmHWM), for comparison", "MiB", "low"),
    ("rss_resident_peak", "ctfs -o resident daemon peak RSS (VmHWM), main model", "MiB",
     "low"),
    ("locked_resident", "ctfs -o resident daemon locked resident memory (smaps_rollup "
     "Locked) after the warm loads, main model", "MiB", "low"),
]
FIGURE_KEYS = [f[0] for f in FIGURES]
PEAK_FIGURES = {"rss_ctfs_peak", "rss_ctfs_peak_many", "rss_gocryptfs_peak",
                "rss_resident_peak", "locked_resident"}


class Figures:
    """Values per figure, collected run by run; which runs count is chosen
    at the end (the least disturbed ones), see use()."""

    def __init__(self):
        self.attempts = []
        self.runs = {k: [] for k in FIGURE_KEYS}
        self.skipped = {}

    def begin(self):
        self.attempts.append({k: [] for k in FIGURE_KEYS})

    def add(self, key, value):
        self.attempts[-1][key].append(value)

    def use(self, indices):
        self.runs = {k: [v for i in indices for v in self.attempts[i][k]] for k in FIGURE_KEYS}

    def skip(self, keys, why):
        for k in keys:
            self.skipped[k] = why

    def value(self, key):
        r = self.runs.get(key)
        if not r:
            return None
        return max(r) if key in PEAK_FIGURES else statistics.median(r)

    def as_dict(self):
        out = {}
        for key, label, unit, better in FIGURES:
            r = self.runs[key]
            out[key] = {"label": label, "unit": unit, "better": better,
                        "value": self.value(key), "runs": r,
                        "min": min(r) if r else None, "max": max(r) if r else None,
                        "statistic": "max" if key in PEAK_FIGURES else "median"}
            if not r:
                out[key]["skipped"] = self.skipped.get(key, "not measured")
        return out


def targets(fig, cache_mib):
    """Every target as (issue, name, measured, comparison, limit, how it is
    computed, the figures it needs). Ratios are between figures of the same
    run, so a slow phase of a shared machine moves both sides."""
    v = fig.value
    rows = []

    def ratio(issue, name, a, b, cmp, limit, what=""):
        m = v(a) / v(b) if v(a) is not None and v(b) else None
        rows.append((issue, name, m, cmp, limit, "%s / %s%s" % (a, b, what), [a, b]))

    def plain(issue, name, key, cmp, limit, unit, what=""):
        rows.append((issue, name, v(key), cmp, limit, "%s in %s%s" % (key, unit, what), [key]))

    time, speed = " (time)", " (speed)"
    ratio("14", "cold read >= 2x gocryptfs", "read_ctfs_cold", "read_gocryptfs_cold",
          ">=", 2.0)
    ratio("14", "warm read, resident >= 0.9x native", "read_resident_warm", "read_native",
          ">=", 0.9)
    for loader in ("numpy", "torch"):
        ratio("14", "%s load warm, resident <= 1.1x plaintext" % loader,
              "load_%s_resident_warm" % loader, "load_%s_plain" % loader, "<=", 1.1, time)
    for loader in ("numpy", "torch"):
        ratio("14", "%s load, caches dropped <= 1.3x plaintext" % loader,
              "load_%s_ctfs_dropped" % loader, "load_%s_plain_dropped" % loader,
              "<=", 1.3, time)
    for loader in ("numpy", "torch"):
        ratio("14", "%s load memory, caches dropped <= 1.1x plaintext" % loader,
              "mem_%s_ctfs_dropped" % loader, "mem_%s_plain_dropped" % loader,
              "<=", 1.1, " (MiB)")
    ratio("14", "numpy load, resident, caches dropped <= 1.3x plaintext",
          "load_numpy_resident_dropped", "load_numpy_plain_dropped", "<=", 1.3, time)
    ratio("14", "numpy load memory, resident, caches dropped <= 1.1x plaintext",
          "mem_numpy_resident_dropped", "mem_numpy_plain_dropped", "<=", 1.1, " (MiB)")
    ratio("14", "passthrough cold >= 0.9x native", "read_passthrough_cold", "read_native",
          ">=", 0.9)
    ratio("14", "passthrough warm >= 0.9x native", "read_passthrough_warm", "read_native",
          ">=", 0.9)
    ratio("14", "passthrough mmap load >= 0.9x native", "load_numpy_plain",
          "load_numpy_passthrough", ">=", 0.9, speed)
    ratio("5", "warm read, default mode >= 0.9x native", "read_ctfs_warm", "read_native",
          ">=", 0.9)
    for loader in ("numpy", "torch"):
        ratio("5", "%s load cold <= 1.3x plaintext" % loader, "load_%s_ctfs_cold" % loader,
              "load_%s_plain" % loader, "<=", 1.3, time)
        ratio("5", "%s load warm <= 1.05x plaintext" % loader, "load_%s_ctfs_warm" % loader,
              "load_%s_plain" % loader, "<=", 1.05, time)
    ratio("5", "numpy load from disk <= 1.3x plaintext from disk", "load_numpy_ctfs_disk",
          "load_numpy_plain_disk", "<=", 1.3, " (time, one file evicted)")
    plain("5", "daemon RSS <= 64 MiB + cache_size", "rss_ctfs_peak", "<=", 64 + cache_mib,
          "MiB", ", limit 64 + %g" % cache_mib)
    plain("5", "open-to-first-byte <= 50 ms", "ofb_ctfs_cold", "<=", 50.0, "ms")
    plain("-", "policy decision <= 50 us", "policy_decide", "<=", 50.0, "us")
    return rows


def verdict(measured, cmp, limit):
    if measured is None:
        return "n/a"
    ok = measured >= limit if cmp == ">=" else measured <= limit
    return "PASS" if ok else "MISS"


def _fmt(x, unit=""):
    if x is None:
        return "-"
    if unit == "GB/s" or unit == "x":
        return "%.2f" % x
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    return "%.3g" % x


def print_summary(fig, cache_mib, out):
    rows = targets(fig, cache_mib)
    w = max(len(r[1]) for r in rows)
    out.write("\n%-*s %10s %8s  %s\n" % (w, "target", "measured", "limit", "verdict"))
    for _, name, measured, cmp, limit, _, _ in rows:
        out.write("%-*s %10s %8s  %s\n" % (w, name, _fmt(measured, "x"),
                                           cmp + " " + _fmt(limit),
                                           verdict(measured, cmp, limit)))


def write_json(path, meta, fig, cache_mib):
    doc = dict(meta)
    doc["figures"] = fig.as_dict()
    doc["targets"] = [{"issue": issue, "name": n, "measured": m, "cmp": c, "limit": lim,
                       "formula": how, "figures": keys, "verdict": verdict(m, c, lim)}
                      for issue, n, m, c, lim, how, keys in targets(fig, cache_mib)]
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def write_markdown(path, meta, fig, cache_mib, notes, chart):
    L = []
    L.append("# ctfs speed benchmark\n")
    L.append("%s, commit `%s`, %s\n" % (meta["date"], meta["commit"], meta["machine"]))
    if meta.get("fuse"):
        L.append("ctfs built with libfuse %s; kernel I/O features: %s.\n" % (
            meta["fuse"]["library"], meta["fuse"]["features"]))
    m = meta["model"]
    L.append("Model: %s, %d tensors (hidden %d, %d layers, vocab %d; bf16 projections, "
             "f32 norms and biases), %s, chunk size %s. Many-tensor model: %d tensors, "
             "%s. %d run(s) per figure, median shown (peak for RSS). Daemon options: `%s`.\n"
             % (_size(m["file_bytes"]), m["tensors"], m["hidden"], m["layers"], m["vocab"],
                meta["alg"], meta["chunk_size"] or "default", meta["many"]["tensors"],
                _size(meta["many"]["file_bytes"]), meta["runs"], meta["mount_opts"]))
    L.append("## Targets (issues 5 and 14)\n")
    L.append("Ratios are between figures of the same run. A target whose figures "
             "were not measured shows n/a; the figures table says why.\n")
    L.append("| issue | target | measured | limit | verdict | from |")
    L.append("|---|---|---:|---:|---|---|")
    for issue, name, measured, cmp, limit, how, _ in targets(fig, cache_mib):
        L.append("| %s | %s | %s | %s %s | **%s** | %s |" % (
            issue, name, _fmt(measured, "x"), cmp, _fmt(limit), verdict(measured, cmp, limit),
            how))
    L.append("")
    L.append("## Figures\n")
    L.append("| figure | value | unit | min | max | runs | what |")
    L.append("|---|---:|---|---:|---:|---:|---|")
    for key, d in fig.as_dict().items():
        if d["value"] is None:
            L.append("| `%s` | - | %s | | | 0 | %s (skipped: %s) |" % (
                key, d["unit"], d["label"], d["skipped"]))
            continue
        L.append("| `%s` | %s | %s | %s | %s | %d | %s |" % (
            key, _fmt(d["value"], d["unit"]), d["unit"], _fmt(d["min"], d["unit"]),
            _fmt(d["max"], d["unit"]), len(d["runs"]), d["label"]))
    L.append("")
    if chart:
        L.append("![chart](%s)\n" % os.path.basename(chart))
    L.append("## How it was measured\n")
    L.append(HOW)
    if notes:
        L.append("## Notes from this run\n")
        L.extend("- " + n for n in notes)
        L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


HOW = """\
- **native**: the plaintext file, read once before (page cache hot), read
  with 1 MiB `read`s into one reused buffer. GB/s are 10^9 bytes per second
  of the whole file. The plaintext and backing files are put in the page
  cache by `read()` (evicted and read back after anything that maps them):
  filled by mmap faults, the kernel keeps a file in smaller folios and the
  same native read runs at about half speed.
- **cold** (ctfs and gocryptfs): a fresh mount for every run (a new daemon:
  empty chunk cache; new inodes: nothing of the view in the kernel page
  cache). The *backing* file is in the host page cache (read just before;
  its residency is checked with `fincore`), so cold measures decryption and
  FUSE, not the disk. Only the `dropped` group below drops the caches.
- **warm**: a second pass over the same file on the same mount, after the
  cold pass, through a new open.
- **from disk** (`*_disk`): the file (plaintext, or the backing file of a
  fresh ctfs mount) is evicted from the page cache with
  `posix_fadvise(DONTNEED)` first; an alternative reading of "cold" for the
  loader target. Only that one file is evicted (no root needed); kept for
  comparison with earlier reports, the target of issue 14 uses `dropped`.
- **caches dropped** (`*_dropped`, root only, last group of each run):
  `sync; echo 3 > /proc/sys/vm/drop_caches` before each load, so the
  plaintext, or the backing file and everything the daemon opens, comes
  from the disk. The ctfs mount is made before the drop and is fresh (empty
  chunk cache). numpy and torch loaders as below. Afterwards every file is
  read back into the page cache for the next run's other groups.
- **memory high-water** (`mem_*_dropped`): during each of those loads a
  thread samples every 10 ms `Cached + Buffers` of /proc/meminfo (every
  file page, the FUSE view's and a memfd's included) and the daemon's
  `RssAnon` (its file and shared pages are in the page cache already);
  the figure is the highest sum of page cache growth since the start of
  the load plus daemon anonymous RSS. The loader's own destination buffer
  is the same for both and not counted. The page cache is the machine's:
  another process reading files during the load adds to the figure. The
  notes split the last run's figure into the files' own pages (`fincore`
  of the plaintext, or of the view and the backing file) and "other", and
  warn when "other" exceeds 5% of the model. With `-o resident` available
  the numpy load is also measured through a resident mount
  (`load_numpy_resident_dropped`, `mem_numpy_resident_dropped`): its
  copy is a memfd, in the page cache.
- **loaders**: numpy maps the file once and copies every tensor out of the
  mapping (what safetensors' mmap loading does; every page is faulted in);
  torch reads every tensor with one `pread` and wraps it with
  `torch.frombuffer`. Both copy into one destination buffer allocated and
  touched before timing, so they time reading, not memory allocation.
- **passthrough**: the plaintext file, hard-linked into SOURCE as a plain
  `plain.safetensors`, read through a fresh ctfs mount (cold, then warm on
  the same mount) and loaded by the numpy loader through another fresh
  mount. Built against libfuse >= 3.17 and run as root, ctfs hands such
  files to the kernel (passthrough); against 3.14 the daemon serves them.
  The header line names the libfuse build; compare reports of both builds.
- **resident** (`*_resident*`): the same model through a fresh mount with
  `-o resident` (a protected file is decrypted whole into locked memory at
  its first open, and passed through to the kernel with libfuse >= 3.17 as
  root): a cold sequential read (pays for that decryption), a warm one,
  then the numpy and torch loaders on the same mount; the daemon's VmHWM
  and its resident locked memory (`Locked` of smaps_rollup: VmLck counts
  whole mappings under `mlockall(MCL_ONFAULT)`) just before unmounting;
  and open to first byte of the main model on another fresh mount. A
  daemon that refuses the option is left out with its message.
- **TGSP** (`tgsp_*`): measured apart: `tests/bench_tgsp_mount.sh` (one
  build) and `tests/bench_tgsp_compare.sh` (two builds interleaved on one
  package, for before/after).
- **random 4 KiB**: `pread`s of 4 KiB at random 4 KiB-aligned offsets in the
  tensor data; cold on a fresh mount, warm repeating the same offsets on the
  same mount. p50/p99 of each run, median over runs.
- **open to first byte**: `open` + `read(8)` on a fresh mount, for a model
  with 1500+ tensors (lookup, header load, signature check, key lookup and
  unwrapping of every tensor's key happen in there).
- **RSS**: `VmHWM` of the daemon, read from /proc just before each unmount.
- **targets**: each is a ratio of two figures of the same run (or one
  figure against a fixed limit); the issue column says which issue set it.
  A target of a group that was skipped shows n/a.
- **contention**: this machine is shared. Before each run the benchmark
  waits (`--settle`, up to 60 s) for a second in which other processes use
  under 10% of the CPU, and during each run it measures the share of the
  CPU others took (/proc/stat minus its own and its daemons' CPU time).
  A run above `--max-contention` (10%) is repeated, up to three times
  `--runs` attempts, and the calmest runs are kept; kept runs above 5% are
  listed in the notes, every attempt is in report.json (`contention`).
- Before the timed runs every view (ctfs encrypted, many-tensor,
  passthrough, resident, gocryptfs) is read once and compared with the plaintext
  (sha256 of the tensor data), so no figure comes from wrong bytes.
"""


def _size(n):
    for unit, s in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= s:
            return "%.3g %s" % (n / s, unit)
    return "%d B" % n


LATENCY_PLOT = """\
set ylabel 'microseconds (lower is better)'
set title 'random 4 KiB reads'
set logscale y
set yrange [*:*]
plot 'chart-latency.dat' using 2:xtic(1) title 'p50' lc rgb '#3366aa', \\
     '' using 3 title 'p99' lc rgb '#cc5533'
"""

MEMORY_PLOT = """\
unset logscale y
set yrange [0:*]
set ylabel 'MiB (lower is better)'
set title 'memory high-water of a load, caches dropped'
plot 'chart-memory.dat' using 2:xtic(1) notitle lc rgb '#559944'
"""


def write_chart(outdir, fig, data_bytes):
    """Throughput of every read and load (GB/s), random-read latencies and
    the memory high-water of the loads from dropped caches, as PNG when
    gnuplot can, SVG otherwise; None without gnuplot."""
    gp = shutil.which("gnuplot")
    if not gp:
        return None
    rows = []
    for key, label, unit, _ in FIGURES:
        v = fig.value(key)
        if v is None or unit not in ("GB/s", "s"):
            continue
        rows.append((key, v if unit == "GB/s" else data_bytes / v / 1e9))
    lat = []
    for base in ("native", "ctfs_cold", "ctfs_warm"):
        p50, p99 = fig.value("rand4k_%s_p50" % base), fig.value("rand4k_%s_p99" % base)
        if p50 is not None:
            lat.append((base, p50, p99))
    mem = [(key, fig.value(key)) for key in FIGURE_KEYS
           if key.startswith("mem_") and fig.value(key) is not None]
    with open(os.path.join(outdir, "chart-memory.dat"), "w") as f:
        for k, v in mem:
            f.write('"%s" %.1f\n' % (k, v))
    with open(os.path.join(outdir, "chart-throughput.dat"), "w") as f:
        for k, v in rows:
            f.write('"%s" %.4f\n' % (k, v))
    with open(os.path.join(outdir, "chart-latency.dat"), "w") as f:
        for k, a, b in lat:
            f.write('"%s" %.2f %.2f\n' % (k, a, b))
    terms = subprocess.run([gp, "-e", "set terminal"], capture_output=True, text=True)
    listing = terms.stdout + terms.stderr
    # the throughput panel has a bar per figure (30 or so): it gets the
    # whole top row, the latency and memory panels share the bottom one
    small = [plot for plot, have in ((LATENCY_PLOT, lat), (MEMORY_PLOT, mem)) if have]
    top = 0.55 if small else 1.0
    if "pngcairo" in listing:
        term, ext = "pngcairo size 1200,%d font 'sans,9'" % (1100 if small else 700), "png"
    elif " png " in listing:
        term, ext = "png size 1200,%d" % (1100 if small else 700), "png"
    else:
        term, ext = "svg size 1200,%d" % (1100 if small else 700), "svg"
    chart = os.path.join(outdir, "chart." + ext)
    below = "".join("set origin %g,0\nset size %g,%g\n%s" % (
        i / len(small), 1.0 / len(small), 1 - top, plot) for i, plot in enumerate(small))
    script = """\
set terminal %s
set output '%s'
set multiplot title 'ctfs benchmark (medians)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -45 noenhanced
set bmargin 11
set rmargin 10
set grid ytics
set yrange [0:*]
set ylabel 'GB/s (higher is better)'
set title 'sequential reads and loaders'
set origin 0,%g
set size 1,%g
plot 'chart-throughput.dat' using 2:xtic(1) notitle lc rgb '#3366aa'
%sunset multiplot
""" % (term, os.path.basename(chart), 1 - top, top * 0.96, below)
    with open(os.path.join(outdir, "chart.gp"), "w") as f:
        f.write(script)
    p = subprocess.run([gp, "chart.gp"], cwd=outdir, capture_output=True, text=True)
    if p.returncode or not os.path.exists(chart):
        return None
    return chart
