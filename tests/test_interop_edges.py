"""Edge cases where upstream `cryptotensors` 0.2.3 and ctfs were compared
one by one; each case is an entry of doc/INTEROP.md, which says what
differs, why, and what ctfs does about it."""

import base64
import errno
import json

import ct_forge
import st_load
from interop import SPEC, expected_seed, load_jwks, upstream  # noqa: F401


def keygen(tool, tmp_path, name="keys.json", alg="aes256gcm", *extra):
    path = tmp_path / name
    tool("keygen", "--alg", alg, "--out", path, *extra)
    return path


def open_view(m, name):
    """None when the view opens and reads, else the errno."""
    try:
        with open(m.file(name), "rb") as f:
            f.read()
        return None
    except OSError as e:
        return e.errno


def test_policy_without_local_entry(upstream, tool, keyring, mount, tmp_path, request):
    """A signed __policy__ with no "local" entry (INTEROP.md C2): upstream
    refuses to parse it; the mount must not be more permissive."""
    seed = expected_seed(request, 4101)
    keys = keygen(tool, tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    upstream.ok({"op": "write", "path": str(tmp_path / "a.cryptotensors"),
                 "spec": [["w", "F32", [8]]], "seed": seed, "frontend": "numpy",
                 "metadata": None, "config": {}, "jwks": load_jwks(keys)})
    ct_forge.mutate_meta(str(tmp_path / "a.cryptotensors"), str(src / "p.cryptotensors"),
                         str(keys), "__policy__", lambda p: {"remote": p["remote"]})
    (r,) = upstream.run({"op": "load", "path": str(src / "p.cryptotensors"),
                         "provider": "config", "jwks": load_jwks(keys), "api": "safe_open-numpy"})
    assert "error" in r and "missing field `local`" in r["message"], r
    tool("key", "add", "--keyring", keyring, keys)
    m = mount(src, keyring)
    got = open_view(m, "p.safetensors")
    print("upstream: %s; mount: %s" % (r["message"], got and errno.errorcode[got]))
    assert got == errno.EBADMSG, "the mount must refuse it as malformed, as upstream does"
    assert "both local and remote policies are required" in m.log()


def test_url_safe_key_encoding(upstream, tool, keyring, mount, tmp_path, request):
    """A master key in base64url without padding, as RFC 7517 writes JWKs
    (INTEROP.md U2): ctfs accepts it; upstream refuses it."""
    seed = expected_seed(request, 4301)
    keys = keygen(tool, tmp_path)
    jwks = load_jwks(keys)
    src = tmp_path / "src"
    src.mkdir()
    (w,) = upstream.ok({"op": "write", "path": str(src / "u.cryptotensors"),
                        "spec": SPEC["numpy"], "seed": seed, "frontend": "numpy",
                        "metadata": None, "config": {}, "jwks": jwks})
    url = [dict(j) for j in jwks]
    for j in url:
        for f in ("k", "d", "x"):
            if f in j:
                j[f] = base64.urlsafe_b64encode(base64.b64decode(j[f])).decode().rstrip("=")
    (r,) = upstream.run({"op": "load", "path": str(src / "u.cryptotensors"), "provider": "config",
                         "jwks": url, "api": "safe_open-numpy"})
    print("upstream with base64url keys:", r.get("message", "loaded"))
    url_path = tmp_path / "url.json"
    url_path.write_text(json.dumps({"keys": url}))
    tool("key", "add", "--keyring", keyring, url_path)
    m = mount(src, keyring)
    d = st_load.digests(st_load.load_numpy(m.file("u.safetensors")))
    assert {k: v[2] for k, v in w["tensors"].items()} == d
    assert "error" in r and "base64" in r["message"].lower(), r


def test_chunks_over_the_mount_limit(upstream, tool, keyring, mount, tmp_path, request):
    """Upstream writes any chunk size; the mount decrypts chunks of at most
    16 MiB in locked memory and refuses larger ones with EFBIG, saying so
    (INTEROP.md C3); a tensor no larger than the limit still opens."""
    seed = expected_seed(request, 4401)
    keys = keygen(tool, tmp_path)
    jwks = load_jwks(keys)
    src = tmp_path / "src"
    src.mkdir()
    big = [["w", "U8", [17 * 1024 * 1024]]]
    upstream.ok({"op": "write", "path": str(src / "big.cryptotensors"), "spec": big,
                 "seed": seed, "frontend": "numpy", "metadata": None,
                 "config": {"chunk_size": 32 * 1024 * 1024}, "jwks": jwks})
    tool("key", "add", "--keyring", keyring, keys)
    m = mount(src, keyring)
    assert open_view(m, "big.safetensors") == errno.EFBIG
    assert "chunk" in m.log()
    (up,) = upstream.ok({"op": "load", "path": str(src / "big.cryptotensors"),
                         "provider": "direct", "jwks": jwks, "api": "load_file-numpy",
                         "dtypes": {"w": "U8"}})
    assert list(up["tensors"]) == ["w"]
