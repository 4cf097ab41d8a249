"""The libfuse >= 3.17 kernel features (issue 14), observed from the daemon's
side: with -d, libfuse logs every request it receives, so a read that the
kernel passed through never shows up there.

- built against libfuse >= 3.17 and run as root: plain files are passed
  through (their READs never reach the daemon, mmap included), encrypted
  files are still decrypted by the daemon, in requests of 2 MiB;
- built against libfuse 3.14: passthrough is never attempted, every read
  reaches the daemon, requests stay at 1 MiB or less."""

import json
import mmap
import os
import re
import struct
import subprocess

import pytest

from conftest import binary, need, unmount, wait_mounted

MiB = 1 << 20


def features():
    """The kernel I/O features the binary was built with (ctfs --version)."""
    out = subprocess.run([binary("ctfs"), "--version"], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"^kernel I/O features: (.*)$", out, re.M)
    assert m, "ctfs --version does not name its kernel I/O features: " + out
    return m.group(1)


@pytest.fixture
def debug_mount(tmp_path):
    """debug_mount(src, *opts) -> (mount point, log reader): a foreground
    daemon with libfuse's request log (-d), always unmounted."""
    need(os.path.exists("/dev/fuse"), "/dev/fuse missing")
    need(os.geteuid() == 0, "mounting tests run as root")
    made = []

    def do_mount(src, *opts):
        mp = tmp_path / ("dmnt%d" % len(made))
        mp.mkdir()
        log = tmp_path / ("dctfs%d.log" % len(made))
        argv = [binary("ctfs"), str(src), str(mp), "-f", "-d"]
        if opts:
            argv += ["-o", ",".join(opts)]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        made.append((str(mp), proc))
        assert wait_mounted(str(mp), proc), "mount failed: " + log.read_text(errors="replace")
        return str(mp), lambda: log.read_text(errors="replace")

    yield do_mount
    for mp, proc in made:
        unmount(mp, proc)


def read_sizes(log):
    """Sizes of the READ requests the daemon received."""
    return [int(n) for n in re.findall(r"^read\[\d+\] (\d+) bytes from", log, re.M)]


def test_plain_files_pass_through_on_317_only(tmp_path, debug_mount):
    src = tmp_path / "src"
    src.mkdir()
    config = b'{"model_type": "test"}\n'
    (src / "config.json").write_bytes(config)
    blob = os.urandom(6 * MiB + 123)
    (src / "weights.bin").write_bytes(blob)
    passthrough = "passthrough" in features()
    mp, log = debug_mount(src)
    path = os.path.join(mp, "weights.bin")

    # two opens of one file at once share the kernel's backing file
    with open(path, "rb") as a, open(path, "rb") as b:
        assert a.read() == blob
        with mmap.mmap(b.fileno(), 0, prot=mmap.PROT_READ) as m:
            assert m[:] == blob
    with open(os.path.join(mp, "config.json"), "rb") as f:
        assert f.read() == config
    # and once closed, the file opens again (its backing id was released)
    with open(path, "rb") as a:
        assert a.read(4096) == blob[:4096]

    text = log()
    if passthrough:
        assert "passthrough: plain files are served by the kernel" in text, text[-2000:]
        assert re.search(r"passthrough: weights\.bin is backing id \d+", text)
        assert re.search(r"passthrough: config\.json is backing id \d+", text)
        assert read_sizes(text) == [], "plain reads reached the daemon"
    else:
        assert "passthrough" not in text, "passthrough attempted without libfuse 3.17"
        assert sum(read_sizes(text)) >= len(blob), "reads did not reach the daemon"


def _write_safetensors(path, n_floats):
    data = struct.pack("<%df" % n_floats, *range(n_floats))
    hdr = json.dumps({"w": {"dtype": "F32", "shape": [n_floats],
                            "data_offsets": [0, len(data)]}}).encode()
    hdr += b" " * (-(8 + len(hdr)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hdr)) + hdr + data)
    return data


def test_encrypted_reads_use_large_requests_on_317(tmp_path, tool, keyring, debug_mount):
    """Encrypted files still go through the daemon, in 2 MiB READs with
    libfuse >= 3.17 (root raises fs.fuse.max_pages_limit), 1 MiB before."""
    src = tmp_path / "src"
    src.mkdir()
    plain = tmp_path / "plain.safetensors"
    data = _write_safetensors(plain, 3 * MiB)          # 12 MiB of tensor data
    keys = tmp_path / "keys.json"
    tool("keygen", "--alg", "aes256gcm", "--out", keys)
    tool("encrypt", plain, src / "m.cryptotensors", "--keys", keys)
    tool("key", "add", "--keyring", keyring, keys)
    mp, log = debug_mount(src, "keyring=" + keyring)
    with open(os.path.join(mp, "m.safetensors"), "rb") as f:
        view = f.read()
    assert view[-len(data):] == data     # the view's header is its own

    sizes = read_sizes(log())
    assert sum(sizes) >= len(data), "encrypted reads must reach the daemon"
    assert "is backing id" not in log(), "an encrypted file was passed through"
    large = re.search(r"(\d+) (MiB|KiB) requests", features())
    if large:
        want = int(large.group(1)) << (20 if large.group(2) == "MiB" else 10)
        assert max(sizes) == min(want, 4 * MiB), sizes   # 4 MiB: ctfs's readahead
    else:
        assert max(sizes) <= MiB, sizes
