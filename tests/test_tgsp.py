"""TGSP packages (issue 4), for real: the sample packages of an independent
implementation mounted and compared with their expected.json; packages built
by ctfs-tool opened by an independent reader (tgsp_reference.py), and
packages that reader writes opened by the mount and the tool; and every
kind of bad package refused with a log line naming the package and the
check, while the rest of the mount keeps working."""

import errno
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import io
import threading
import time

import pytest

import ctfs_seed

import tgsp_reference as ref
from conftest import need
# the npm install of @noble/post-quantum and its ML-KEM-768 / ML-DSA-65 batch
# runners, shared with the cross-checks of our primitives
from test_pq_noble import noble_pkg, noble, noble_dsa  # noqa: F401

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def pq(noble, noble_dsa):  # noqa: F811
    return noble, noble_dsa


@pytest.fixture
def tv(vectors):
    """The TGSP vector folder and its expected digests."""
    d = os.path.join(vectors, "tgsp")
    with open(os.path.join(d, "expected.json")) as f:
        return d, json.load(f)


def jload(path):
    with open(path) as f:
        return json.load(f)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def read_all(path):
    with open(path, "rb") as f:
        return f.read()


def add_key(keyring, desc, path):
    with open(path, "rb") as f:
        p = subprocess.run(["keyctl", "padd", "user", desc, keyring], stdin=f,
                           capture_output=True)
    assert p.returncode == 0, p.stderr


def expect_errno(code, fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    assert e.value.errno == code, "expected %s, got %s" % (
        errno.errorcode[code], errno.errorcode.get(e.value.errno))


def refusal(m, pkg):
    """The log line refusing pkg (waits a little for it to be written)."""
    for _ in range(50):
        lines = [l for l in m.log().splitlines() if "tgsp %s: refused" % pkg in l]
        if lines:
            return lines[0]
        time.sleep(0.05)
    raise AssertionError("no refusal of %s in the log:\n%s" % (pkg, m.log()))


class Keys:
    """A signer and two recipients, as dicts and as key files."""

    def __init__(self, tmp, kem, dsa):
        self.dir = tmp / "keys"
        self.dir.mkdir()
        self.spub, self.spriv = ref.keygen_signing(dsa)
        self.epub, self.epriv = ref.keygen_encryption(kem)
        self.e2pub, self.e2priv = ref.keygen_encryption(kem)
        for name in ("spub", "spriv", "epub", "epriv", "e2pub", "e2priv"):
            (self.dir / name).write_bytes(ref.key_file_bytes(getattr(self, name)))

    def path(self, name):
        return str(self.dir / name)


@pytest.fixture
def keys(tmp_path, pq):
    return Keys(tmp_path, *pq)


def tree(root, files):
    for path, data in files.items():
        p = root / path.rstrip("*")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        if path.endswith("*"):
            p.chmod(0o755)


def sample_files():
    rnd = ctfs_seed.rng("tgsp_4")
    weights = rnd.randbytes(5 * MiB + 12345)
    text = ("".join(rnd.choice("abcdefgh ") for _ in range(3000)) * 700).encode()
    return {"config.json": b'{"model_type":"demo"}\n', "model.safetensors": weights,
            "tokenizer/vocab.txt": text, "run.sh*": b"#!/bin/sh\necho hi\n",
            "empty.bin": b"", "sub/deeper/" + "\u00e9" * 70 + ".txt": b"unicode, long name"}


def build(tool, keys, src, out, *extra):
    tool("tgsp", "build", src, "--out", out, "--signing-key", keys.path("spriv"),
         "--signing-pub", keys.path("spub"), "--recipient", "rid=" + keys.path("epub"), *extra)
    return out


# --- the sample packages ------------------------------------------------------

def test_vectors_mounted_match_expected(tmp_path, tv, keyring, mount):
    d, expected = tv
    src = tmp_path / "src"
    src.mkdir()
    for name in expected:
        shutil.copy(os.path.join(d, name), src / name)
    (src / "readme.txt").write_text("plain\n")
    add_key(keyring, "ctfs:tgsp:hybrid-id", os.path.join(d, "keys", "encryption.priv"))
    m = mount(src, keyring, ["tgsp_trust=" + os.path.join(d, "keys", "signing.pub"),
                             "fleet=fleet-demo"])
    assert sorted(os.listdir(m.path)) == ["multi-frame", "readme.txt", "small"]
    n = 0
    for name, files in expected.items():
        top = m.file(name[:-len(".tgsp")])
        seen = sorted(os.path.relpath(os.path.join(r, f), top)
                      for r, _, fs in os.walk(top) for f in fs)
        assert seen == sorted(files)
        for path, digest in files.items():
            p = os.path.join(top, path)
            data = read_all(p)
            assert sha(data) == digest, (name, path)
            st = os.stat(p)
            assert st.st_size == len(data) and oct(st.st_mode & 0o777) == oct(0o444)
            n += 1
    assert n == 4
    assert os.path.isdir(m.file("small/sub"))
    # reads anywhere in the two-frame file, across the frame boundary
    big = read_all(m.file("multi-frame/model.safetensors"))
    rnd = ctfs_seed.rng("tgsp_7")
    with open(m.file("multi-frame/model.safetensors"), "rb") as f:
        for off in [0, 4 * MiB - 700, 4 * MiB + 3, len(big) - 10] + \
                [rnd.randrange(len(big)) for _ in range(60)]:
            f.seek(off)
            assert f.read(70000) == big[off:off + 70000]
    assert read_all(m.file("readme.txt")) == b"plain\n"


def test_small_vector_window_includes_now(tv):
    d, _ = tv
    sec = ref.split(read_all(os.path.join(d, "small.tgsp")))
    pc = json.loads(sec["manifest"])["policy_constraints"]
    assert pc["not_before"] <= time.time() <= pc["not_after"], \
        "small.tgsp's window has closed: test the window with built packages only"


def test_vectors_read_by_reference_reader(tv, pq):
    d, expected = tv
    for name, files in expected.items():
        _, members, _ = ref.read(read_all(os.path.join(d, name)),
                                 [jload(os.path.join(d, "keys", "signing.pub"))],
                                 [jload(os.path.join(d, "keys", "encryption.priv"))], *pq,
                                 fleet="fleet-demo", now=time.time())
        assert {p: sha(b) for p, b in members.items()} == files


def test_vectors_round_trip(tmp_path, tool, tv, pq, keys):
    """Each sample package extracted by our tool, packaged again by our
    builder, read back by the reference reader: the files of expected.json."""
    d, expected = tv
    for name, files in expected.items():
        out = tmp_path / name
        tool("tgsp", "open", os.path.join(d, name), "--key",
             os.path.join(d, "keys", "encryption.priv"), "--trust",
             os.path.join(d, "keys", "signing.pub"), "--fleet", "fleet-demo", "--out", out)
        pkg = build(tool, keys, out, tmp_path / ("again-" + name), "--fleet", "fleet-demo")
        _, members, _ = ref.read(read_all(pkg), [keys.spub], [keys.epriv], *pq,
                                 fleet="fleet-demo", now=time.time())
        assert {p: sha(b) for p, b in members.items()} == files


def test_signer_from_keyring_and_fleet_policy(tmp_path, tv, keyring, mount):
    d, expected = tv
    src = tmp_path / "src"
    src.mkdir()
    for name in expected:
        shutil.copy(os.path.join(d, name), src / name)
    add_key(keyring, "ctfs:tgsp:hybrid-id", os.path.join(d, "keys", "encryption.priv"))
    # no signer anywhere: ENOKEY
    m = mount(src, keyring, ["fleet=fleet-demo"])
    expect_errno(errno.ENOKEY, os.listdir, m.file("multi-frame"))
    assert "no trusted signer" in refusal(m, "multi-frame.tgsp")
    # the signer as keyring key ctfs:tgsp-signer:<key_id>; no fleet id: small refused
    add_key(keyring, "ctfs:tgsp-signer:key_1", os.path.join(d, "keys", "signing.pub"))
    m = mount(src, keyring)
    digest = expected["multi-frame.tgsp"]["model.safetensors"]
    assert sha(read_all(m.file("multi-frame/model.safetensors"))) == digest
    expect_errno(errno.EACCES, os.stat, m.file("small/config.json"))
    assert "policy" in refusal(m, "small.tgsp") and "fleet-demo" in refusal(m, "small.tgsp")
    m = mount(src, keyring, ["fleet=other-fleet"])
    expect_errno(errno.EACCES, read_all, m.file("small/config.json"))
    assert "'other-fleet'" in refusal(m, "small.tgsp")
    assert sha(read_all(m.file("multi-frame/model.safetensors"))) == digest


# --- our packages, the reference reader ----------------------------------------

def test_our_build_opened_by_reference_reader(tmp_path, tool, pq, keys):
    files = sample_files()
    src = tmp_path / "model"
    tree(src, files)
    pkg = build(tool, keys, src, tmp_path / "m.tgsp", "--fleet", "f1", "--model-name", "demo",
                "--model-version", "2.1", "--not-before", "2020-01-01T00:00:00Z")
    manifest, members, gz = ref.read(read_all(pkg), [keys.spub], [keys.epriv], *pq,
                                     fleet="f1", now=time.time())
    assert members == {k.rstrip("*"): v for k, v in files.items()}
    assert manifest["model_name"] == "demo" and manifest["model_version"] == "2.1"
    assert manifest["policy_constraints"] == {"not_before": 1577836800, "target_fleet": "f1"}
    assert manifest["author_pubkey"]["classic"] == keys.spub["classic"]
    assert len(ref.split(read_all(pkg))["payload"]) > 4 * MiB   # more than one frame
    # the archive is what Python's tarfile writes for the same files
    # (device number fields aside: their encoding changed across Python versions)
    ours = __import__("gzip").decompress(gz)
    theirs = ref.make_tar(files)

    def norm(tar):
        b = bytearray(tar)
        for h in range(0, len(b), 512):
            if b[h + 257:h + 263] == b"ustar\x00":
                b[h + 148:h + 156] = bytes(8)       # checksum
                b[h + 329:h + 345] = bytes(16)      # devmajor, devminor
        return bytes(b)
    assert norm(ours) == norm(theirs)
    with tarfile.open(fileobj=io.BytesIO(ours)) as tf:
        ms = tf.getmembers()
        assert [x.name for x in ms] == sorted((k.rstrip("*") for k in files), key=str.encode)
        assert all(x.uid == 0 and x.gid == 0 and x.mtime == 0 for x in ms)
        assert {x.name: x.mode for x in ms}["run.sh"] == 0o755
        assert {x.name: x.mode for x in ms}["config.json"] == 0o644


def test_keys_from_our_keygen_work_in_the_reference(tmp_path, tool, pq):
    kdir = tmp_path / "k"
    tool("tgsp", "keygen", "--type", "signing", "--out", kdir)
    tool("tgsp", "keygen", "--type", "encryption", "--out", kdir)
    assert oct(os.stat(kdir / "signing.priv").st_mode & 0o777) == oct(0o600)
    for n in ("signing.pub", "signing.priv", "encryption.pub", "encryption.priv"):
        k = jload(kdir / n)
        assert list(k) == ["classic", "pqc", "alg"]
    src = tmp_path / "m"
    tree(src, {"a": b"x" * 1000})
    pkg = tmp_path / "m.tgsp"
    tool("tgsp", "build", src, "--out", pkg, "--signing-key", kdir / "signing.priv",
         "--signing-pub", kdir / "signing.pub", "--recipient", kdir / "encryption.pub")
    _, members, _ = ref.read(read_all(pkg), [jload(kdir / "signing.pub")],
                             [jload(kdir / "encryption.priv")], *pq)
    assert members == {"a": b"x" * 1000}
    rcp = json.loads(ref.split(read_all(pkg))["recipients"])
    assert [r["recipient_id"] for r in rcp] == ["encryption"]


# --- reference packages, our mount and tool ---------------------------------------

def test_reference_package_mounted_and_extracted(tmp_path, tool, pq, keys, keyring, mount):
    files = sample_files()
    src = tmp_path / "src"
    src.mkdir()
    (src / "ref.tgsp").write_bytes(ref.write(files, keys.spub, keys.spriv,
                                             [("other", keys.e2pub), ("me", keys.epub)], *pq))
    add_key(keyring, "ctfs:tgsp:me", keys.path("epriv"))
    m = mount(src, keyring, ["tgsp_trust=" + keys.path("spub")])
    for path, data in files.items():
        p = m.file("ref/" + path.rstrip("*"))
        assert read_all(p) == data, path
        assert os.stat(p).st_size == len(data)
    assert os.stat(m.file("ref/run.sh")).st_mode & 0o777 == 0o555
    out = tmp_path / "out"
    tool("tgsp", "open", src / "ref.tgsp", "--key", keys.path("e2priv"), "--trust",
         keys.path("spub"), "--out", out)
    for path, data in files.items():
        assert (out / path.rstrip("*")).read_bytes() == data
    assert os.stat(out / "run.sh").st_mode & 0o777 == 0o755


def test_tool_inspect_verify_open_vectors(tmp_path, tool, tv):
    d, expected = tv
    small = os.path.join(d, "small.tgsp")
    info = json.loads(tool("tgsp", "inspect", small, "--json").stdout)
    assert info["manifest"]["policy_constraints"]["target_fleet"] == "fleet-demo"
    assert info["payload_ok"] and info["frames"] == 1
    assert info["recipients"][0]["recipient_id"] == "hybrid-id"
    text = tool("tgsp", "inspect", os.path.join(d, "multi-frame.tgsp")).stdout.decode()
    assert "2 frame(s)" in text and "key_1" in text
    out = tool("tgsp", "verify", small, "--trust", os.path.join(d, "keys")).stdout.decode()
    assert "ok" in out and "fleet-demo" in out
    p = tool("tgsp", "verify", small, "--trust", os.path.join(d, "keys", "signing.pub"),
             "--fleet", "fleet-demo", "--now", "2200-01-01")
    assert "expired" in p.stdout.decode()
    ex = tmp_path / "ex"
    tool("tgsp", "open", small, "--key", os.path.join(d, "keys", "encryption.priv"),
         "--trust", os.path.join(d, "keys", "signing.pub"), "--fleet", "fleet-demo",
         "--out", ex)
    for path, digest in expected["small.tgsp"].items():
        assert sha((ex / path).read_bytes()) == digest
    # again into the same place: nothing is overwritten
    p = tool("tgsp", "open", small, "--key", os.path.join(d, "keys", "encryption.priv"),
             "--trust", os.path.join(d, "keys", "signing.pub"), "--fleet", "fleet-demo",
             "--out", ex, check=False)
    assert p.returncode == 1 and b"not overwritten" in p.stderr
    p = tool("tgsp", "open", small, "--key", os.path.join(d, "keys", "encryption.priv"),
             "--trust", os.path.join(d, "keys", "signing.pub"), "--fleet", "elsewhere",
             "--out", tmp_path / "ex2", check=False)
    assert p.returncode == 1 and b"policy" in p.stderr and not (tmp_path / "ex2").exists()


def test_tool_open_refuses_paths_outside(tmp_path, tool, pq, keys):
    kem, dsa = pq
    outside = tmp_path / "evil"
    for name, tar in [("dotdot", {"../evil": b"x"}), ("abs", {str(outside): b"x"})]:
        bio = io.BytesIO()
        with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for n, data in tar.items():
                ti = tarfile.TarInfo(n)
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
        pkg = tmp_path / (name + ".tgsp")
        pkg.write_bytes(ref.write({}, keys.spub, keys.spriv, [("me", keys.epub)], kem, dsa,
                                  tar=bio.getvalue()))
        p = tool("tgsp", "open", pkg, "--key", keys.path("epriv"), "--trust",
                 keys.path("spub"), "--out", tmp_path / ("out-" + name), check=False)
        assert p.returncode == 1 and b"unsafe member path" in p.stderr, p.stderr
        assert not outside.exists()
    # a link out of the tree, then a file "through" it
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("lnk")
        ti.type, ti.linkname = tarfile.SYMTYPE, "../.."
        tf.addfile(ti)
        ti = tarfile.TarInfo("lnk/escaped")
        ti.size = 1
        tf.addfile(ti, io.BytesIO(b"x"))
    pkg = tmp_path / "link.tgsp"
    pkg.write_bytes(ref.write({}, keys.spub, keys.spriv, [("me", keys.epub)], kem, dsa,
                              tar=bio.getvalue()))
    p = tool("tgsp", "open", pkg, "--key", keys.path("epriv"), "--trust", keys.path("spub"),
             "--out", tmp_path / "out-link", check=False)
    assert p.returncode == 1 and b"not a directory" in p.stderr, p.stderr
    assert not (tmp_path.parent / "escaped").exists()


# --- the window and fleet, with packages of our own ---------------------------------

def test_validity_window_and_fleet(tmp_path, tool, keys, keyring, mount):
    src = tmp_path / "src"
    src.mkdir()
    model = tmp_path / "model"
    tree(model, {"w.bin": b"w" * 5000})
    now = int(time.time())
    build(tool, keys, model, src / "expired.tgsp", "--not-after", str(now - 60))
    build(tool, keys, model, src / "early.tgsp", "--not-before", str(now + 3600))
    build(tool, keys, model, src / "window.tgsp", "--not-before", str(now - 60),
          "--not-after", str(now + 3600), "--fleet", "blue")
    build(tool, keys, model, src / "red.tgsp", "--fleet", "red")
    add_key(keyring, "ctfs:tgsp:rid", keys.path("epriv"))
    m = mount(src, keyring, ["tgsp_trust=" + keys.path("spub"), "fleet=blue"])
    assert sorted(os.listdir(m.path)) == ["early", "expired", "red", "window"]
    assert read_all(m.file("window/w.bin")) == b"w" * 5000
    for name, words in [("expired", "expired at"), ("early", "not valid before"),
                        ("red", "for fleet 'red'")]:
        expect_errno(errno.EACCES, read_all, m.file(name + "/w.bin"))
        line = refusal(m, name + ".tgsp")
        assert "EACCES" in line and "policy" in line and words in line, line


# --- bad packages --------------------------------------------------------------------

def flip(data, at, bit=0):
    b = bytearray(data)
    b[at] ^= 1 << bit
    return bytes(b)


def offsets(data):
    """Where each section's bytes start."""
    pos, out = 6, {}
    for name, width in ref.SECTIONS:
        n = int.from_bytes(data[pos:pos + width], "big")
        out[name] = (pos + width, n)
        pos += width + n
    return out


def hex_flip(data, sec_name, key):
    """Change one hex digit of a signature field into another valid one."""
    start, n = offsets(data)[sec_name]
    text = data[start:start + n]
    at = text.index(b'"%s":"' % key.encode()) + len(key) + 4 + 10
    while text[at:at + 1] not in b"02468":
        at += 1
    return flip(data, start + at)


@pytest.fixture
def bad_packages(tmp_path, pq, keys):
    """(name, bytes, errno, words the refusal must contain) for every kind of
    bad package, plus a good one."""
    kem, dsa = pq
    files = {"model.safetensors": ctfs_seed.rng("tgsp_1").randbytes(4 * MiB + 5000),
             "config.json": b"{}"}
    two = [("me", keys.epub), ("other", keys.e2pub)]
    good = ref.write(files, keys.spub, keys.spriv, two, kem, dsa)
    off = offsets(good)
    other_spub, other_spriv = ref.keygen_signing(dsa)
    cases = [
        ("truncated", good[:len(good) // 2], errno.EBADMSG, ["structure", "runs past"]),
        ("stub", good[:4], errno.EBADMSG, ["structure", "truncated"]),
        ("trailing", good + b"\0", errno.EBADMSG, ["structure", "after the signature"]),
        ("magic", flip(good, 4), errno.EBADMSG, ["structure", "magic"]),
        ("headerlen", good[:6] + b"\xff\xff\x00\x00" + good[10:], errno.EBADMSG,
         ["header length", "runs past"]),
        ("payloadlen", good[:off["payload"][0] - 8] + (2 ** 40).to_bytes(8, "big") +
         good[off["payload"][0]:], errno.EBADMSG, ["payload length", "runs past"]),
        ("flip-header", flip(good, off["header"][0] + 30), errno.EBADMSG, ["header"]),
        ("flip-manifest", flip(good, off["manifest"][0] + 40), errno.EBADMSG,
         ["manifest hash"]),
        ("flip-recipients", flip(good, off["recipients"][0] + 200), errno.EBADMSG,
         ["recipients hash"]),
        ("flip-payload", flip(good, off["payload"][0] + 4 * MiB), errno.EBADMSG,
         ["payload hash"]),
        ("flip-sig-ed25519", hex_flip(good, "signature", "sig_classic"), errno.EBADMSG,
         ["signature"]),
        ("flip-sig-mldsa", hex_flip(good, "signature", "sig_pqc"), errno.EBADMSG,
         ["signature", "ML-DSA-65"]),
    ]
    # the recipient blocks in the other order
    sec = ref.split(good)
    blocks = json.loads(sec["recipients"])
    swapped = dict(sec, recipients=ref.canonical(blocks[::-1]))
    cases.append(("swapped-recipients", ref.assemble(swapped), errno.EBADMSG,
                  ["recipients hash"]))
    cases.append(("untrusted", ref.write(files, other_spub, other_spriv, two, kem, dsa),
                  errno.EBADMSG, ["signature", "untrusted key"]))
    cases.append(("nokey", ref.write(files, keys.spub, keys.spriv, [("other", keys.e2pub)],
                                     kem, dsa), errno.ENOKEY, ["recipient key", "'other'"]))
    cases.append(("wrongkey", ref.write(files, keys.spub, keys.spriv, [("me", keys.e2pub)],
                                        kem, dsa), errno.ENOKEY,
                  ["recipient key", "open no recipient block"]))
    now = int(time.time())
    cases.append(("expired", ref.write(files, keys.spub, keys.spriv, two, kem, dsa,
                                       policy={"not_after": now - 10}), errno.EACCES,
                  ["policy", "expired"]))
    cases.append(("notyet", ref.write(files, keys.spub, keys.spriv, two, kem, dsa,
                                      policy={"not_before": now + 3600.5}), errno.EACCES,
                  ["policy", "not valid before"]))
    cases.append(("fleet", ref.write(files, keys.spub, keys.spriv, two, kem, dsa,
                                     policy={"target_fleet": "green"}), errno.EACCES,
                  ["policy", "green"]))
    cases.append(("unknown-constraint", ref.write(files, keys.spub, keys.spriv, two, kem, dsa,
                                                  policy={"max_gpus": 2}), errno.EACCES,
                  ["policy", "max_gpus"]))

    def bad_tag(frames):
        f = bytearray(frames[1])
        f[-1] ^= 1
        return frames[:1] + [bytes(f)] + frames[2:]
    cases.append(("badtag", ref.write(files, keys.spub, keys.spriv, two, kem, dsa,
                                      frame_hook=bad_tag), errno.EBADMSG,
                  ["frame 1", "authentication tag"]))
    gz = bytearray(ref.make_gzip(ref.make_tar(files)))
    gz[len(gz) // 2] ^= 0xff
    cases.append(("badgzip", ref.write(files, keys.spub, keys.spriv, two, kem, dsa,
                                       gz=bytes(gz)), errno.EBADMSG, ["corrupt archive"]))
    tar = bytearray(ref.make_tar(files))
    tar[100] ^= 1     # the first header's mode: its checksum no longer matches
    cases.append(("badtar", ref.write(files, keys.spub, keys.spriv, two, kem, dsa,
                                      tar=bytes(tar)), errno.EBADMSG,
                  ["corrupt archive", "checksum"]))
    cases.append(("truncated-tar", ref.write(files, keys.spub, keys.spriv, two, kem, dsa,
                                             tar=ref.make_tar(files)[:3000]), errno.EBADMSG,
                  ["corrupt archive", "inside a member"]))
    spaced = dict(ref.sections(files, keys.spub, two, kem,
                               manifest=ref.manifest_for(keys.spub)))
    spaced["manifest"] = spaced["manifest"].replace(b'"build_info":{}', b'"build_info": {}')
    hdr = json.loads(spaced["header"])
    hdr["hashes"]["manifest"] = ref.sha256_hex(spaced["manifest"])
    hdr["hashes"]["recipients"] = ref.sha256_hex(spaced["recipients"])
    spaced["header"] = ref.canonical(hdr)
    # the frames' AAD names the old manifest hash: a reader must refuse the
    # package before it gets there, on the JSON alone
    cases.append(("noncanonical", ref.assemble(ref.sign(spaced, keys.spriv, dsa)),
                  errno.EBADMSG, ["manifest", "not canonical"]))
    return good, files, cases


def test_bad_packages_refused_rest_keeps_working(tmp_path, bad_packages, keys, keyring,
                                                 mount):
    good, files, cases = bad_packages
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.tgsp").write_bytes(good)
    (src / "plain.txt").write_bytes(b"plain")
    for name, data, _, _ in cases:
        (src / (name + ".tgsp")).write_bytes(data)
    add_key(keyring, "ctfs:tgsp:me", keys.path("epriv"))
    m = mount(src, keyring, ["tgsp_trust=" + keys.path("spub"), "fleet=blue"])
    listing = os.listdir(m.path)
    failures = []
    for name, _, code, words in cases:
        # the package's directory is listed; what is below it is refused
        assert name in listing
        assert os.path.isdir(m.file(name))
        try:
            expect_errno(code, os.listdir, m.file(name))
            expect_errno(code, read_all, m.file(name + "/config.json"))
            line = refusal(m, name + ".tgsp")
            for w in words:
                assert w in line, "%s: %r not in %r" % (name, w, line)
        except AssertionError as e:
            failures.append(str(e))
        # the rest of the mount keeps working
        assert read_all(m.file("good/config.json")) == b"{}"
    assert not failures, "\n".join(failures)
    assert read_all(m.file("good/model.safetensors")) == files["model.safetensors"]
    assert read_all(m.file("plain.txt")) == b"plain"


def test_bad_packages_refused_by_the_tool(tmp_path, tool, bad_packages, keys):
    _, _, cases = bad_packages
    for name, data, code, words in cases:
        pkg = tmp_path / (name + ".tgsp")
        pkg.write_bytes(data)
        p = tool("tgsp", "open", pkg, "--key", keys.path("epriv"), "--trust",
                 keys.path("spub"), "--fleet", "blue", "--out", tmp_path / ("o-" + name),
                 check=False)
        err = p.stderr.decode()
        assert p.returncode == 1 and str(pkg) in err, (name, err)
        assert all(w in err for w in words), (name, words, err)


# --- reading through the mount ------------------------------------------------------------

def test_random_and_concurrent_reads(tmp_path, tool, keys, keyring, mount):
    rnd = ctfs_seed.rng("tgsp_11")
    blob = bytearray()
    while len(blob) < 26 * MiB:     # compressible and incompressible stretches
        blob += rnd.randbytes(200000) if rnd.random() < 0.3 \
            else bytes([rnd.randrange(4)]) * rnd.randrange(1, 3 * MiB)
    blob = bytes(blob)
    model = tmp_path / "model"
    tree(model, {"a.bin": blob, "b.bin": blob[::-1][:7 * MiB]})
    src = tmp_path / "src"
    src.mkdir()
    build(tool, keys, model, src / "big.tgsp")
    add_key(keyring, "ctfs:tgsp:rid", keys.path("epriv"))
    m = mount(src, keyring, ["tgsp_trust=" + keys.path("spub")])
    path = m.file("big/a.bin")
    assert os.stat(path).st_size == len(blob)
    with open(path, "rb") as f:
        for _ in range(150):
            off = rnd.randrange(len(blob))
            n = rnd.choice([1, 4096, 65536, 1 << 20, 3 << 20])
            f.seek(off)
            assert f.read(n) == blob[off:off + n], off
    errors = []

    def reader(seed, name, want):
        r = ctfs_seed.rng("tgsp_reader_%d" % seed)
        try:
            with open(m.file("big/" + name), "rb") as f:
                for _ in range(40):
                    off = r.randrange(len(want))
                    f.seek(off)
                    if f.read(100000) != want[off:off + 100000]:
                        errors.append((name, off))
                f.seek(0)
                if f.read() != want:
                    errors.append((name, "whole"))
        except OSError as e:
            errors.append((name, e))
    threads = [threading.Thread(target=reader, args=(i, n, w)) for i, (n, w) in
               enumerate([("a.bin", blob), ("b.bin", blob[::-1][:7 * MiB])] * 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_package_replaced_while_mounted(tmp_path, tool, keys, keyring, mount):
    src = tmp_path / "src"
    src.mkdir()
    for v in ("one", "two"):
        tree(tmp_path / v, {"v.txt": v.encode() * 100})
        build(tool, keys, tmp_path / v, tmp_path / (v + ".tgsp"))
    shutil.copy(tmp_path / "one.tgsp", src / "m.tgsp")
    (src / "X").mkdir()
    shutil.copy(tmp_path / "one.tgsp", src / "X.tgsp")
    add_key(keyring, "ctfs:tgsp:rid", keys.path("epriv"))
    m = mount(src, keyring, ["tgsp_trust=" + keys.path("spub")])
    assert read_all(m.file("m/v.txt")) == b"one" * 100
    os.replace(tmp_path / "two.tgsp", src / "m.tgsp")
    assert read_all(m.file("m/v.txt")) == b"two" * 100
    # a real X beside X.tgsp: both shown as they are
    assert sorted(os.listdir(m.path)) == ["X", "X.tgsp", "m"]
    assert os.path.isfile(m.file("X.tgsp"))
