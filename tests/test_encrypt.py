"""ctfs-tool keygen / encrypt / key: files written by the tool must be read by
an implementation that shares no code with it (tests/ct_reference.py, itself
checked against the vectors of an independent writer first), in the exact
header layout upstream CryptoTensors writes."""

import base64
import ctypes
import ctypes.util
import hashlib
import json
import os
import struct
import subprocess
import sys

import pytest

import ct_reference as ref
import ctfs_seed
from conftest import binary, need

DTYPE_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "F16": 2, "BF16": 2, "I32": 4,
              "F32": 4, "F64": 8, "I64": 8}
ALGS = ["aes128gcm", "aes256gcm", "chacha20poly1305"]
DEFAULT_POLICY = "package model\nallow = true"
VECTOR_KEYS = {
    "v2-aes256-partial.safetensors": "keys-aes256.json",
    "v1-chacha.cryptotensors": "keys-chacha.json",
    "v2-aes128-unicode.cryptotensors": "keys-aes128.json",
    "plain.safetensors": None,
}


# --- helpers -------------------------------------------------------------------

def write_safetensors(path, tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)], laid out in that order."""
    hdr, off, data = {}, 0, b""
    if metadata is not None:
        hdr["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        n = DTYPE_SIZE[dtype]
        for d in shape:
            n *= d
        assert n == len(raw), name
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        off += n
        data += raw
    text = json.dumps(hdr, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def split_file(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    return data[8:8 + n], data[8 + n:]


def crypto(path):
    text, _ = split_file(path)
    meta = json.loads(text)["__metadata__"]
    return {k: meta[k] for k in ref.CRYPTO_KEYS}, meta


def rnd(n):
    return ctfs_seed.randbytes(n)


def sample_tensors():
    """Sizes that do and do not divide the chunk sizes used, 1-byte and empty
    tensors, a scalar, and names that need escaping."""
    return [
        ("big", "F32", [1000, 37], rnd(148000)),
        ("odd", "U8", [12345], rnd(12345)),
        ("one", "U8", [1], rnd(1)),
        ("empty", "F16", [0], b""),
        ("scalar", "F64", [], rnd(8)),
        ("layer.0/\u6743\u91cd \"q\" \\", "BF16", [3, 5], rnd(30)),
        ("empty2", "I8", [2, 0], b""),
    ]


def keygen(tool, tmp_path, alg="aes256gcm", name="keys.json", *extra):
    path = tmp_path / name
    tool("keygen", "--alg", alg, "--out", path, *extra)
    return path


def check_roundtrip(out, keys_path, tensors, encrypted=None):
    """Decrypt out with the reference and compare with the plaintext tensors."""
    hdr, info, got = ref.decrypt_file(str(out), ref.load_keys(str(keys_path)))
    assert info is not None
    names = [t[0] for t in tensors]
    assert set(got) == set(names)
    for name, dtype, shape, raw in tensors:
        assert got[name] == (dtype, shape, raw), name
    want = set(names) if encrypted is None else set(encrypted)
    assert set(info["entries"]) == want
    return hdr, info


# --- the reference itself, first ----------------------------------------------------

@pytest.mark.parametrize("name", sorted(VECTOR_KEYS))
def test_reference_reads_the_vectors(vectors, name):
    """The reference decrypts every vector file to the expected hashes and
    rebuilds each header byte for byte: it is fit to judge our output."""
    d = os.path.join(vectors, "cryptotensors")
    with open(os.path.join(d, "expected.json")) as f:
        expected = json.load(f)[name]
    keys = ref.load_keys(os.path.join(d, VECTOR_KEYS[name])) if VECTOR_KEYS[name] else []
    hdr, info, got = ref.decrypt_file(os.path.join(d, name), keys)
    assert set(got) == set(expected)
    for t, (dtype, shape, digest) in expected.items():
        assert got[t][0] == dtype and got[t][1] == shape
        assert hashlib.sha256(got[t][2]).hexdigest() == digest, t
    text, _ = split_file(os.path.join(d, name))
    assert text.rstrip(b" ") == ref.canonical(hdr, omit=())
    assert (info is None) == (VECTOR_KEYS[name] is None)


def test_reference_rejects_tampering(vectors, tmp_path):
    d = os.path.join(vectors, "cryptotensors")
    keys = ref.load_keys(os.path.join(d, "keys-aes256.json"))
    with open(os.path.join(d, "v2-aes256-partial.safetensors"), "rb") as f:
        data = bytes(f.read())
    bad = tmp_path / "bad"
    (n,) = struct.unpack("<Q", data[:8])
    cipher = bytearray(data)
    cipher[8 + n + 100] ^= 1  # tensor "w" spans data bytes 8..600008: its chunk 0
    bad.write_bytes(bytes(cipher))
    with pytest.raises(ref.FormatError, match="chunk 0"):
        ref.decrypt_file(str(bad), keys)
    hdr_bad = bytearray(data)
    i = data.index(b'"format":"pt"')
    hdr_bad[i + 10] = ord("q")
    bad.write_bytes(bytes(hdr_bad))
    with pytest.raises(ref.FormatError, match="signature"):
        ref.decrypt_file(str(bad), keys)


# --- keygen ------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ALGS)
def test_keygen_writes_a_private_key_set(tool, tmp_path, alg):
    path = tmp_path / "k.json"
    p = tool("keygen", "--alg", alg, "--kid", "m1", "--out", path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    keys = ref.load_keys(str(path))
    oct_, okp = keys
    assert oct_["kty"] == "oct" and oct_["alg"] == alg and oct_["kid"] == "m1-enc"
    assert len(base64.b64decode(oct_["k"])) == ref.KEY_LEN[alg]
    assert okp["kty"] == "okp" and okp["alg"] == "ed25519" and okp["kid"] == "m1-sign"
    assert len(base64.b64decode(okp["d"])) == 32 and len(base64.b64decode(okp["x"])) == 32
    out = p.stdout + p.stderr
    assert oct_["k"].encode() not in out and okp["d"].encode() not in out


def test_keygen_kids_and_refusals(tool, tmp_path):
    path = tmp_path / "k.json"
    tool("keygen", "--enc-kid", "E", "--sign-kid", "S", "--out", path)
    assert [k["kid"] for k in ref.load_keys(str(path))] == ["E", "S"]
    before = path.read_bytes()
    p = tool("keygen", "--out", path, check=False)
    assert p.returncode == 1 and b"overwrite" in p.stderr
    assert path.read_bytes() == before
    link = tmp_path / "link.json"
    os.symlink(tmp_path / "target.json", link)
    assert tool("keygen", "--out", link, check=False).returncode == 1
    assert not (tmp_path / "target.json").exists()
    assert tool("keygen", "--alg", "des", "--out", tmp_path / "x", check=False).returncode == 2
    assert tool("keygen", "--out", "-", check=False).returncode == 2
    assert tool("keygen", check=False).returncode == 2
    a, b = (ref.load_keys(str(keygen(tool, tmp_path, name=n))) for n in ("a.json", "b.json"))
    assert a[0]["k"] != b[0]["k"] and a[0]["kid"] != b[0]["kid"]


# --- encrypt: round trips ------------------------------------------------------------

@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("alg", ALGS)
def test_roundtrip_every_alg_and_version(tool, tmp_path, alg, version):
    keys = keygen(tool, tmp_path, alg)
    tensors = sample_tensors()
    src, out = tmp_path / "in.safetensors", tmp_path / "out.cryptotensors"
    write_safetensors(src, tensors, {"format": "pt", "note": "line\n\"x\" \u6a21\u578b"})
    tool("encrypt", src, out, "--keys", keys, "--version", version)
    hdr, info = check_roundtrip(out, keys, tensors)
    assert info["version"] == version
    assert info["enc"]["alg"] == alg
    assert hdr["__metadata__"]["format"] == "pt"
    assert hdr["__metadata__"]["note"] == "line\n\"x\" \u6a21\u578b"
    # same layout as the input: ciphertext is as long as plaintext
    src_hdr, _ = ref.read_header(src.read_bytes())
    for name, *_ in tensors:
        assert hdr[name] == src_hdr[name]
    assert os.path.getsize(out) - len(split_file(out)[0]) - 8 == \
        os.path.getsize(src) - len(split_file(src)[0]) - 8


@pytest.mark.parametrize("chunk", ["1", "7", "4096", "65536", "148000", "1000000", "3M"])
def test_roundtrip_chunk_sizes(tool, tmp_path, chunk):
    keys = keygen(tool, tmp_path, "aes128gcm")
    tensors = sample_tensors()
    if chunk == "3M":  # chunks and a tensor larger than the tool's I/O buffer
        tensors.append(("huge", "U8", [5 * 2**20 + 3], rnd(5 * 2**20 + 3)))
    src, out = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    write_safetensors(src, tensors)
    tool("encrypt", src, out, "--keys", keys, "--chunk-size", chunk)
    _, info = check_roundtrip(out, keys, tensors)
    size = 3 * 2**20 if chunk == "3M" else int(chunk)
    assert info["chunk_size"] == size
    for name, _, _, raw in tensors:
        entry = info["entries"][name]
        n = max(1, -(-len(raw) // size))
        assert len(base64.b64decode(entry["tags"])) == 16 * n
        ctr = struct.unpack(">I", base64.b64decode(entry["base_iv"])[8:])[0]
        assert ctr + n - 1 <= 0xFFFFFFFF


def test_v1_large_tensor_streams(tool, tmp_path):
    keys = keygen(tool, tmp_path, "chacha20poly1305")
    tensors = [("a", "U8", [3 * 2**20 + 17], rnd(3 * 2**20 + 17)), ("z", "U8", [0], b"")]
    src, out = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    write_safetensors(src, tensors)
    tool("encrypt", src, out, "--keys", keys, "--version", "1")
    check_roundtrip(out, keys, tensors)


def test_partial_encryption(tool, tmp_path):
    keys = keygen(tool, tmp_path)
    tensors = sample_tensors()
    src, out = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    write_safetensors(src, tensors)
    chosen = ["odd", "empty", "layer.0/\u6743\u91cd \"q\" \\"]
    tool("encrypt", src, out, "--keys", keys, "--tensors", ",".join(chosen))
    hdr, info = check_roundtrip(out, keys, tensors, encrypted=chosen)
    _, data = split_file(out)
    for name, _, _, raw in tensors:
        b, e = hdr[name]["data_offsets"]
        if name in chosen:
            assert raw == b"" or data[b:e] != raw, name
        else:
            assert data[b:e] == raw, name  # stored as it was


def test_memory_stays_bounded(tool, tmp_path):
    """A 96 MiB tensor is encrypted with far less than 96 MiB of memory."""
    keys = keygen(tool, tmp_path)
    size = 96 * 2**20
    src, out = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    with open(src, "wb") as f:
        text = json.dumps({"w": {"dtype": "U8", "shape": [size],
                                 "data_offsets": [0, size]}}).encode()
        text += b" " * (-(8 + len(text)) % 8)
        f.write(struct.pack("<Q", len(text)) + text)
        for _ in range(size // 2**20):
            f.write(ctfs_seed.randbytes(2**20))
    probe = ("import resource, subprocess, sys\n"
             "r = subprocess.run(sys.argv[1:]).returncode\n"
             "print(r, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    for version in ("1", "2"):
        p = subprocess.run([sys.executable, "-c", probe, binary("ctfs-tool"), "encrypt",
                            str(src), str(out), "--keys", str(keys), "--version", version],
                           capture_output=True, text=True, timeout=300)
        rc, rss_kib = map(int, p.stdout.split()[-2:])
        assert rc == 0, p.stderr
        assert rss_kib < 48 * 1024, "v%s used %d KiB" % (version, rss_kib)
    hdr, info, got = ref.decrypt_file(str(out), ref.load_keys(str(keys)))
    with open(src, "rb") as f:
        f.seek(len(split_file(src)[0]) + 8)
        assert hashlib.sha256(got["w"][2]).digest() == hashlib.sha256(f.read()).digest()


# --- encrypt: the header, exactly as upstream writes it --------------------------------

def test_header_layout(tool, tmp_path):
    keys = keygen(tool, tmp_path, "aes256gcm", "keys.json", "--kid", "prov")
    tensors = sample_tensors()
    src = tmp_path / "in.safetensors"
    write_safetensors(src, tensors, {"format": "pt"})
    for version in ("1", "2"):
        out = tmp_path / ("v%s.cryptotensors" % version)
        tool("encrypt", src, out, "--keys", keys, "--version", version)
        c, meta = crypto(out)
        chunk = '"chunk_size":2097152,' if version == "2" else ""
        assert c["__crypto_keys__"] == (
            '{%s"enc":{"kty":"oct","alg":"aes256gcm","kid":"prov-enc"},'
            '"sign":{"kty":"okp","alg":"ed25519","kid":"prov-sign"},"version":"%s"}'
            % (chunk, version))
        assert c["__policy__"] == json.dumps(
            {"local": DEFAULT_POLICY, "remote": DEFAULT_POLICY}, separators=(",", ":"))
        enc = json.loads(c["__encryption__"], object_pairs_hook=list)
        names = [k for k, _ in enc]
        assert names == sorted(names, key=lambda s: s.encode())  # a BTreeMap
        fields = (["wrapped_key", "key_iv", "key_tag"] +
                  (["iv", "tag"] if version == "1" else ["base_iv", "tags"]))
        for name, entry in enc:
            assert [k for k, _ in entry] == fields, name
            e = dict(entry)
            assert len(ref.b64_strict(e["wrapped_key"])) == 32
            assert len(ref.b64_strict(e["key_iv"])) == 12
            assert len(ref.b64_strict(e["key_tag"])) == 16
            if version == "1" and name in ("empty", "empty2"):
                assert e["iv"] == "" and e["tag"] == ""
            elif version == "2" and name in ("empty", "empty2"):
                assert len(ref.b64_strict(e["tags"])) == 16
        # re-serialisation of the inner JSON like serde_json: compact, raw UTF-8
        assert c["__encryption__"] == json.dumps(
            {k: dict(v) for k, v in enc}, separators=(",", ":"), ensure_ascii=False)
        # the file's header is the canonical serialisation, padded to 8
        text, _ = split_file(out)
        hdr, _ = ref.read_header(out.read_bytes())
        assert text.rstrip(b" ") == ref.canonical(hdr, omit=())
        assert (8 + len(text)) % 8 == 0 and len(text) - len(text.rstrip(b" ")) < 8
        # fresh randomness everywhere: no nonce and no wrapped DEK repeats
        entries = [dict(v) for _, v in enc]
        nonces = [e["key_iv"] for e in entries] + \
            [e.get("iv") or e.get("base_iv") for e in entries if e.get("iv") != ""]
        assert len(set(nonces)) == len(nonces)
        assert len(set(e["wrapped_key"] for e in entries)) == len(entries)


def test_stale_crypto_metadata_is_replaced(tool, tmp_path):
    keys = keygen(tool, tmp_path)
    tensors = [("a", "U8", [4], b"abcd")]
    src, out = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    write_safetensors(src, tensors, {"__signature__": "junk", "__policy__": "junk",
                                     "__crypto_keys__": "junk", "z": "kept"})
    tool("encrypt", src, out, "--keys", keys)
    hdr, _ = check_roundtrip(out, keys, tensors)
    assert hdr["__metadata__"]["z"] == "kept"


# --- encrypt: key selection and failures ---------------------------------------------

def test_key_selection(tool, tmp_path):
    a = ref.load_keys(str(keygen(tool, tmp_path, "aes128gcm", "a.json", "--kid", "a")))
    b = ref.load_keys(str(keygen(tool, tmp_path, "chacha20poly1305", "b.json", "--kid", "b")))
    both = tmp_path / "both.json"
    both.write_text(json.dumps({"keys": a + b}))
    tensors = [("t", "U8", [3], b"xyz")]
    src, out = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    write_safetensors(src, tensors)
    p = tool("encrypt", src, out, "--keys", both, check=False)
    assert p.returncode == 1 and b"--enc-kid" in p.stderr and not out.exists()
    tool("encrypt", src, out, "--keys", both, "--enc-kid", "b-enc", "--sign-kid", "a-sign")
    _, info = check_roundtrip(out, both, tensors)
    assert info["enc"]["kid"] == "b-enc" and info["enc"]["alg"] == "chacha20poly1305"
    assert info["sign"]["kid"] == "a-sign"
    p = tool("encrypt", src, out, "--keys", both, "--enc-kid", "nope", "--sign-kid", "a-sign",
             check=False)
    assert p.returncode == 1 and b"nope" in p.stderr
    # the algorithm must fit the master key
    p = tool("encrypt", src, out, "--keys", both, "--enc-kid", "a-enc", "--sign-kid", "a-sign",
             "--alg", "aes256gcm", check=False)
    assert p.returncode == 1
    # a key set without the signing key's d cannot sign
    pub_only = tmp_path / "pub.json"
    pub_only.write_text(json.dumps({"keys": [a[0], {k: v for k, v in a[1].items() if k != "d"}]}))
    p = tool("encrypt", src, out, "--keys", pub_only, check=False)
    assert p.returncode == 1 and b"signing key" in p.stderr


def leftovers(d):
    return [n for n in os.listdir(d) if n.startswith(".")]


def test_failures_leave_nothing_behind(tool, tmp_path, vectors):
    keys = keygen(tool, tmp_path)
    src, out = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    write_safetensors(src, [("a", "U8", [2], b"ab")])
    out.write_bytes(b"previous content")
    cases = [
        ([src, out, "--keys", keys, "--tensors", "a,missing"], 1, b"missing"),
        ([os.path.join(vectors, "cryptotensors", "v1-chacha.cryptotensors"), out,
          "--keys", keys], 1, b"already"),
        ([keys, out, "--keys", keys], 1, b""),                  # not safetensors
        ([tmp_path / "absent", out, "--keys", keys], 1, b""),
        ([src, out, "--keys", keys, "--chunk-size", "0"], 2, b""),
        ([src, out, "--keys", keys, "--chunk-size", "1X"], 2, b""),
        ([src, out, "--keys", keys, "--version", "3"], 2, b""),
        ([src, out, "--keys", keys, "--version", "1", "--chunk-size", "4"], 2, b""),
        ([src, out, "--keys", keys, "--tensors", "a,,b"], 2, b""),
        ([src, out], 2, b""),
        ([src, "--keys", keys], 2, b""),
    ]
    for argv, code, msg in cases:
        p = tool("encrypt", *argv, check=False)
        assert p.returncode == code, (argv, p.stderr)
        assert msg in p.stderr
        assert out.read_bytes() == b"previous content"
        assert leftovers(tmp_path) == []
    p = tool("encrypt", src, tmp_path / "no-such-dir" / "out", "--keys", keys, check=False)
    assert p.returncode == 1
    # success replaces the old file in one step
    tool("encrypt", src, out, "--keys", keys)
    check_roundtrip(out, keys, [("a", "U8", [2], b"ab")])
    assert leftovers(tmp_path) == []


def test_full_disk_fails_cleanly(tool, tmp_path):
    need(os.geteuid() == 0, "needs root to mount a small tmpfs")
    keys = keygen(tool, tmp_path)
    src = tmp_path / "in.safetensors"
    write_safetensors(src, [("a", "U8", [2 * 2**20], rnd(2 * 2**20))])
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount tmpfs")
    try:
        p = tool("encrypt", src, mnt / "out.safetensors", "--keys", keys, check=False)
        assert p.returncode == 1 and b"space" in p.stderr.lower()
        assert os.listdir(mnt) == []
    finally:
        subprocess.run(["umount", str(mnt)])


# --- help --------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["--help"], ["help"], ["help", "encrypt"],
                                  ["key", "--help"], ["key", "add", "--help"],
                                  ["key", "list", "-h"], ["key", "remove", "--help"],
                                  ["keygen", "--help"], ["encrypt", "--help"]])
def test_help(tool, argv):
    p = tool(*argv)
    assert p.stdout.startswith(b"Usage: ctfs-tool")


def test_bad_command_lines(tool):
    assert tool("nope", check=False).returncode == 2
    assert tool(check=False).returncode == 2
    assert tool("key", "frob", check=False).returncode == 2
    assert tool("encrypt", "--bogus", check=False).returncode == 2


# --- keys in the kernel keyring ----------------------------------------------------------

@pytest.fixture(scope="module")
def fresh_session():
    """Join a new anonymous session keyring (children inherit it), so nothing
    here can reach the keys of whoever runs the tests."""
    lib = ctypes.util.find_library("keyutils")
    need(lib is not None, "libkeyutils not found")
    keyutils = ctypes.CDLL(lib, use_errno=True)
    keyutils.keyctl_join_session_keyring.restype = ctypes.c_int32
    keyutils.keyctl_join_session_keyring.argtypes = [ctypes.c_char_p]
    need(keyutils.keyctl_join_session_keyring(None) > 0, "cannot join a session keyring")


@pytest.fixture
def ring(fresh_session, keyring):
    return keyring


def key_list(tool, ring):
    p = tool("key", "list", "--keyring", ring)
    return sorted(tuple(line.split("\t")[:4]) for line in p.stdout.decode().splitlines())


def test_key_add_list_remove(tool, tmp_path, ring):
    path = keygen(tool, tmp_path, "chacha20poly1305", "keys.json", "--kid", "r")
    secrets = [k.get("k") or k.get("d") for k in ref.load_keys(str(path))]
    p = tool("key", "add", "--keyring", ring, path)
    for s in secrets:
        assert s.encode() not in p.stdout + p.stderr
    assert key_list(tool, ring) == [("r-enc", "oct", "chacha20poly1305", "secret"),
                                    ("r-sign", "okp", "ed25519", "public")]
    desc = subprocess.run(["keyctl", "search", ring, "user", "ctfs:r-sign"],
                          capture_output=True, text=True).stdout.strip()
    payload = json.loads(subprocess.run(["keyctl", "pipe", desc], capture_output=True).stdout)
    assert "d" not in payload and payload["x"] and payload["kid"] == "r-sign"
    tool("key", "add", "--keyring", ring, "--with-private", path)
    assert ("r-sign", "okp", "ed25519", "secret") in key_list(tool, ring)
    listing = tool("key", "list", "--keyring", ring).stdout
    for s in secrets:
        assert s.encode() not in listing
    tool("key", "remove", "--keyring", ring, "r-sign")
    assert key_list(tool, ring) == [("r-enc", "oct", "chacha20poly1305", "secret")]
    p = tool("key", "remove", "--keyring", ring, "r-sign", check=False)
    assert p.returncode == 1 and b"r-sign" in p.stderr


def test_key_add_from_stdin_and_single_jwk(tool, tmp_path, ring):
    keys = ref.load_keys(str(keygen(tool, tmp_path, "aes128gcm", "k.json", "--kid", "s")))
    tool("key", "add", "--keyring", ring, "-", input=json.dumps(keys[0]).encode())
    assert key_list(tool, ring) == [("s-enc", "oct", "aes128gcm", "secret")]


def test_key_add_refusals(tool, tmp_path, ring):
    bad = tmp_path / "bad.json"
    bad.write_text('{"keys":[{"kty":"oct","k":"AAAA"}]}')
    assert tool("key", "add", "--keyring", ring, bad, check=False).returncode == 1
    same = tmp_path / "same.json"
    same.write_text(json.dumps({"keys": [
        {"kty": "oct", "kid": "x", "k": base64.b64encode(rnd(16)).decode()},
        {"kty": "oct", "kid": "x", "k": base64.b64encode(rnd(32)).decode()}]}))
    p = tool("key", "add", "--keyring", ring, same, check=False)
    assert p.returncode == 1 and b"ctfs:x" in p.stderr
    assert key_list(tool, ring) == []
    p = tool("key", "list", "--keyring", "ctfs-no-such-ring-here", check=False)
    assert p.returncode == 1
    assert tool("key", "add", "--keyring", ring, check=False).returncode == 2
    assert tool("key", "list", "--with-private", check=False).returncode == 2


def test_encrypt_with_keys_from_the_keyring(tool, tmp_path, ring):
    path = keygen(tool, tmp_path, "aes256gcm", "keys.json", "--kid", "kr")
    tensors = sample_tensors()
    src, out = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    write_safetensors(src, tensors)
    tool("key", "add", "--keyring", ring, path)
    p = tool("encrypt", src, out, "--keyring", ring, "--enc-kid", "kr-enc",
             "--sign-kid", "kr-sign", check=False)
    assert p.returncode == 1 and not out.exists()   # the okp key has no d there
    tool("key", "add", "--keyring", ring, "--with-private", path)
    tool("encrypt", src, out, "--keyring", ring, "--enc-kid", "kr-enc", "--sign-kid", "kr-sign")
    check_roundtrip(out, path, tensors)


# --- our files through our own mount --------------------------------------------------------

def test_mount_serves_what_we_encrypt(tool, tmp_path, ring, mount):
    """End to end: keygen, encrypt (v1 and v2, partial), keys into the
    keyring, and the daemon serves the original bytes."""
    path = keygen(tool, tmp_path, "chacha20poly1305", "keys.json", "--kid", "m")
    tensors = sample_tensors()
    plain = tmp_path / "plain.safetensors"
    write_safetensors(plain, tensors, {"format": "pt"})
    src = tmp_path / "model"
    src.mkdir()
    tool("encrypt", plain, src / "a.cryptotensors", "--keys", path, "--chunk-size", "4096")
    tool("encrypt", plain, src / "b.safetensors", "--keys", path, "--version", "1",
         "--tensors", "big,empty")
    tool("key", "add", "--keyring", ring, path)
    m = mount(src, ring)
    for name in ("a.safetensors", "b.safetensors"):
        with open(m.file(name), "rb") as f:
            data = f.read()
        h, start = ref.read_header(data)
        assert ref.parse_crypto(h) is None
        for tname, dtype, shape, raw in tensors:
            b, e = h[tname]["data_offsets"]
            assert data[start + b:start + e] == raw, (name, tname)
        assert h["__metadata__"] == {"format": "pt"}
