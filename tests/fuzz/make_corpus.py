#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<harness>/ (small files, kept
in the repository; run again only to change them). TGSP seeds need
ctfs-tool: make_corpus.py BUILD_DIR."""
import base64
import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
VEC = os.path.join(HERE, "..", "vectors")


def out(harness, name, data):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def header_of(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = f.read(n)
        f.seek(0, 2)
        return hdr, f.tell() - 8 - n


def st_seeds():
    ct = os.path.join(VEC, "cryptotensors")
    for name in sorted(os.listdir(ct)):
        if name.endswith((".safetensors", ".cryptotensors")):
            hdr, data_len = header_of(os.path.join(ct, name))
            seed = struct.pack("<Q", data_len) + hdr.rstrip(b" ")
            out("safetensors", name + ".seed", seed)
            if b"__encryption__" in hdr:
                out("crypto_entries", name + ".seed", seed)
    small = [b'{}', b'{"__metadata__":{"a":"b"}}',
             b'{"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}',
             b'{"a":{"dtype":"BF16","shape":[],"data_offsets":[0,2]},'
             b'"b":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}']
    for i, s in enumerate(small):
        data_len = 16 if b"F32" in s else 2 if b"BF16" in s else 0
        out("safetensors", "small-%d.seed" % i, struct.pack("<Q", data_len) + s)


def jwk_seeds():
    ct = os.path.join(VEC, "cryptotensors")
    for name in sorted(os.listdir(ct)):
        if name.startswith("keys-"):
            with open(os.path.join(ct, name), "rb") as f:
                text = f.read()
            out("jwk", name, text)
            for i, k in enumerate(json.loads(text)["keys"]):
                out("jwk", "%s-%d" % (name, i), json.dumps(k).encode())
    kd = os.path.join(VEC, "tgsp", "keys")
    for name in ("signing.pub", "encryption.pub"):
        with open(os.path.join(kd, name), "rb") as f:
            out("jwk", "tgsp-" + name, f.read())
    out("jwk", "urlsafe", b'{"kty":"oct","alg":"chacha20poly1305","kid":"x",'
        b'"k":"_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-8"}')


def tar_bytes(fmt, members):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=fmt) as tf:
        for name, kind, val in members:
            ti = tarfile.TarInfo(name)
            if kind == "d":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif kind in ("l", "h"):
                ti.type = tarfile.SYMTYPE if kind == "l" else tarfile.LNKTYPE
                ti.linkname = val
                tf.addfile(ti)
            else:
                ti.size = len(val)
                tf.addfile(ti, io.BytesIO(val))
    return bio.getvalue()


def tar_seeds():
    members = [("dir", "d", None), ("dir/a.txt", "f", b"hello\n"), ("dir/l", "l", "a.txt"),
               ("dir/h", "h", "dir/a.txt"), ("u/" + "\u00e9" * 60 + "/x", "f", b"x" * 700)]
    for fmt, name in ((tarfile.USTAR_FORMAT, "ustar"), (tarfile.GNU_FORMAT, "gnu"),
                      (tarfile.PAX_FORMAT, "pax")):
        try:
            t = tar_bytes(fmt, members)
        except ValueError:
            t = tar_bytes(fmt, members[:4])
        # trim the record padding (keep the end marker): smaller seeds
        t = t.rstrip(b"\0") + b"\0" * 1024
        t += b"\0" * ((-len(t)) % 512)
        out("tar", name, b"\x06" + t)
        if name == "pax":
            out("gzindex", "pax-tar.gz", b"\x03\x10" + gzip.compress(t, 6, mtime=0))
    long = tar_bytes(tarfile.GNU_FORMAT, [("n" * 150, "f", b"1"), ("k", "l", "t" * 120)])
    out("tar", "gnu-long", b"\x20" + long.rstrip(b"\0") + b"\0" * 1536)


def gz_seeds():
    data = b"".join(b"line %d of some text\n" % i for i in range(3000))
    out("gzindex", "text.gz", b"\x07\x3f" + gzip.compress(data, 9, mtime=0))
    two = gzip.compress(b"first member " * 50, mtime=0) + gzip.compress(b"second", mtime=0)
    out("gzindex", "two-members.gz", b"\x01\x05" + two)
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    out("gzindex", "stored-and-fixed.gz", b"\x02\x02" + c.compress(os.urandom(300) + bytes(3000)) + c.flush())


def tgsp_seeds(build):
    tool = os.path.join(build, "ctfs-tool")
    kd = os.path.join(VEC, "tgsp", "keys")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "m")
        os.makedirs(os.path.join(src, "sub"))
        with open(os.path.join(src, "config.json"), "w") as f:
            f.write('{"model_type":"demo"}\n')
        with open(os.path.join(src, "sub", "w.bin"), "wb") as f:
            f.write(bytes(range(256)) * 4)
        for name, extra in (("plain", []), ("fleet", ["--fleet", "fleet-demo", "--not-before",
                                                      "1700000000", "--not-after", "4102444800"])):
            pkg = os.path.join(tmp, name + ".tgsp")
            subprocess.run([tool, "tgsp", "build", src, "--out", pkg, "--signing-key",
                            os.path.join(kd, "signing.priv"), "--signing-pub",
                            os.path.join(kd, "signing.pub"), "--recipient",
                            "rid=" + os.path.join(kd, "encryption.pub")] + extra, check=True,
                           capture_output=True)
            with open(pkg, "rb") as f:
                out("tgsp", name + ".tgsp", f.read())


def release_seeds():
    """Key-service requests for the vector files' headers, and a few
    malformed ones."""
    ct = os.path.join(VEC, "cryptotensors")
    for name in sorted(os.listdir(ct)):
        if not name.endswith((".safetensors", ".cryptotensors")):
            continue
        hdr, data_len = header_of(os.path.join(ct, name))
        raw = struct.pack("<Q", len(hdr)) + hdr
        req = {"v": 1, "kid": "enc-1", "fleet": "fleet-a", "file_size": 8 + len(hdr) + data_len,
               "header": base64.b64encode(raw).decode()}
        out("release", name + ".json", json.dumps(req).encode())
    for i, s in enumerate([b'{"v":1}', b'{"v":2,"kid":"k","file_size":10,"header":""}',
                           b'{"v":1,"kid":"../x","file_size":10,"header":"AAAA"}',
                           b'{"v":1,"kid":"k","file_size":1e300,"header":"AAAA"}']):
        out("release", "bad-%d.json" % i, s)


if __name__ == "__main__":
    st_seeds()
    release_seeds()
    jwk_seeds()
    tar_seeds()
    gz_seeds()
    if len(sys.argv) > 1:
        tgsp_seeds(sys.argv[1])
