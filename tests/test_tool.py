"""ctfs-tool encrypt (directories, policies, globs, excludes), inspect, verify,
decrypt and rewrap: round trips judged by the independent reference reader
(tests/ct_reference.py), the vectors of an independent writer through every
subcommand, and the failure cases: wrong key, missing key, tampered file, not
safetensors, broken shard index, full disk, interruption. Every failure must
give a one-line reason and a non-zero exit, leave no output (or the previous
one intact) and no temporary files, and never change the input."""

import base64
import hashlib
import json
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import time

import pytest

import ct_reference as ref
from conftest import binary, need
from test_encrypt import keygen, rnd, sample_tensors, split_file, write_safetensors

VEC_KEYS = {
    "v2-aes256-partial.safetensors": "keys-aes256.json",
    "v1-chacha.cryptotensors": "keys-chacha.json",
    "v2-aes128-unicode.cryptotensors": "keys-aes128.json",
}
VEC_ALG = {"keys-aes256.json": "aes256gcm", "keys-chacha.json": "chacha20poly1305",
           "keys-aes128.json": "aes128gcm"}
ALLOW_IF = "package model\n\ndefault allow := false\n\nallow if {\n    input.fleet == \"a\"\n}"


# --- helpers -----------------------------------------------------------------------

def vec(vectors, name):
    return os.path.join(vectors, "cryptotensors", name)


def expected(vectors):
    with open(vec(vectors, "expected.json")) as f:
        return json.load(f)


def sha(raw):
    return hashlib.sha256(raw).hexdigest()


def data_region(path):
    return split_file(path)[1]


def tree_digest(root):
    """Every file below root (and its mode) -> sha256: to show it unchanged."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = (sha(fh.read()), os.stat(p).st_mode)
    return out


def leftovers(d):
    return sorted(n for n in os.listdir(d) if n.startswith("."))


def one_line_reason(p, *words):
    """stderr: the reason on one line (plus the plaintext warning of decrypt)."""
    lines = [ln for ln in p.stderr.decode().splitlines() if "warning:" not in ln]
    assert len(lines) == 1, p.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def check_tensors(path, keys, tensors):
    _, info, got = ref.decrypt_file(str(path), ref.load_keys(str(keys)) if keys else [])
    assert set(got) == {t[0] for t in tensors}
    for name, dtype, shape, raw in tensors:
        assert got[name] == (dtype, shape, raw), name
    return info


def make_model(root, n_shards=2, sizes=(300000, 7)):
    """A Hugging Face style sharded model directory; returns {shard: tensors}."""
    root.mkdir()
    (root / "sub").mkdir()
    shards, wmap = {}, {}
    for s in range(n_shards):
        name = "model-%05d-of-%05d.safetensors" % (s + 1, n_shards)
        tensors = [("layers.%d.weight" % s, "U8", [sizes[0]], rnd(sizes[0])),
                   ("layers.%d.bias" % s, "U8", [sizes[1]], rnd(sizes[1])),
                   ("layers.%d.norm" % s, "F32", [4], rnd(16))]
        write_safetensors(root / name, tensors, {"format": "pt"})
        shards[name] = tensors
        for t in tensors:
            wmap[t[0]] = name
    (root / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": 0}, "weight_map": wmap}))
    (root / "config.json").write_text('{"model_type": "test"}')
    (root / "sub" / "tokenizer.json").write_text("{}")
    (root / "notes.bin").write_bytes(rnd(100))
    return shards


# --- help and command lines -----------------------------------------------------------

@pytest.mark.parametrize("cmd", ["encrypt", "inspect", "verify", "decrypt", "rewrap", "keygen",
                                 "key"])
def test_every_subcommand_has_help(tool, cmd):
    for flag in ("--help", "-h"):
        p = tool(cmd, flag)
        assert p.stdout.startswith(b"Usage: ctfs-tool " + cmd.encode()), p.stdout
    assert tool("help", cmd).stdout.startswith(b"Usage: ctfs-tool")
    assert cmd.encode() in tool("--help").stdout


@pytest.mark.parametrize("argv", [["inspect"], ["inspect", "a", "b"], ["inspect", "--bogus", "a"],
                                  ["verify"], ["verify", "--threads", "0", "x"],
                                  ["verify", "--keys", "a", "--keyring", "@u", "x"],
                                  ["decrypt", "x"], ["rewrap", "a", "b"],
                                  ["rewrap", "--new-keys", "k", "a"],
                                  ["rewrap", "--new-keys", "k", "--in-place", "a", "b"],
                                  ["rewrap", "--new-keys", "k", "--only", "both", "a", "b"],
                                  ["encrypt", "--keys", "k", "--threads", "17", "a", "b"],
                                  ["encrypt", "--keys", "k", "--policy", "p", "--policy-local",
                                   "p", "a", "b"]])
def test_bad_command_lines(tool, argv):
    p = tool(*argv, check=False)
    assert p.returncode == 2, p.stderr
    assert b"Try 'ctfs-tool" in p.stderr


# --- the vectors of an independent writer through every subcommand -----------------------

@pytest.mark.parametrize("name", sorted(VEC_KEYS))
def test_inspect_vectors(tool, vectors, name):
    exp = expected(vectors)[name]
    p = tool("inspect", "--json", vec(vectors, name))
    doc = json.loads(p.stdout)
    assert doc["ok"] is True
    (f,) = doc["files"]
    assert f["kind"] == "cryptotensors" and f["verified"] is False
    with open(vec(vectors, name), "rb") as fh:
        data = fh.read()
    hdr, start = ref.read_header(data)
    info = ref.parse_crypto(hdr)
    assert f["header_size"] == start - 8 and f["data_offset"] == start
    assert f["file_size"] == len(data) and f["data_size"] == len(data) - start
    assert f["version"] == int(info["version"])
    assert f.get("chunk_size") == info["chunk_size"]
    assert f["encryption"] == {k: info["enc"][k] for k in ("alg", "kid")}
    assert f["signature"] == {"alg": "ed25519", "kid": info["sign"]["kid"]}
    assert f["policy"]["local"] == info["policy"]["local"]
    assert f["policy"]["remote"] == info["policy"]["remote"]
    assert f["policy"]["ctfs_mount_allows"] is True
    assert f["metadata"] == {k: v for k, v in hdr["__metadata__"].items()
                             if k not in ref.CRYPTO_KEYS}
    assert [t["name"] for t in f["tensors"]] == [n for n, _ in ref.ordered_tensors(hdr)]
    for t in f["tensors"]:
        dtype, shape, _ = exp[t["name"]]
        assert (t["dtype"], t["shape"]) == (dtype, shape)
        assert t["data_offsets"] == hdr[t["name"]]["data_offsets"]
        assert t["encrypted"] == (t["name"] in info["entries"])
        if not t["encrypted"]:
            assert t["chunks"] == 0
        elif info["version"] == "2":
            assert t["chunks"] == max(1, -(-t["bytes"] // info["chunk_size"]))
        else:
            assert t["chunks"] == (1 if t["bytes"] else 0)
    text = tool("inspect", vec(vectors, name)).stdout.decode()
    assert "CryptoTensors v%s" % info["version"] in text
    assert info["enc"]["kid"] in text and info["sign"]["kid"] in text
    assert "not checked" in text


def test_inspect_plain_and_non_model_files(tool, vectors, tmp_path):
    p = tool("inspect", vec(vectors, "plain.safetensors"))
    assert b"plain safetensors" in p.stdout and b"not encrypted" in p.stdout
    doc = json.loads(tool("inspect", "--json", vec(vectors, "plain.safetensors")).stdout)
    assert doc["files"][0]["kind"] == "safetensors"
    assert [t["encrypted"] for t in doc["files"][0]["tensors"]] == [False, False]
    p = tool("inspect", vec(vectors, "keys-aes128.json"), check=False)
    assert p.returncode == 1 and b"not a model file" in p.stdout
    doc = json.loads(tool("inspect", "--json", vec(vectors, "README.md"), check=False).stdout)
    assert doc["files"][0]["kind"] == "other" and doc["ok"] is False
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    assert tool("inspect", empty, check=False).returncode == 1
    p = tool("inspect", tmp_path / "absent", check=False)
    assert p.returncode == 1 and b"absent" in p.stderr


def test_inspect_escapes_terminal_controls(tool, tmp_path):
    src = tmp_path / "esc.safetensors"
    write_safetensors(src, [("evil\x1b[2Jname", "U8", [1], b"x")], {"k": "v\x1b]0;title\x07"})
    out = tool("inspect", src).stdout
    assert b"\x1b" not in out and b"\x07" not in out
    assert b"evil\\x1b[2Jname" in out


def test_inspect_directory(tool, tmp_path):
    make_model(tmp_path / "m")
    doc = json.loads(tool("inspect", "--json", tmp_path / "m").stdout)
    kinds = {os.path.basename(f["path"]): f["kind"] for f in doc["files"]}
    assert kinds["config.json"] == "other" and kinds["tokenizer.json"] == "other"
    assert kinds["model-00001-of-00002.safetensors"] == "safetensors"
    assert doc["ok"] is True
    text = tool("inspect", tmp_path / "m").stdout
    assert b"shard index, consistent" in text
    (tmp_path / "m" / "model.safetensors.index.json").write_text("{")
    p = tool("inspect", tmp_path / "m", check=False)
    assert p.returncode == 1 and b"not valid JSON" in p.stderr


@pytest.mark.parametrize("name", sorted(VEC_KEYS))
def test_verify_vectors(tool, vectors, name):
    p = tool("verify", "--keys", vec(vectors, VEC_KEYS[name]), vec(vectors, name))
    assert b": OK:" in p.stdout
    assert tool("verify", "-q", "--keys", vec(vectors, VEC_KEYS[name]),
                vec(vectors, name)).stdout == b""


def test_verify_wrong_and_missing_keys(tool, vectors, tmp_path):
    name = "v2-aes256-partial.safetensors"
    wrong = ref.load_keys(vec(vectors, "keys-aes128.json"))
    # the right kids and the right verification key, but another master key
    right = ref.load_keys(vec(vectors, "keys-aes256.json"))
    forged = dict(right[0], k=base64.b64encode(rnd(32)).decode())
    kf = tmp_path / "forged.json"
    kf.write_text(json.dumps({"keys": [forged, right[1]]}))
    p = tool("verify", "--keys", kf, vec(vectors, name), check=False)
    one_line_reason(p, "FAILED", "does not unwrap", "enc-1-a")
    assert p.returncode == 1
    kw = tmp_path / "wrong.json"
    kw.write_text(json.dumps({"keys": wrong}))
    p = tool("verify", "--keys", kw, vec(vectors, name), check=False)
    assert p.returncode == 1
    one_line_reason(p, "sign-1")                               # missing key, by kid
    bad_sig = dict(right[1], x=wrong[1]["x"])
    kb = tmp_path / "badsig.json"
    kb.write_text(json.dumps({"keys": [right[0], {k: v for k, v in bad_sig.items() if k != "d"}]}))
    p = tool("verify", "--keys", kb, vec(vectors, name), check=False)
    assert p.returncode == 1
    one_line_reason(p, "signature does not verify")


def test_verify_with_keys_from_the_keyring(tool, vectors, tmp_path, keyring):
    name = "v1-chacha.cryptotensors"
    p = tool("verify", "--keyring", keyring, vec(vectors, name), check=False)
    assert p.returncode == 1 and b"sign-1-c" in p.stderr
    tool("key", "add", "--keyring", keyring, vec(vectors, "keys-chacha.json"))
    assert b": OK:" in tool("verify", "--keyring", keyring, vec(vectors, name)).stdout


@pytest.mark.parametrize("name", sorted(VEC_KEYS))
def test_decrypt_vectors(tool, vectors, tmp_path, name):
    out = tmp_path / "plain.safetensors"
    p = tool("decrypt", "--keys", vec(vectors, VEC_KEYS[name]), vec(vectors, name), out)
    assert b"warning" in p.stderr and b"plaintext" in p.stderr
    assert os.stat(out).st_mode & 0o777 == 0o600
    hdr, info, got = ref.decrypt_file(str(out), [])
    assert info is None and "__metadata__" in hdr
    for t, (dtype, shape, digest) in expected(vectors)[name].items():
        assert got[t][0] == dtype and got[t][1] == shape and sha(got[t][2]) == digest, t
    src_hdr, _ = ref.read_header(open(vec(vectors, name), "rb").read())
    assert hdr["__metadata__"] == {k: v for k, v in src_hdr["__metadata__"].items()
                                   if k not in ref.CRYPTO_KEYS}
    # written as safetensors writers write it: canonical, padded to 8
    text, _ = split_file(out)
    assert text.rstrip(b" ") == ref.canonical(hdr, omit=()) and (8 + len(text)) % 8 == 0


def test_decrypt_into_a_directory_and_refusals(tool, vectors, tmp_path):
    name = "v1-chacha.cryptotensors"
    keys = vec(vectors, VEC_KEYS[name])
    tool("decrypt", "-q", "--keys", keys, vec(vectors, name), tmp_path)
    assert (tmp_path / name).exists()
    p = tool("decrypt", "--keys", keys, vec(vectors, "plain.safetensors"), tmp_path / "x",
             check=False)
    assert p.returncode == 1 and not (tmp_path / "x").exists()
    one_line_reason(p, "not a CryptoTensors file")
    copy = tmp_path / "copy.cryptotensors"
    shutil.copy(vec(vectors, name), copy)
    p = tool("decrypt", "--keys", keys, copy, copy, check=False)
    assert p.returncode == 1 and data_region(copy) == data_region(vec(vectors, name))


def test_decrypt_enforces_the_local_policy(tool, tmp_path):
    keys = keygen(tool, tmp_path)
    src, enc = tmp_path / "in.safetensors", tmp_path / "enc.safetensors"
    write_safetensors(src, [("a", "U8", [3], b"abc")])
    pol = tmp_path / "policy.rego"
    pol.write_text(ALLOW_IF + "\n")
    p = tool("encrypt", src, enc, "--keys", keys, "--policy-local", pol)
    assert b"warning" in p.stderr                 # the mount will refuse it: said at once
    assert b": OK:" in tool("verify", "--keys", keys, enc).stdout   # integrity is fine
    p = tool("decrypt", "--keys", keys, enc, tmp_path / "out", check=False)
    assert p.returncode == 1 and not (tmp_path / "out").exists()
    one_line_reason(p, "policy")


def rewrap_check(tool, vectors, tmp_path, name, new_keys, *extra):
    src = vec(vectors, name)
    old = vec(vectors, VEC_KEYS[name])
    out = tmp_path / ("rw-" + name)
    tool("rewrap", "--keys", old, "--new-keys", new_keys, src, out, *extra)
    assert data_region(out) == data_region(src)
    return src, old, out


@pytest.mark.parametrize("name", sorted(VEC_KEYS))
def test_rewrap_vectors(tool, vectors, tmp_path, name):
    alg = VEC_ALG[VEC_KEYS[name]]
    new = keygen(tool, tmp_path, alg, "new.json", "--kid", "rotated")
    src, old, out = rewrap_check(tool, vectors, tmp_path, name, new)
    # judged by the reference: new keys open it, tensors as expected
    _, info, got = ref.decrypt_file(str(out), ref.load_keys(str(new)))
    assert info["enc"]["kid"] == "rotated-enc" and info["sign"]["kid"] == "rotated-sign"
    for t, (_, _, digest) in expected(vectors)[name].items():
        assert sha(got[t][2]) == digest
    # the old master key no longer opens it, even with the new signing key
    mixed = ref.load_keys(old)[:1] + ref.load_keys(str(new))[1:]
    mixed[0] = dict(mixed[0], kid="rotated-enc")
    with pytest.raises(ref.FormatError, match="DEK does not unwrap"):
        ref.decrypt_file(str(out), mixed)
    with pytest.raises(ref.FormatError):
        ref.decrypt_file(str(out), ref.load_keys(old))
    # our own tools agree
    assert tool("verify", "--keys", new, out).returncode == 0
    p = tool("verify", "--keys", old, out, check=False)
    assert p.returncode == 1
    # everything but the key entries is kept: entry order, iv/tags, other metadata
    o_hdr, _ = ref.read_header(open(src, "rb").read())
    n_hdr, _ = ref.read_header(open(out, "rb").read())
    oe = json.loads(o_hdr["__metadata__"]["__encryption__"], object_pairs_hook=list)
    ne = json.loads(n_hdr["__metadata__"]["__encryption__"], object_pairs_hook=list)
    assert [k for k, _ in oe] == [k for k, _ in ne]
    for (_, a), (_, b) in zip(oe, ne):
        a, b = dict(a), dict(b)
        assert list(a) == list(b)
        for field in a:
            same = field not in ("wrapped_key", "key_iv", "key_tag")
            assert (a[field] == b[field]) == same or a[field] == "", field
    for k, v in o_hdr.items():
        if k != "__metadata__":
            assert n_hdr[k] == v
    for k in ("__policy__", "format"):
        assert n_hdr["__metadata__"][k] == o_hdr["__metadata__"][k]
    text, _ = split_file(out)
    assert text.rstrip(b" ") == ref.canonical(n_hdr, omit=())


def test_rewrap_only_one_key_and_policy(tool, vectors, tmp_path):
    name = "v2-aes256-partial.safetensors"
    new = keygen(tool, tmp_path, "aes256gcm", "new.json", "--kid", "n")
    old_keys = ref.load_keys(vec(vectors, VEC_KEYS[name]))
    new_keys = ref.load_keys(str(new))
    _, _, out = rewrap_check(tool, vectors, tmp_path, name, new, "--only", "master")
    _, info, _ = ref.decrypt_file(str(out), [new_keys[0], old_keys[1]])
    assert info["enc"]["kid"] == "n-enc" and info["sign"]["kid"] == "sign-1"
    out.unlink()
    pol = tmp_path / "p.rego"
    pol.write_text("package model\nallow := true\n")
    _, _, out = rewrap_check(tool, vectors, tmp_path, name, new, "--only", "signer",
                             "--policy-remote", pol)
    _, info, _ = ref.decrypt_file(str(out), [old_keys[0], new_keys[1]])
    assert info["enc"]["kid"] == "enc-1-a" and info["sign"]["kid"] == "n-sign"
    assert info["policy"] == {"local": "package model\nallow = true",
                              "remote": "package model\nallow := true"}
    # a policy alone, re-signed with the old signing key
    out2 = tmp_path / "policy-only.safetensors"
    tool("rewrap", "--keys", vec(vectors, VEC_KEYS[name]), "--policy", pol,
         vec(vectors, name), out2)
    _, info, _ = ref.decrypt_file(str(out2), old_keys)
    assert info["policy"]["local"] == "package model\nallow := true"


def test_rewrap_in_place(tool, vectors, tmp_path):
    name = "v2-aes128-unicode.cryptotensors"
    f = tmp_path / name
    shutil.copy(vec(vectors, name), f)
    link = tmp_path / "link.cryptotensors"
    os.symlink(f, link)
    new = keygen(tool, tmp_path, "aes128gcm", "new.json")
    p = tool("rewrap", "--keys", vec(vectors, VEC_KEYS[name]), "--new-keys", new, "--in-place",
             link)
    assert b"in place" in p.stdout
    assert os.path.islink(link)                    # the file it names was replaced
    assert data_region(f) == data_region(vec(vectors, name))
    _, _, got = ref.decrypt_file(str(f), ref.load_keys(str(new)))
    for t, (_, _, digest) in expected(vectors)[name].items():
        assert sha(got[t][2]) == digest
    assert leftovers(tmp_path) == []
    # the old keys are now refused, and the file is left as it is
    before = f.read_bytes()
    p = tool("rewrap", "--keys", vec(vectors, VEC_KEYS[name]), "--new-keys", new, "--in-place",
             f, check=False)
    assert p.returncode == 1 and f.read_bytes() == before


def test_rewrap_refusals(tool, vectors, tmp_path):
    name = "v2-aes256-partial.safetensors"
    src = vec(vectors, name)
    old = vec(vectors, VEC_KEYS[name])
    out = tmp_path / "out.safetensors"
    chacha = keygen(tool, tmp_path, "chacha20poly1305", "c.json")
    p = tool("rewrap", "--keys", old, "--new-keys", chacha, src, out, check=False)
    assert p.returncode == 1 and not out.exists()
    one_line_reason(p, "aes256gcm")
    aes = keygen(tool, tmp_path, "aes256gcm", "a.json")
    p = tool("rewrap", "--keys", vec(vectors, "keys-aes128.json"), "--new-keys", aes, src, out,
             check=False)
    assert p.returncode == 1 and not out.exists()
    one_line_reason(p, "sign-1")
    # re-signing with the old key needs its d
    pub = tmp_path / "pub.json"
    k = ref.load_keys(old)
    pub.write_text(json.dumps({"keys": [k[0], {a: b for a, b in k[1].items() if a != "d"}]}))
    p = tool("rewrap", "--keys", pub, "--new-keys", aes, "--only", "master", src, out,
             check=False)
    assert p.returncode == 1 and not out.exists()
    one_line_reason(p, "private part")
    p = tool("rewrap", "--keys", old, "--new-keys", aes, vec(vectors, "plain.safetensors"),
             out, check=False)
    assert p.returncode == 1 and not out.exists()
    one_line_reason(p, "not a CryptoTensors file")
    assert leftovers(tmp_path) == []


# --- encrypt: options, round trips through the reference --------------------------------------

def test_encrypt_policies(tool, tmp_path):
    keys = keygen(tool, tmp_path)
    tensors = sample_tensors()
    src = tmp_path / "in.safetensors"
    write_safetensors(src, tensors)
    both, local, remote = (tmp_path / n for n in ("both.rego", "local.rego", "remote.rego"))
    both.write_text("package model\nallow := true\n")
    local.write_text("package model\n\n# comment\nallow = true")
    remote.write_text(ALLOW_IF)
    cases = [(["--policy", both], "package model\nallow := true", "package model\nallow := true"),
             (["--policy-local", local], "package model\n\n# comment\nallow = true",
              "package model\nallow = true"),
             (["--policy-remote", remote], "package model\nallow = true", ALLOW_IF),
             (["--policy-local", local, "--policy-remote", remote],
              "package model\n\n# comment\nallow = true", ALLOW_IF)]
    for i, (opts, want_local, want_remote) in enumerate(cases):
        out = tmp_path / ("out%d.safetensors" % i)
        p = tool("encrypt", src, out, "--keys", keys, *opts)
        assert b"warning" not in p.stderr
        info = check_tensors(out, keys, tensors)
        assert info["policy"] == {"local": want_local, "remote": want_remote}
        doc = json.loads(tool("inspect", "--json", out).stdout)
        assert doc["files"][0]["policy"]["local"] == want_local
    empty = tmp_path / "empty.rego"
    empty.write_text("\n")
    p = tool("encrypt", src, tmp_path / "x", "--keys", keys, "--policy", empty, check=False)
    assert p.returncode == 1 and not (tmp_path / "x").exists()
    p = tool("encrypt", src, tmp_path / "x", "--keys", keys, "--policy", tmp_path / "nope",
             check=False)
    assert p.returncode == 1 and not (tmp_path / "x").exists()


def test_encrypt_tensor_globs(tool, tmp_path):
    keys = keygen(tool, tmp_path)
    tensors = sample_tensors()
    src, out = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    write_safetensors(src, tensors)
    tool("encrypt", src, out, "--keys", keys, "--tensors", "empty*", "-t", "o?e,big")
    info = check_tensors(out, keys, tensors)
    assert set(info["entries"]) == {"empty", "empty2", "one", "big"}
    for bad, word in (("nomatch*", b"no tensor matches"), ("absent", b"no tensor named")):
        p = tool("encrypt", src, tmp_path / "x", "--keys", keys, "--tensors", bad, check=False)
        assert p.returncode == 1 and word in p.stderr and not (tmp_path / "x").exists()


@pytest.mark.parametrize("version", ["1", "2"])
def test_encrypt_directory_round_trip(tool, tmp_path, version):
    keys = keygen(tool, tmp_path, "chacha20poly1305")
    src = tmp_path / "model"
    shards = make_model(src)
    before = tree_digest(src)
    dst = tmp_path / "enc"
    tool("encrypt", src, dst, "--keys", keys, "--version", version, "--chunk-size"
         if version == "2" else "--quiet", *(["65536"] if version == "2" else []))
    assert tree_digest(src) == before
    files = sorted(os.path.relpath(os.path.join(d, f), dst)
                   for d, _, fs in os.walk(dst) for f in fs)
    assert files == sorted(before)                 # same names, nothing added
    for name in ("model.safetensors.index.json", "config.json", "sub/tokenizer.json",
                 "notes.bin"):
        assert (dst / name).read_bytes() == (src / name).read_bytes()
    for name, tensors in shards.items():
        info = check_tensors(dst / name, keys, tensors)
        assert info["version"] == version
        assert set(info["entries"]) == {t[0] for t in tensors}
    assert tool("verify", "--keys", keys, dst).returncode == 0
    # back again: the decrypted directory holds the original tensors
    back = tmp_path / "back"
    tool("decrypt", "--keys", keys, dst, back)
    for name, tensors in shards.items():
        check_tensors(back / name, None, tensors)
    assert (back / "notes.bin").read_bytes() == (src / "notes.bin").read_bytes()
    assert leftovers(tmp_path) == []


def test_encrypt_directory_options(tool, tmp_path):
    keys = keygen(tool, tmp_path)
    src = tmp_path / "model"
    shards = make_model(src)
    dst = tmp_path / "enc"
    p = tool("encrypt", src, dst, "--keys", keys, "--exclude", "*.bin", "-x", "sub/*",
             "--tensors", "*.weight", "--threads", "1")
    assert not (dst / "notes.bin").exists() and not (dst / "sub" / "tokenizer.json").exists()
    for name, tensors in shards.items():
        info = check_tensors(dst / name, keys, tensors)
        assert set(info["entries"]) == {t[0] for t in tensors if t[0].endswith(".weight")}
    assert b"2 shards encrypted" in p.stdout
    # a shard without any selected tensor is copied as it is
    dst2 = tmp_path / "enc2"
    p = tool("encrypt", src, dst2, "--keys", keys, "--tensors", "layers.0.*")
    second = "model-00002-of-00002.safetensors"
    assert (dst2 / second).read_bytes() == (src / second).read_bytes()
    assert b"none of its tensors" in p.stdout
    p = tool("encrypt", src, tmp_path / "enc3", "--keys", keys, "--tensors", "nothing*",
             check=False)
    assert p.returncode == 1 and not (tmp_path / "enc3").exists()
    # a shard named by the index cannot be excluded
    p = tool("encrypt", src, tmp_path / "enc4", "--keys", keys, "--exclude",
             "model-00001*", check=False)
    assert p.returncode == 1 and not (tmp_path / "enc4").exists()
    one_line_reason(p, "model-00001-of-00002.safetensors", "missing")


def test_encrypt_directory_replaces_only_with_force(tool, tmp_path):
    keys = keygen(tool, tmp_path)
    src = tmp_path / "model"
    shards = make_model(src)
    dst = tmp_path / "enc"
    dst.mkdir()
    (dst / "old").write_text("previous")
    p = tool("encrypt", src, dst, "--keys", keys, check=False)
    assert p.returncode == 1 and os.listdir(dst) == ["old"]
    one_line_reason(p, "--force")
    # a failing run with --force leaves the previous DST intact
    (src / "config.json").unlink()
    os.mkfifo(src / "fifo")
    p = tool("encrypt", src, dst, "--keys", keys, "--force", check=False)
    assert p.returncode == 1 and os.listdir(dst) == ["old"]
    (src / "fifo").unlink()
    tool("encrypt", src, dst, "--keys", keys, "--force")
    assert not (dst / "old").exists()
    check_tensors(dst / "model-00001-of-00002.safetensors", keys,
                  shards["model-00001-of-00002.safetensors"])
    assert leftovers(tmp_path) == []
    p = tool("encrypt", src, src / "inside", "--keys", keys, check=False)
    assert p.returncode == 1 and not (src / "inside").exists()


def test_encrypt_follows_symlinked_files(tool, tmp_path):
    """Hugging Face caches: snapshot files are symlinks to blobs."""
    keys = keygen(tool, tmp_path)
    blobs = tmp_path / "blobs"
    shards = make_model(blobs)
    snap = tmp_path / "snapshot"
    snap.mkdir()
    for name in os.listdir(blobs):
        os.symlink(blobs / name, snap / name)
    dst = tmp_path / "enc"
    tool("encrypt", snap, dst, "--keys", keys)
    for name, tensors in shards.items():
        assert not os.path.islink(dst / name)
        check_tensors(dst / name, keys, tensors)
    assert (dst / "sub" / "tokenizer.json").read_text() == "{}"


def test_keygen_jku_and_every_alg(tool, tmp_path):
    for alg in ("aes128gcm", "aes256gcm", "chacha20poly1305"):
        path = tmp_path / ("%s.json" % alg)
        tool("keygen", "--alg", alg, "--kid", alg, "--jku", "file:///etc/ctfs/keys.json",
             "--out", path)
        assert os.stat(path).st_mode & 0o777 == 0o600
        keys = ref.load_keys(str(path))
        assert [k["jku"] for k in keys] == ["file:///etc/ctfs/keys.json"] * 2
        src, out = tmp_path / "in.safetensors", tmp_path / ("%s.safetensors" % alg)
        write_safetensors(src, [("t", "U8", [5], b"hello")])
        tool("encrypt", src, out, "--keys", path)
        info = check_tensors(out, path, [("t", "U8", [5], b"hello")])
        assert info["enc"]["jku"] == info["sign"]["jku"] == "file:///etc/ctfs/keys.json"
        doc = json.loads(tool("inspect", "--json", out).stdout)
        assert doc["files"][0]["encryption"]["jku"] == "file:///etc/ctfs/keys.json"


# --- failure cases ------------------------------------------------------------------------------

def tamper(src, dst, data_off):
    data = bytearray(open(src, "rb").read())
    (n,) = struct.unpack("<Q", data[:8])
    data[8 + n + data_off] ^= 0x40
    open(dst, "wb").write(bytes(data))


def test_tampered_file_names_tensor_and_chunk(tool, vectors, tmp_path):
    name = "v2-aes256-partial.safetensors"
    keys = vec(vectors, VEC_KEYS[name])
    bad = tmp_path / "bad.safetensors"
    tamper(vec(vectors, name), bad, 8 + 5 * 65536 + 17)     # tensor w, chunk 5
    before = bad.read_bytes()
    p = tool("verify", "--keys", keys, bad, check=False)
    assert p.returncode == 1
    one_line_reason(p, "tensor 'w' chunk 5", "tag")
    p = tool("decrypt", "--keys", keys, bad, tmp_path / "out", check=False)
    assert p.returncode == 1 and not (tmp_path / "out").exists()
    one_line_reason(p, "tensor 'w' chunk 5")
    assert bad.read_bytes() == before and leftovers(tmp_path) == []
    # a plaintext tensor is not authenticated by the format: verify cannot see it
    tamper(vec(vectors, name), bad, 600022 + 3)              # tensor p (plaintext)
    p = tool("verify", "--keys", keys, bad)
    assert b"1 plaintext tensor (128 bytes)" in p.stdout and b"not protected" in p.stdout
    # the header is: any change breaks the signature
    data = bytearray(open(vec(vectors, name), "rb").read())
    i = data.index(b'"format":"pt"')
    data[i + 10] = ord("q")
    bad.write_bytes(bytes(data))
    p = tool("verify", "--keys", keys, bad, check=False)
    one_line_reason(p, "signature")
    v1 = "v1-chacha.cryptotensors"
    tamper(vec(vectors, v1), bad, 72 + 4096)
    p = tool("verify", "--keys", vec(vectors, VEC_KEYS[v1]), bad, check=False)
    assert p.returncode == 1
    one_line_reason(p, "tensor 'a'", "tag")


def test_not_safetensors_everywhere(tool, vectors, tmp_path):
    keys = vec(vectors, "keys-aes256.json")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + rnd(100))
    for argv in (["verify", "--keys", keys, junk],
                 ["decrypt", "--keys", keys, junk, tmp_path / "out"],
                 ["rewrap", "--keys", keys, "--new-keys", keys, junk, tmp_path / "out"],
                 ["encrypt", "--keys", keys, junk, tmp_path / "out"],
                 ["inspect", junk]):
        p = tool(*argv, check=False)
        assert p.returncode == 1, argv
        assert not (tmp_path / "out").exists()
        if argv[0] != "inspect":
            one_line_reason(p)
    lying = tmp_path / "lying.cryptotensors"      # claims encryption, lacks the rest
    write_safetensors(lying, [("a", "U8", [1], b"x")], {"__encryption__": "{}"})
    p = tool("inspect", lying, check=False)
    assert p.returncode == 1 and b"invalid CryptoTensors" in p.stdout
    p = tool("verify", "--keys", keys, lying, check=False)
    assert p.returncode == 1
    one_line_reason(p, "invalid CryptoTensors")


def test_directory_failures(tool, tmp_path):
    keys = keygen(tool, tmp_path)
    src = tmp_path / "model"
    shards = make_model(src)
    enc = tmp_path / "enc"
    tool("encrypt", src, enc, "--keys", keys)
    index = src / "model.safetensors.index.json"
    good_index = index.read_text()
    for broken, word in (("{", "not valid JSON"), ('{"weight_map": []}', "weight_map"),
                         (json.dumps({"weight_map": {"x": "model-00001-of-00002.safetensors"}}),
                          "does not hold"),
                         (json.dumps({"weight_map": {"x": "nope.safetensors"}}), "missing")):
        index.write_text(broken)
        before = tree_digest(src)
        for argv in (["encrypt", "--keys", keys, src, tmp_path / "out"],
                     ["verify", "--keys", keys, src]):
            p = tool(*argv, check=False)
            assert p.returncode == 1 and word.encode() in p.stderr, (argv, p.stderr)
        assert not (tmp_path / "out").exists() and tree_digest(src) == before
    index.write_text(good_index)
    # verify: a plain shard among encrypted ones is a failure (it is not protected)
    name = "model-00002-of-00002.safetensors"
    shutil.copy(src / name, enc / name)
    p = tool("verify", "--keys", keys, enc, check=False)
    assert p.returncode == 1 and b"plain safetensors" in p.stderr
    # decrypt and rewrap of the directory with a wrong key: no output at all
    other = keygen(tool, tmp_path, "aes256gcm", "other.json")
    tool("encrypt", "--force", "-q", src, enc, "--keys", keys)
    before = tree_digest(enc)
    for argv in (["decrypt", "--keys", other, enc, tmp_path / "out"],
                 ["rewrap", "--keys", other, "--new-keys", other, enc, tmp_path / "out"],
                 ["rewrap", "--keys", other, "--new-keys", other, enc, "--in-place"]):
        p = tool(*argv, check=False)
        assert p.returncode == 1, argv
        assert not (tmp_path / "out").exists()
    assert tree_digest(enc) == before and leftovers(tmp_path) == []
    # and with the right one, the whole directory is rotated in place
    tool("rewrap", "--keys", keys, "--new-keys", other, enc, "--in-place")
    for name, tensors in shards.items():
        check_tensors(enc / name, other, tensors)
    assert (enc / "config.json").read_bytes() == (src / "config.json").read_bytes()


@pytest.fixture
def small_fs(tmp_path):
    need(os.geteuid() == 0, "needs root to mount a small tmpfs")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount tmpfs")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)])


def test_full_disk(tool, tmp_path, small_fs):
    keys = keygen(tool, tmp_path)
    src = tmp_path / "model"
    make_model(src, sizes=(1200000, 7))
    enc = tmp_path / "enc"
    tool("encrypt", src, enc, "--keys", keys)
    new = keygen(tool, tmp_path, "aes256gcm", "new.json")
    shard = enc / "model-00001-of-00002.safetensors"
    before = (tree_digest(src), tree_digest(enc))
    for argv in (["encrypt", "--keys", keys, src, small_fs / "out"],
                 ["encrypt", "--keys", keys, src / shard.name, small_fs / "out"],
                 ["decrypt", "--keys", keys, enc, small_fs / "out"],
                 ["decrypt", "--keys", keys, shard, small_fs / "out"],
                 ["rewrap", "--keys", keys, "--new-keys", new, enc, small_fs / "out"],
                 ["rewrap", "--keys", keys, "--new-keys", new, shard, small_fs / "out"]):
        p = tool(*argv, check=False)
        assert p.returncode == 1, argv
        one_line_reason(p, "space")
        assert os.listdir(small_fs) == [], argv
    assert (tree_digest(src), tree_digest(enc)) == before
    # in place, on a file system with room for the file but not for a second copy
    plain, mid = tmp_path / "mid.safetensors", tmp_path / "mid.cryptotensors"
    write_safetensors(plain, [("w", "U8", [600000], rnd(600000))])
    tool("encrypt", plain, mid, "--keys", keys)
    shutil.copy(mid, small_fs / mid.name)
    p = tool("rewrap", "--keys", keys, "--new-keys", new, "--in-place", small_fs / mid.name,
             check=False)
    assert p.returncode == 1
    one_line_reason(p, "space")
    assert (small_fs / mid.name).read_bytes() == mid.read_bytes()
    assert os.listdir(small_fs) == [mid.name]


# --- large models: memory, progress, interruption -------------------------------------------------

def big_model(tmp_path, size):
    src = tmp_path / "big.safetensors"
    with open(src, "wb") as f:
        text = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}})
        text = text.encode() + b" " * (-(8 + len(text)) % 8)
        f.write(struct.pack("<Q", len(text)) + text)
        block = rnd(2**20)
        for _ in range(size // 2**20):
            f.write(block)
    return src


PROBE = ("import resource, subprocess, sys\n"
         "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
         "print(r, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def test_memory_stays_bounded_everywhere(tool, tmp_path):
    """verify, decrypt and rewrap of a 96 MiB tensor in far less memory."""
    keys = keygen(tool, tmp_path)
    new = keygen(tool, tmp_path, "aes256gcm", "new.json")
    src = big_model(tmp_path, 96 * 2**20)
    exe = binary("ctfs-tool")
    for version in ("1", "2"):
        enc = tmp_path / ("enc%s.safetensors" % version)
        tool("encrypt", "-q", src, enc, "--keys", keys, "--version", version)
        for argv in (["verify", "--keys", keys, enc],
                     ["decrypt", "-q", "--keys", keys, enc, tmp_path / "plain"],
                     ["rewrap", "-q", "--keys", keys, "--new-keys", new, enc,
                      tmp_path / "rw"]):
            p = subprocess.run([sys.executable, "-c", PROBE, exe] + [str(a) for a in argv],
                               capture_output=True, text=True, timeout=300)
            rc, rss_kib = map(int, p.stdout.split()[-2:])
            assert rc == 0, p.stderr
            assert rss_kib < 48 * 1024, "%s v%s used %d KiB" % (argv[0], version, rss_kib)
        assert data_region(tmp_path / "plain") == data_region(src)
        for f in ("plain", "rw"):
            (tmp_path / f).unlink()


def run_on_tty(argv):
    """Run argv with stdout on a pseudo-terminal; returns (rc, output)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    p.wait(timeout=300)
    return p.returncode, out


def test_progress_bar_only_on_a_terminal(tool, tmp_path):
    keys = keygen(tool, tmp_path)
    src = big_model(tmp_path, 512 * 2**20)
    exe = binary("ctfs-tool")
    out = tmp_path / "out.safetensors"
    rc, text = run_on_tty([exe, "encrypt", "--threads", "1", str(src), str(out),
                           "--keys", str(keys)])
    assert rc == 0
    assert b"ETA" in text and b"iB/s" in text and b"encrypting [" in text
    rc, text = run_on_tty([exe, "verify", "--quiet", "--keys", str(keys), str(out)])
    assert rc == 0 and text == b""
    p = tool("verify", "--keys", keys, out)
    assert b"ETA" not in p.stdout and b"\r" not in p.stdout


def test_interrupted_run_leaves_nothing(tool, tmp_path):
    keys = keygen(tool, tmp_path)
    src = tmp_path / "model"
    src.mkdir()
    big = big_model(tmp_path, 768 * 2**20)
    os.rename(big, src / "model.safetensors")
    dst = tmp_path / "enc"
    p = subprocess.Popen([binary("ctfs-tool"), "encrypt", "--threads", "1", str(src), str(dst),
                          "--keys", str(keys)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.15)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=300)
    if p.returncode == 0:
        pytest.skip("finished before the signal arrived")
    assert p.returncode == 1 and b"interrupted" in err, err
    assert not dst.exists() and leftovers(tmp_path) == []
