"""Interop edge cases that fail today on the ctfs side and wait for a fix
(doc/INTEROP.md C4). Not collected by pytest (the name does not start with
test_); run by hand with `pytest tests/interop_edges_pending.py`, and move
each case into tests/test_interop_edges.py once it passes."""

import json

import st_load
from interop import SPEC, dtypes_of, expected_seed, load_jwks, upstream  # noqa: F401
from test_interop_edges import keygen


def test_keys_without_kid(upstream, tool, keyring, mount, tmp_path, request):
    """JWKs without a kid: upstream writes no kid into the header, and reads
    such files with the keys from any of its providers. ctfs names keyring
    keys ctfs:<kid>, ctfs:default without one: the master key and the
    signing key would both be ctfs:default, so `ctfs-tool key add` refuses
    the key set and the file cannot be served (C4)."""
    seed = expected_seed(request, 4201)
    keys = keygen(tool, tmp_path)
    jwks = [{k: v for k, v in j.items() if k != "kid"} for j in load_jwks(keys)]
    nokid = tmp_path / "nokid.json"
    nokid.write_text(json.dumps({"keys": jwks}))
    src = tmp_path / "src"
    src.mkdir()
    (w,) = upstream.ok({"op": "write", "path": str(src / "n.cryptotensors"),
                        "spec": SPEC["numpy"], "seed": seed, "frontend": "numpy",
                        "metadata": None, "config": {}, "jwks": jwks})
    hdr, _ = st_load.header(str(src / "n.cryptotensors"))
    ck = json.loads(hdr["__metadata__"]["__crypto_keys__"])
    assert "kid" not in ck["enc"] and "kid" not in ck["sign"]
    (up,) = upstream.ok({"op": "load", "path": str(src / "n.cryptotensors"), "provider": "env",
                         "jwks": jwks, "api": "load_file-numpy",
                         "dtypes": dtypes_of(SPEC["numpy"])})
    assert up["tensors"] == w["tensors"]
    tool("key", "add", "--keyring", keyring, nokid)
    m = mount(src, keyring)
    arrays = st_load.load_numpy(m.file("n.safetensors"))
    d = st_load.digests(arrays)
    assert {k: v[2] for k, v in w["tensors"].items()} == d
