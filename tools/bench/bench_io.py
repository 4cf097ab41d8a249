"""The measurements themselves: each function reads one file one way and
returns what it timed. Nothing here knows about mounts."""

import hashlib
import json
import mmap
import os
import random
import resource
import shutil
import struct
import subprocess
import threading
import time

import numpy as np

READ_BUF = 1 << 20
NP_DTYPES = {"F32": np.float32, "BF16": np.uint16}   # bf16 moved as raw 16-bit words


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)), 8 + n


def _tensors(hdr):
    return [(name, t) for name, t in hdr.items() if name != "__metadata__"]


def seq_read(path, buf):
    """Seconds to read the whole file with len(buf)-byte reads into buf."""
    mv = memoryview(buf)
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        total = 0
        while True:
            n = os.readv(fd, [mv])
            if n <= 0:
                break
            total += n
    finally:
        os.close(fd)
    return time.perf_counter() - t0, total


def warm(path):
    """Bring path into the page cache (the hot baseline, or the backing file
    of a cold mount)."""
    seq_read(path, bytearray(READ_BUF))


def evict(path):
    """Drop path's clean pages from the page cache, and no other file's."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def recache(path):
    """Evict path and read it back with read(): the page cache then holds it
    the way a sequential reader leaves it. How a file entered the cache
    matters: after mmap faults the kernel keeps it in smaller folios, and a
    plain read of it runs at half the speed (measured: 14-17 vs 30 GB/s)."""
    evict(path)
    warm(path)


DROP_CACHES = "/proc/sys/vm/drop_caches"


def drop_caches():
    """Empty the whole machine's page cache (and dentries, inodes): the next
    load reads the plaintext, or the backing file, from the disk. Root only;
    it slows every other process on the machine for a while, so only the
    `dropped` group calls it. sync first: dirty pages are not dropped."""
    os.sync()
    with open(DROP_CACHES, "w") as f:
        f.write("3\n")


def page_cache_kib():
    """Cached + Buffers of /proc/meminfo in KiB. Cached holds every file
    page, the FUSE view's included, and shared memory (a memfd a daemon
    passes through to the kernel lives there)."""
    got = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Cached", "Buffers"):
                got[k] = int(v.split()[0])
    return got.get("Cached", 0) + got.get("Buffers", 0)


def anon_rss_kib(pid):
    """RssAnon of a process in KiB, None once it is gone. Only its anonymous
    pages: its file and shared-memory pages are in the page cache figure
    already and would be counted twice."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class HighWater:
    """The memory a load costs the machine: page cache growth since the
    start plus the daemon's anonymous RSS, sampled every interval seconds in
    a thread, highest sum kept. A `with` block around the load:

        with HighWater(daemon_pid) as hw:
            load(...)
        hw.peak_kib, hw.cache_kib, hw.rss_kib (the two parts at the peak)

    Pages other processes bring into the page cache meanwhile count too;
    the machine has to be quiet for the figure to mean something. The
    readers are parameters so that the logic can be tested without /proc."""

    def __init__(self, pid=None, interval=0.01, cache=page_cache_kib, rss=anon_rss_kib):
        self.pid = pid
        self.interval = interval
        self._cache = cache
        self._rss = rss
        self.base_kib = None
        self.peak_kib = self.cache_kib = self.rss_kib = 0
        self.samples = 0
        self._last_rss = 0
        self._stop = threading.Event()
        self._thread = None

    def sample(self):
        cache = self._cache() - self.base_kib
        rss = 0
        if self.pid is not None:
            got = self._rss(self.pid)
            # a daemon that exits mid-load keeps its last known size
            rss = self._last_rss = got if got is not None else self._last_rss
        self.samples += 1
        if cache + rss > self.peak_kib or self.samples == 1:
            self.peak_kib, self.cache_kib, self.rss_kib = cache + rss, cache, rss

    def _run(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self.base_kib = self._cache()
        self.sample()
        self._thread = threading.Thread(target=self._run, name="highwater", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()        # what the load left behind, if it ended between samples
        return False

    @property
    def peak_mib(self):
        return self.peak_kib / 1024.0


def _fincore(path):
    """(bytes of path in the page cache, its size), or None if unknown."""
    exe = shutil.which("fincore")
    if not exe:
        return None
    p = subprocess.run([exe, "--bytes", "--noheadings", "--output", "RES,SIZE", path],
                       capture_output=True, text=True)
    try:
        res, size = (int(x) for x in p.stdout.split())
    except ValueError:
        return None
    return res, size


def resident_fraction(path):
    """Share of path in the page cache (fincore), or None if unknown."""
    got = _fincore(path)
    if got is None:
        return None
    res, size = got
    return res / size if size else 1.0


def cached_mib(path):
    """MiB of path in the page cache (fincore), or None if unknown."""
    got = _fincore(path)
    return None if got is None else got[0] / float(1 << 20)


class Scratch:
    """Destination memory for the loaders, allocated and touched once, so
    that no figure pays for first-touch page faults of anonymous memory."""

    def __init__(self, size):
        self.buf = bytearray(max(size, 1))
        self.np = np.frombuffer(self.buf, dtype=np.uint8)
        self.np[::4096] = 1


def load_numpy(path, scratch):
    """safetensors' way with numpy: map the file once, then materialise
    every tensor (copy it out of the mapping, which faults every page in)."""
    t0 = time.perf_counter()
    hdr, start = header(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)
    try:
        for _, t in _tensors(hdr):
            b, e = t["data_offsets"]
            dt = np.dtype(NP_DTYPES[t["dtype"]])
            src = np.frombuffer(mm, dtype=dt, count=(e - b) // dt.itemsize, offset=start + b)
            dst = scratch.np[:e - b].view(dt)
            np.copyto(dst, src)
            del src
    finally:
        mm.close()
    return time.perf_counter() - t0


def load_torch(path, scratch):
    """A loader that reads each tensor's bytes with one pread and wraps them
    with torch.frombuffer (no whole-file buffer: bounded at any size)."""
    import torch
    dtypes = {"F32": torch.float32, "BF16": torch.bfloat16}
    mv = memoryview(scratch.buf)
    t0 = time.perf_counter()
    hdr, start = header(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        for _, t in _tensors(hdr):
            b, e = t["data_offsets"]
            got = 0
            while got < e - b:
                n = os.preadv(fd, [mv[got:e - b]], start + b + got)
                if n <= 0:
                    raise OSError("short read in %s at %d" % (path, start + b + got))
                got += n
            x = torch.frombuffer(scratch.buf, dtype=dtypes[t["dtype"]],
                                 count=(e - b) // (4 if t["dtype"] == "F32" else 2))
            x.view(t["shape"])
    finally:
        os.close(fd)
    return time.perf_counter() - t0


def random_offsets(start, size, count, seed):
    """count 4 KiB-aligned offsets in the tensor data of a file of size
    bytes whose data starts at start."""
    first = (start + 4095) // 4096
    last = max(first, size // 4096 - 1)
    rnd = random.Random(seed)
    return [4096 * rnd.randint(first, last) for _ in range(count)]


def random_reads(path, offsets):
    """Latency in microseconds of each 4 KiB pread, in order."""
    fd = os.open(path, os.O_RDONLY)
    lat = []
    try:
        size = os.fstat(fd).st_size
        for off in offsets:
            t0 = time.perf_counter_ns()
            n = len(os.pread(fd, 4096, off))
            t1 = time.perf_counter_ns()
            if n != min(4096, size - off):
                raise OSError("short read in %s at %d" % (path, off))
            lat.append((t1 - t0) / 1000.0)
    finally:
        os.close(fd)
    return lat


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def open_to_first_byte(path):
    """Milliseconds from open() to the first byte, and to the first byte of
    the first tensor (header read and parsed, as a loader does)."""
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        head = os.read(fd, 8)
        t1 = time.perf_counter()
        (n,) = struct.unpack("<Q", head)
        hdr = json.loads(os.pread(fd, n, 8))
        first = min(t["data_offsets"][0] for _, t in _tensors(hdr))
        if len(os.pread(fd, 1, 8 + n + first)) != 1:
            raise OSError("no tensor data in " + path)
        t2 = time.perf_counter()
    finally:
        os.close(fd)
    return (t1 - t0) * 1e3, (t2 - t0) * 1e3


def data_sha256(path):
    """sha256 of everything after the header: a correct view has the data
    region of the plaintext byte for byte."""
    _, start = header(path)
    h = hashlib.sha256()
    buf = bytearray(READ_BUF)
    mv = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        while True:
            n = f.readinto(mv)
            if not n:
                break
            h.update(mv[:n])
    return h.hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    buf = bytearray(READ_BUF)
    mv = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(mv)
            if not n:
                break
            h.update(mv[:n])
    return h.hexdigest()


def _cpu_snapshot():
    """(wall, busy CPU seconds of the machine, CPU seconds of this process
    and its reaped children: the daemons are children, reaped at unmount)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    busy = sum(v) - v[3] - v[4]          # all but idle and iowait; steal counts
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime
    return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), ours


class Contention:
    """Share of the machine's CPU that other processes (or the hypervisor)
    took while the benchmark measured: 0.0 is a quiet machine."""

    def __init__(self):
        self.start = _cpu_snapshot()

    def foreign(self):
        w1, b1, o1 = _cpu_snapshot()
        w0, b0, o0 = self.start
        if w1 <= w0:
            return 0.0
        return max(0.0, ((b1 - b0) - (o1 - o0)) / ((w1 - w0) * (os.cpu_count() or 1)))


def wait_quiet(max_wait, threshold=0.10, window=1.0):
    """Wait (at most max_wait seconds) for a window in which others use
    less than threshold of the CPU; returns (seconds waited, last share)."""
    t0 = time.monotonic()
    share = 0.0
    while True:
        c = Contention()
        time.sleep(window)
        share = c.foreign()
        if share < threshold or time.monotonic() - t0 >= max_wait:
            return time.monotonic() - t0, share


def memcpy_probe(mib=128, tries=3):
    """Memory copy speed in GB/s, best of tries: a yardstick for the host,
    which can slow down (other guests) without any sign inside the guest."""
    src = np.ones(mib << 20, dtype=np.uint8)
    dst = np.empty_like(src)
    best = 0.0
    for _ in range(tries):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = max(best, src.nbytes / (time.perf_counter() - t0) / 1e9)
    return best
