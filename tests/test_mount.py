"""The core mount, for real: the vector files of an independent implementation
mounted with keys from the kernel keyring and read with real loaders."""

import base64
import errno
import hashlib
import json
import os
import shutil
import threading

import pytest

import ctfs_seed

import ct_forge
import st_load

KEYS = {
    "v2-aes256-partial.safetensors": "keys-aes256.json",
    "v1-chacha.cryptotensors": "keys-chacha.json",
    "v2-aes128-unicode.cryptotensors": "keys-aes128.json",
}


def view_name(name):
    return name.replace(".cryptotensors", ".safetensors")


@pytest.fixture
def expected(vectors):
    with open(os.path.join(vectors, "cryptotensors", "expected.json")) as f:
        return json.load(f)


@pytest.fixture
def source(tmp_path, vectors):
    """A model directory holding every vector file, plus a config file."""
    src = tmp_path / "src"
    src.mkdir()
    for name in list(KEYS) + ["plain.safetensors"]:
        shutil.copy(os.path.join(vectors, "cryptotensors", name), src / name)
    (src / "config.json").write_text('{"model_type": "test"}\n')
    return src


def add_keys(tool, keyring, vectors, *names):
    for n in names or set(KEYS.values()):
        tool("key", "add", "--keyring", keyring, os.path.join(vectors, "cryptotensors", n))


def read_all(path):
    with open(path, "rb") as f:
        return f.read()


def expect_errno(code, fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    assert e.value.errno == code, "expected %s, got %s" % (
        errno.errorcode[code], errno.errorcode.get(e.value.errno))


def test_listing_maps_names_and_passes_other_files(source, tool, keyring, vectors, mount):
    m = mount(source, keyring)
    assert sorted(os.listdir(m.path)) == sorted([
        "config.json", "plain.safetensors", "v1-chacha.safetensors",
        "v2-aes128-unicode.safetensors", "v2-aes256-partial.safetensors"])
    assert read_all(m.file("config.json")) == (source / "config.json").read_bytes()
    assert read_all(m.file("plain.safetensors")) == (source / "plain.safetensors").read_bytes()


def test_every_tensor_matches_expected_numpy(source, tool, keyring, vectors, expected, mount):
    add_keys(tool, keyring, vectors)
    m = mount(source, keyring)
    for name, tensors in expected.items():
        path = m.file(view_name(name))
        arrays = st_load.load_numpy(path)
        got = st_load.digests(arrays)
        for t, (dtype, shape, digest) in tensors.items():
            assert list(arrays[t].shape) == shape, (name, t)
            assert got[t] == digest, (name, t)
        assert set(arrays) == set(tensors)


def test_every_tensor_matches_expected_torch(source, tool, keyring, vectors, expected, mount):
    pytest.importorskip("torch") if not os.environ.get("CI") else None
    add_keys(tool, keyring, vectors)
    m = mount(source, keyring)
    for name, tensors in expected.items():
        got = st_load.digests(st_load.load_torch(m.file(view_name(name))))
        assert got == {t: v[2] for t, v in tensors.items()}, name


def test_view_is_valid_safetensors(source, tool, keyring, vectors, mount):
    add_keys(tool, keyring, vectors)
    m = mount(source, keyring)
    for name in KEYS:
        path = m.file(view_name(name))
        size_before = os.stat(path).st_size
        data = read_all(path)
        assert len(data) == size_before, "stat size must be right before reading"
        hdr, start = st_load.header(path)
        assert start % 8 == 0
        meta = hdr.get("__metadata__", {})
        for k in ("__encryption__", "__crypto_keys__", "__signature__", "__policy__"):
            assert k not in meta
        src_hdr, _ = ct_forge.split(os.path.join(vectors, "cryptotensors", name))
        user = {k: v for k, v in src_hdr["__metadata__"].items() if not k.startswith("__")}
        assert meta == user
        for t, info in src_hdr.items():
            if t != "__metadata__":
                assert hdr[t] == info
        last = max(info["data_offsets"][1] for t, info in hdr.items() if t != "__metadata__")
        assert start + last == len(data)


def test_random_reads_match_sequential(source, tool, keyring, vectors, mount):
    add_keys(tool, keyring, vectors)
    m = mount(source, keyring)
    rnd = ctfs_seed.rng("random_reads")
    for name in KEYS:
        path = m.file(view_name(name))
        whole = read_all(path)
        fd = os.open(path, os.O_RDONLY)
        try:
            for _ in range(300):
                off = rnd.randrange(len(whole))
                n = rnd.choice([1, 7, 4096, 65536, 65537, 300000])
                assert os.pread(fd, n, off) == whole[off:off + n], (name, off, n)
        finally:
            os.close(fd)


def test_concurrent_readers(source, tool, keyring, vectors, mount):
    add_keys(tool, keyring, vectors)
    m = mount(source, keyring)
    path = m.file("v2-aes128-unicode.safetensors")
    whole = read_all(path)
    errors = []

    def reader(seed):
        rnd = ctfs_seed.rng("concurrent_reader_%d" % seed)
        fd = os.open(path, os.O_RDONLY)
        try:
            for _ in range(100):
                off = rnd.randrange(len(whole))
                n = rnd.randrange(1, 3 * 1024 * 1024)
                if os.pread(fd, n, off) != whole[off:off + n]:
                    errors.append((off, n))
        finally:
            os.close(fd)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_missing_key_then_keys_arrive(source, tool, keyring, vectors, mount):
    m = mount(source, keyring)      # mounted before any key is provisioned
    path = m.file("v2-aes256-partial.safetensors")
    expect_errno(errno.ENOKEY, open, path, "rb")
    assert "sign-1" in m.log(), "the log names the missing kid"
    add_keys(tool, keyring, vectors, "keys-aes256.json")
    assert len(read_all(path)) == os.stat(path).st_size


def test_wrong_master_key(tmp_path, source, tool, keyring, vectors, mount):
    # the right verification key, but a master key of the same kid that is not the one
    keys = json.load(open(os.path.join(vectors, "cryptotensors", "keys-aes256.json")))
    for k in keys["keys"]:
        if k["kty"] == "oct":
            k["k"] = "A" * 43 + "="
    (tmp_path / "wrong.json").write_text(json.dumps(keys))
    tool("key", "add", "--keyring", keyring, tmp_path / "wrong.json")
    m = mount(source, keyring)
    expect_errno(errno.EKEYREJECTED, open, m.file("v2-aes256-partial.safetensors"), "rb")
    assert "enc-1-a" in m.log()


def test_tampered_header_byte_is_refused(tmp_path, source, tool, keyring, vectors, mount):
    data = bytearray((source / "v2-aes256-partial.safetensors").read_bytes())
    i = data.index(b'"shape":[7]')
    data[i + 9] = ord("8")   # a shape the signature does not cover; sizes change too
    (source / "v2-aes256-partial.safetensors").write_bytes(bytes(data))
    # a tamper that keeps the header valid: change user metadata text
    hdr, body = ct_forge.split(os.path.join(vectors, "cryptotensors", "v2-aes128-unicode.cryptotensors"))
    user = [k for k in hdr["__metadata__"] if not k.startswith("__")][0]
    hdr["__metadata__"][user] += "x"
    ct_forge.write(source / "v2-aes128-unicode.cryptotensors", hdr, body)
    add_keys(tool, keyring, vectors)
    m = mount(source, keyring)
    expect_errno(errno.EBADMSG, open, m.file("v2-aes128-unicode.safetensors"), "rb")
    assert "signature" in m.log() and "v2-aes128-unicode" in m.log()
    with pytest.raises(OSError):
        open(m.file("v2-aes256-partial.safetensors"), "rb").read()
    # the others keep working
    assert len(read_all(m.file("v1-chacha.safetensors"))) > 0


def test_tampered_chunk_fails_only_there(source, tool, keyring, vectors, mount):
    name = "v2-aes256-partial.safetensors"
    hdr, start = st_load.header(str(source / name))
    b, e = hdr["w"]["data_offsets"]          # 600000 bytes in 64 KiB chunks
    data = bytearray((source / name).read_bytes())
    data[start + b + 3 * 65536 + 10] ^= 1    # chunk 3 of w
    (source / name).write_bytes(bytes(data))
    add_keys(tool, keyring, vectors)
    m = mount(source, keyring)
    path = m.file(name)
    vhdr, vstart = st_load.header(path)
    vb, _ = vhdr["w"]["data_offsets"]
    fd = os.open(path, os.O_RDONLY)
    try:
        expect_errno(errno.EIO, os.pread, fd, 100, vstart + vb + 3 * 65536 + 5)
        assert len(os.pread(fd, 65536, vstart + vb)) == 65536          # chunk 0
        assert len(os.pread(fd, 1000, vstart + vb + 5 * 65536)) == 1000  # chunk 5
    finally:
        os.close(fd)
    assert "chunk 3" in m.log()


def test_tampered_v1_tensor_fails(source, tool, keyring, vectors, mount):
    name = "v1-chacha.cryptotensors"
    hdr, start = st_load.header(str(source / name))
    b, e = hdr["a"]["data_offsets"]
    data = bytearray((source / name).read_bytes())
    data[e + start - 1] ^= 0x80              # the last byte of a 1 MB v1 tensor
    (source / "bad.cryptotensors").write_bytes(bytes(data))
    add_keys(tool, keyring, vectors)
    m = mount(source, keyring)
    # the good copy gives the view's layout (pages shared with a bad tensor fail too)
    good = m.file(view_name(name))
    vhdr, vstart = st_load.header(good)
    a0, a1 = vhdr["a"]["data_offsets"]
    fd = os.open(m.file("bad.safetensors"), os.O_RDONLY)
    try:
        # even the first bytes of the tensor are refused: v1 is one AEAD message
        expect_errno(errno.EIO, os.pread, fd, 16, vstart + a0 + 8192)
        expect_errno(errno.EIO, os.pread, fd, 16, vstart + (a0 + a1) // 2)
    finally:
        os.close(fd)
    assert "tensor 'a'" in m.log() and "bad.cryptotensors" in m.log()
    assert len(read_all(good)) == os.stat(good).st_size


def test_truncated_file_is_refused(source, tool, keyring, vectors, mount):
    name = "v2-aes128-unicode.cryptotensors"
    data = (source / name).read_bytes()
    (source / name).write_bytes(data[:-1000])
    add_keys(tool, keyring, vectors)
    m = mount(source, keyring)
    with pytest.raises(OSError):
        open(m.file(view_name(name)), "rb").read()
    assert view_name(name) in os.listdir(m.path) or name in os.listdir(m.path)


@pytest.mark.parametrize("policy", [
    "package model\nallow = false",
    "package model\ndefault allow = false\nallow { input.user == \"x\" }",
])
def test_denied_policy(tmp_path, source, tool, keyring, vectors, mount, policy):
    name = "v2-aes256-partial.safetensors"
    keys = os.path.join(vectors, "cryptotensors", "keys-aes256.json")
    ct_forge.mutate_meta(source / name, source / name, keys, "__policy__",
                         lambda p: dict(p, local=policy))
    add_keys(tool, keyring, vectors)
    m = mount(source, keyring)
    expect_errno(errno.EACCES, open, m.file(name), "rb")
    assert "policy" in m.log()


@pytest.mark.parametrize("policy", [
    "package model\nallow := true",
    "package model\n\nallow if true\n",
    "package model\nimport rego.v1\nallow if { true }",
])
def test_default_policy_spellings_allow(source, tool, keyring, vectors, mount, policy):
    name = "v2-aes256-partial.safetensors"
    keys = os.path.join(vectors, "cryptotensors", "keys-aes256.json")
    ct_forge.mutate_meta(source / name, source / name, keys, "__policy__",
                         lambda p: dict(p, local=policy))
    add_keys(tool, keyring, vectors)
    m = mount(source, keyring)
    assert len(read_all(m.file(name))) == os.stat(m.file(name)).st_size


def test_backing_file_replaced_while_mounted(source, tool, keyring, vectors, mount, expected):
    add_keys(tool, keyring, vectors)
    m = mount(source, keyring)
    path = m.file("v2-aes256-partial.safetensors")
    old = read_all(path)
    # replace it (rename over) with another model: a new open sees the new one
    shutil.copy(source / "v1-chacha.cryptotensors", source / "new.tmp")
    os.rename(source / "new.tmp", source / "v2-aes256-partial.safetensors")
    got = st_load.digests(st_load.load_numpy(path))
    assert got == {t: v[2] for t, v in expected["v1-chacha.cryptotensors"].items()}
    assert read_all(path) != old


def test_backing_file_rewritten_under_open_handle(source, tool, keyring, vectors, mount):
    add_keys(tool, keyring, vectors)
    m = mount(source, keyring)
    name = "v2-aes256-partial.safetensors"
    path = m.file(name)
    with open(path, "rb") as f:
        f.read(100)
        # rewrite in place: same inode, other bytes (the plaintext tensor p changes)
        data = bytearray((source / name).read_bytes())
        hdr, start = st_load.header(str(source / name))
        b, e = hdr["p"]["data_offsets"]
        data[start + b] ^= 0xff
        with open(source / name, "r+b") as w:
            w.write(bytes(data))
        vhdr, vstart = st_load.header(path)
        f.seek(vstart + vhdr["p"]["data_offsets"][0])
        with pytest.raises(OSError) as e:
            f.read(128)
        assert e.value.errno == errno.EIO
    assert "changed" in m.log()


def test_sharded_model_loads(tmp_path, tool, keyring, vectors, mount, expected):
    src = tmp_path / "sharded"
    src.mkdir()
    shards = {"model-00001-of-00002.cryptotensors": "v2-aes256-partial.safetensors",
              "model-00002-of-00002.cryptotensors": "v1-chacha.cryptotensors"}
    weight_map = {}
    for dst, name in shards.items():
        shutil.copy(os.path.join(vectors, "cryptotensors", name), src / dst)
        for t in expected[name]:
            weight_map[t] = view_name(dst)
    (src / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": 0}, "weight_map": weight_map}))
    add_keys(tool, keyring, vectors)
    m = mount(src, keyring)
    index = json.load(open(m.file("model.safetensors.index.json")))
    loaded = {}
    for t, shard in index["weight_map"].items():
        arrays = st_load.load_numpy(m.file(shard))
        loaded[t] = st_load.digests({t: arrays[t]})[t]
    for dst, name in shards.items():
        for t, v in expected[name].items():
            assert loaded[t] == v[2]


def test_read_only(source, tool, keyring, vectors, mount):
    m = mount(source, keyring)
    expect_errno(errno.EROFS, open, m.file("config.json"), "r+b")
    expect_errno(errno.EROFS, os.mkdir, m.file("newdir"))


def test_chunks_over_the_limit_are_refused(tmp_path, tool, keyring, vectors, mount):
    """A v2 chunk is held whole in locked memory, so the mount bounds it."""
    import numpy as np
    src = tmp_path / "big"
    src.mkdir()
    big = np.arange(5 << 20, dtype=np.float32)            # 20 MiB tensor
    small = np.arange(1000, dtype=np.float32)
    plain = tmp_path / "plain.safetensors"
    _write_safetensors(plain, {"big": big, "small": small})
    keys = tmp_path / "keys.json"
    tool("keygen", "--alg", "aes256gcm", "--out", keys)
    tool("encrypt", plain, src / "huge.cryptotensors", "--keys", keys, "--chunk-size", 32 << 20)
    tool("encrypt", plain, src / "ok.cryptotensors", "--keys", keys, "--chunk-size", 16 << 20)
    tool("key", "add", "--keyring", keyring, keys)
    m = mount(src, keyring)
    expect_errno(errno.EFBIG, open, m.file("huge.safetensors"), "rb")
    assert "over the" in m.log() and "'big'" in m.log()
    got = st_load.load_numpy(m.file("ok.safetensors"))
    assert np.array_equal(got["big"], big) and np.array_equal(got["small"], small)


def _write_safetensors(path, tensors):
    import struct
    hdr, off, blobs = {}, 0, []
    for name, a in tensors.items():
        hdr[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(hdr).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def test_removing_the_key_stops_new_opens(source, tool, keyring, vectors, mount):
    add_keys(tool, keyring, vectors, "keys-aes256.json")
    m = mount(source, keyring)
    path = m.file("v2-aes256-partial.safetensors")
    whole = read_all(path)
    with open(path, "rb") as held:
        tool("key", "remove", "--keyring", keyring, "enc-1-a")
        expect_errno(errno.ENOKEY, open, path, "rb")
        assert held.read() == whole, "a handle opened before keeps reading"
    # a different key under the same kid is refused too
    keys = json.load(open(os.path.join(vectors, "cryptotensors", "keys-aes256.json")))
    other = [dict(k, k=base64.b64encode(b"\x42" * 32).decode())
             for k in keys["keys"] if k["kty"] == "oct"]
    tool("key", "add", "--keyring", keyring, "-", input=json.dumps({"keys": other}).encode())
    expect_errno(errno.EKEYREJECTED, open, path, "rb")
    add_keys(tool, keyring, vectors, "keys-aes256.json")
    assert read_all(path) == whole
