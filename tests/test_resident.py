"""Resident plaintext (-o resident, issue 14 item 3): a protected file is
decrypted and verified whole into locked memory at its first open and
served from there; the copy is shared, wiped after the last handle closes
plus the grace time, never while a reader still maps it, and a mount that
cannot lock memory is refused.

Observed as a user would: file contents (read, mmap, numpy), the daemon's
file descriptors (/proc/PID/fd: the copy is a memfd named ctfs-resident),
its locked memory (/proc/PID/status VmLck, /proc/PID/smaps Locked), its log.
The same tests run against the libfuse 3.14 build (copies served by the
daemon with memcpy) and the 3.17 build as root (copies passed through to
the kernel as the file's backing file)."""

import ctypes
import errno
import json
import mmap
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import binary, need, unmount, wait_mounted
import st_load

MiB = 1 << 20
DEADLINE = 60.0          # generous: a loaded machine is slow, not wrong


def passthrough_build():
    out = subprocess.run([binary("ctfs"), "--version"], capture_output=True, text=True,
                         check=True).stdout
    return "passthrough" in re.search(r"^kernel I/O features: (.*)$", out, re.M).group(1)


def sanitized():
    """Built with AddressSanitizer, whose mlock and mlockall do nothing."""
    with open(binary("ctfs"), "rb") as f:
        return b"__asan_init" in f.read()


def make_model(tool, tmp_path, keys, src, name, size):
    """An encrypted model of one U8 tensor of size random bytes in src; the
    tensor bytes."""
    data = os.urandom(size)
    hdr = ('{"w":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}' % (size, size)).encode()
    hdr += b" " * (-(8 + len(hdr)) % 8)
    plain = tmp_path / (name + ".plain.safetensors")
    plain.write_bytes(len(hdr).to_bytes(8, "little") + hdr + data)
    tool("encrypt", plain, src / (name + ".cryptotensors"), "--keys", keys)
    return data


@pytest.fixture
def model(tmp_path, tool, keyring):
    """model(*names, size=...) -> (src dir, {name: tensor bytes}), keys in
    the test's keyring."""
    keys = tmp_path / "keys.json"
    tool("keygen", "--alg", "aes256gcm", "--out", keys)
    tool("key", "add", "--keyring", keyring, keys)
    src = tmp_path / "src"
    src.mkdir()

    def make(*names, size=4 * MiB):
        return src, {n: make_model(tool, tmp_path, keys, src, n, size) for n in names}
    return make


def memfds(pid):
    """The daemon's descriptors on resident copies."""
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if "ctfs-resident" in target:
            out.append(target)
    return out


def locked_copies(pid):
    """Sizes and locked sizes (bytes) of the daemon's mappings of copies."""
    out, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                cur = {} if "ctfs-resident" in line else None
                if cur is not None:
                    out.append(cur)
            elif cur is not None:
                m = re.match(r"^(Size|Locked|ShmemPmdMapped):\s+(\d+) kB", line)
                if m:
                    cur[m.group(1)] = int(m.group(2)) << 10
    return out


def vmlck(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmLck:\s+(\d+) kB", f.read(), re.M).group(1)) << 10


def wait_for(cond, what):
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    pytest.fail("timed out waiting for " + what)


def tensor(view_bytes):
    """The data of a one-tensor view."""
    n = int.from_bytes(view_bytes[:8], "little")
    return view_bytes[8 + n:]


def counters(tool, m):
    """The mount's counters and gauges (ctfs-tool status --json)."""
    return json.loads(tool("status", m.path, "--json").stdout)["counters"]


def test_resident_copy_serves_the_plaintext_and_is_wiped_after_the_grace(
        model, tool, keyring, mount):
    size = 16 * MiB
    src, data = model("m", size=size)
    lazy = mount(src, keyring)
    m = mount(src, keyring, ["resident", "resident_grace=1"])
    pid = m.proc.pid
    assert memfds(pid) == []
    with open(lazy.file("m.safetensors"), "rb") as f:
        expected = f.read()
    assert tensor(expected) == data["m"]

    with open(m.file("m.safetensors"), "rb") as f:
        assert f.read() == expected
        with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mp:
            assert mp[:] == expected
        # one copy, locked whole, while the file is open
        assert len(memfds(pid)) == 1
        copies = locked_copies(pid)
        assert len(copies) == 1, copies
        assert copies[0]["Size"] >= len(expected)
        if not sanitized():   # AddressSanitizer makes mlock a no-op
            assert copies[0]["Locked"] >= len(expected)
            assert vmlck(pid) >= len(expected)
        # a second open shares it, numpy loads it
        arrays = st_load.load_numpy(m.file("m.safetensors"))
        assert arrays["w"].tobytes() == data["m"]
        del arrays
        assert len(memfds(pid)) == 1
        c = counters(tool, m)
        assert c["ctfs_resident_plaintext_bytes"] == len(expected)
        if passthrough_build():     # the kernel reads the copy itself
            assert c["ctfs_reads_total"] == 0, c
        else:                       # the daemon copies from it
            assert c["ctfs_reads_total"] > 0, c
    wait_for(lambda: memfds(pid) == [] and locked_copies(pid) == [],
             "the copy to be released after the grace time")
    log = m.log()
    assert "m.safetensors: resident (%d bytes, locked)" % len(expected) in log
    if passthrough_build():
        # wiped, or (when some process's mappings cannot be read, as a
        # container supervisor's) released unwiped, never zeroed blindly
        assert re.search(r"m\.safetensors: resident copy (wiped and released|released "
                         r"without wiping: the mappings of [1-9]\d* process)", log), log[-2000:]
    else:
        assert "m.safetensors: resident copy wiped and released" in log, log[-2000:]
    assert counters(tool, m)["ctfs_resident_plaintext_bytes"] == 0
    # and it comes back, verified again, at the next open
    with open(m.file("m.safetensors"), "rb") as f:
        assert f.read() == expected
    unmount(m.path, m.proc)
    assert m.proc.returncode == 0, m.log()[-2000:]


def test_a_mapping_outlives_close_and_is_never_wiped_under_its_reader(model, keyring, mount):
    """With passthrough the reader's mapping holds the copy's own pages
    after its descriptor closed: the copy must stay intact (and is kept)
    until it is unmapped. Without passthrough the mapping keeps the file
    open. Either way the bytes stay right and the copy goes after munmap."""
    src, data = model("m")
    # a hard link shares the copy: it is mapped under the other name
    os.link(src / "m.cryptotensors", src / "n.cryptotensors")
    m = mount(src, keyring, ["resident", "resident_grace=1"])
    pid = m.proc.pid
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    with open(m.file("m.safetensors"), "rb") as f:
        expected = f.read()
        fd = os.open(m.file("n.safetensors"), os.O_RDONLY)
        addr = libc.mmap(None, len(expected), mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        os.close(fd)
        assert len(memfds(pid)) == 1
    assert addr not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
    try:
        if passthrough_build():
            wait_for(lambda: "m.safetensors: resident copy kept: still mapped" in m.log(),
                     "the janitor to find the mapping")
        else:
            time.sleep(3)   # several grace times: the open mapping keeps the handle
        assert ctypes.string_at(addr, len(expected)) == expected
        assert len(memfds(pid)) == 1
    finally:
        libc.munmap(addr, len(expected))
    wait_for(lambda: memfds(pid) == [], "the copy to be released once unmapped")


SHMEM_THP = "/sys/kernel/mm/transparent_hugepage/shmem_enabled"


@pytest.fixture
def shmem_thp_never():
    """shmem_enabled set to never (many distributions' default) for the
    test, and put back as it was after it."""
    need(os.path.exists(SHMEM_THP), "no transparent huge pages in this kernel")
    with open(SHMEM_THP) as f:
        saved = re.search(r"\[([a-z_]+)\]", f.read()).group(1)
    with open(SHMEM_THP, "w") as f:
        f.write("never")
    yield
    with open(SHMEM_THP, "w") as f:
        f.write(saved)


def test_copies_are_made_of_huge_pages(model, keyring, mount, shmem_thp_never):
    src, data = model("m", size=8 * MiB)
    m = mount(src, keyring, ["resident"])
    with open(SHMEM_THP) as f:
        assert "[advise]" in f.read()
    assert "never -> advise" in m.log()
    with open(m.file("m.safetensors"), "rb") as f:
        assert tensor(f.read()) == data["m"]
        assert sum(c.get("ShmemPmdMapped", 0) for c in locked_copies(m.proc.pid)) >= 2 * MiB


def test_files_not_matching_the_pattern_stay_lazy(model, keyring, mount):
    src, data = model("a", "b", size=MiB)
    m = mount(src, keyring, ["resident=a*.safetensors:x/*", "resident_grace=60"])
    pid = m.proc.pid
    with open(m.file("b.safetensors"), "rb") as f:
        assert tensor(f.read()) == data["b"]
        assert memfds(pid) == []
    with open(m.file("a.safetensors"), "rb") as f:
        assert tensor(f.read()) == data["a"]
        assert len(memfds(pid)) == 1
    assert "b.safetensors: resident" not in m.log()


def test_a_tampered_chunk_fails_the_open(model, keyring, mount):
    src, _ = model("m", size=4 * MiB)
    path = src / "m.cryptotensors"
    hdr, start = st_load.header(str(path))
    b, _ = hdr["w"]["data_offsets"]
    raw = bytearray(path.read_bytes())
    raw[start + b + 3 * MiB + 5] ^= 1          # chunk 1 of w (2 MiB chunks)
    path.write_bytes(bytes(raw))
    m = mount(src, keyring, ["resident"])
    with pytest.raises(OSError) as e:
        open(m.file("m.safetensors"), "rb").close()
    assert e.value.errno == errno.EIO
    log = m.log()
    assert re.search(r"tensor 'w' chunk 1 fails its tag", log), log[-2000:]
    assert "m.safetensors: refused: its resident copy failed verification" in log
    assert memfds(m.proc.pid) == []
    # the refusal holds at the next open too: nothing unverified is served
    with pytest.raises(OSError) as e:
        open(m.file("m.safetensors"), "rb").close()
    assert e.value.errno == errno.EIO


def test_a_mount_that_cannot_lock_memory_is_refused(tmp_path, model, keyring):
    need(os.geteuid() == 0, "needs root to drop CAP_IPC_LOCK")
    need(shutil.which("setpriv") and shutil.which("prlimit"), "setpriv/prlimit missing")
    src, _ = model("m", size=MiB)
    mp = tmp_path / "mnt"
    mp.mkdir()
    argv = ["setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", "--",
            "prlimit", "--memlock=1048576:1048576", "--",
            binary("ctfs"), str(src), str(mp), "-f", "-o", "resident,keyring=" + keyring]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        unmount(str(mp), proc)
    assert proc.returncode != 0
    assert "-o resident needs to lock whole files in memory" in err, err
    assert not os.path.ismount(str(mp))
    # the same daemon mounts without the option
    log = tmp_path / "lazy.log"
    proc = subprocess.Popen(argv[:-2] + ["-o", "keyring=" + keyring],
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    try:
        assert wait_mounted(str(mp), proc), log.read_text()
    finally:
        unmount(str(mp), proc)
