"""Issue 9, finding 10: a client that reads a damaged chunk over and over
cannot flood the daemon's log. The failure is logged a few times, the rest
is counted, and the count is logged (at the latest when the mount ends)."""

import errno
import os
import re
import shutil

from conftest import unmount
import st_load

VEC = "v2-aes256-partial.safetensors"
KEYS = "keys-aes256.json"


def test_failed_reads_do_not_flood_the_log(tmp_path, tool, keyring, vectors, mount):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(os.path.join(vectors, "cryptotensors", VEC), src / VEC)
    hdr, start = st_load.header(str(src / VEC))
    b, _ = hdr["w"]["data_offsets"]
    data = bytearray((src / VEC).read_bytes())
    data[start + b + 3 * 65536 + 10] ^= 1    # chunk 3 of w fails its tag
    (src / VEC).write_bytes(bytes(data))
    tool("key", "add", "--keyring", keyring, os.path.join(vectors, "cryptotensors", KEYS))
    m = mount(src, keyring)
    path = m.file(VEC)
    vhdr, vstart = st_load.header(path)
    vb, _ = vhdr["w"]["data_offsets"]
    fd = os.open(path, os.O_RDONLY)
    failed = 0
    try:
        for i in range(2000):
            try:
                os.pread(fd, 100, vstart + vb + 3 * 65536 + (i % 4000))
            except OSError as e:
                assert e.errno == errno.EIO
                failed += 1
    finally:
        os.close(fd)
    assert failed == 2000
    during = [l for l in m.log().splitlines() if "chunk 3" in l]
    # at most one burst per kind of line (the read path may log a line per
    # layer), against one line per failed read before
    assert 0 < len(during) <= 20, "\n".join(during[:50])
    unmount(m.path, m.proc)
    counts = [int(n) for n in re.findall(r"suppressed (\d+) similar messages", m.log())]
    assert counts and sum(counts) + len(during) >= 2000, m.log()[-2000:]
