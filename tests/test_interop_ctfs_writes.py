"""ctfs writes, upstream reads: every `ctfs-tool encrypt` option and every
rewrap output is loaded by the real `cryptotensors` package, with the keys
handed over through each of its key providers, and every tensor equals the
original that the real `safetensors` package wrote."""

import json
import os

import pytest

import st_load
from interop import (ALGS, METADATA, ODD_CHUNK, SPEC, UPSTREAM_EMPTY_TORCH,
                     dtypes_of, expected_seed, load_jwks, upstream)  # noqa: F401 (fixture)

# every way upstream can be handed keys, and the APIs that read
PROVIDERS = [("direct", "load_file-numpy"), ("env", "load_file-numpy"),
             ("direct-files", "safe_open-numpy"), ("config", "safe_open-numpy")]


def keygen(tool, path, alg, *extra):
    tool("keygen", "--alg", alg, "--out", path, *extra)
    return path


def plain_model(upstream, path, seed, frontend="numpy", metadata=METADATA, spec=None):
    """A plain file written by the real safetensors package."""
    (r,) = upstream.ok({"op": "write", "path": str(path), "spec": spec or SPEC[frontend],
                        "seed": seed,
                        "frontend": "plain-" + frontend, "metadata": metadata})
    return r["tensors"]


def torch_view(up, written):
    """See test_interop_upstream_writes.upstream_torch_view (doc/INTEROP.md U1)."""
    errors = up.get("tensor_errors") or {}
    assert set(errors) <= {k for k, v in written.items() if 0 in v[1]}, errors
    assert all(UPSTREAM_EMPTY_TORCH in e for e in errors.values()), errors
    got = dict(up["tensors"])
    got.update({k: written[k] for k in errors})
    return got


def upstream_reads(upstream, path, jwks, written, frontend="numpy", provider="direct",
                   api="load_file-numpy", spec=None):
    if frontend == "torch":
        api = "safe_open-torch"
        provider = "config" if provider == "config" else provider
    (up,) = upstream.ok({"op": "load", "path": str(path), "provider": provider, "jwks": jwks,
                         "api": api, "dtypes": dtypes_of(spec or SPEC[frontend])})
    got = torch_view(up, written) if frontend == "torch" else up["tensors"]
    assert got == written, "upstream (%s, %s) reading %s" % (provider, api, path)
    return up


def crypto_keys(path):
    hdr, _ = st_load.header(str(path))
    return json.loads(hdr["__metadata__"]["__crypto_keys__"]), hdr["__metadata__"]


@pytest.mark.parametrize("version,chunk", [("1", None), ("2", None), ("2", ODD_CHUNK)],
                         ids=["v1", "v2", "v2-chunk%d" % ODD_CHUNK])
@pytest.mark.parametrize("alg", ALGS)
def test_encrypt_every_algorithm_and_version(upstream, tool, tmp_path, request, alg, version,
                                             chunk):
    seed = expected_seed(request, 2300 + ALGS.index(alg) * 10 + len(version) + (chunk or 0) % 7)
    keys = keygen(tool, tmp_path / "keys.json", alg)
    jwks = load_jwks(keys)
    for i, fe in enumerate(("numpy", "torch")):
        src, out = tmp_path / ("%s.safetensors" % fe), tmp_path / ("%s.cryptotensors" % fe)
        written = plain_model(upstream, src, seed, fe)
        args = ["encrypt", src, out, "--keys", keys, "--version", version, "--quiet"]
        if chunk:
            args += ["--chunk-size", str(chunk)]
        tool(*args)
        ck, meta = crypto_keys(out)
        assert (ck["version"], ck["enc"]["alg"]) == (version, alg)
        assert {k: v for k, v in meta.items() if not k.startswith("__")} == METADATA
        # each provider in turn, one of them per case and frontend
        provider, api = PROVIDERS[(ALGS.index(alg) * 2 + i + len(version)) % len(PROVIDERS)]
        up = upstream_reads(upstream, out, jwks, written, fe, provider, api)
        if up.get("metadata") is not None:
            assert up["metadata"] == METADATA


def test_encrypt_with_every_provider(upstream, tool, tmp_path, request):
    """One file, read through each of upstream's key providers and APIs,
    including the jku file provider (keygen --jku)."""
    seed = expected_seed(request, 2401)
    keys = tmp_path / "keyset.json"
    keygen(tool, keys, "aes256gcm", "--jku", "file://%s" % keys)
    src, out = tmp_path / "m.safetensors", tmp_path / "m.cryptotensors"
    written = plain_model(upstream, src, seed)
    tool("encrypt", src, out, "--keys", keys, "--quiet")
    jwks = load_jwks(keys)
    for provider, api in PROVIDERS + [("jku", "load_file-numpy"), ("direct", "load_file-torch"),
                                      ("jku", "safe_open-numpy")]:
        if api == "load_file-torch":
            continue    # numpy-only dtypes: torch 1.13 has no uint16..64
        upstream_reads(upstream, out, jwks, written, "numpy", provider, api)
    # upstream's file provider is always on: the jku alone finds the keys;
    # once the key set is gone, upstream has no key and refuses
    os.rename(keys, tmp_path / "moved.json")
    (r,) = upstream.run({"op": "load", "path": str(out), "provider": "none",
                         "api": "load_file-numpy"})
    assert "error" in r and "key" in r["message"].lower(), r


def test_partial_encryption(upstream, tool, tmp_path, request):
    seed = expected_seed(request, 2501)
    keys = keygen(tool, tmp_path / "keys.json", "chacha20poly1305")
    src, out = tmp_path / "m.safetensors", tmp_path / "m.cryptotensors"
    written = plain_model(upstream, src, seed)
    tool("encrypt", src, out, "--keys", keys, "--tensors", "big,layer.*", "--tensors", "u*",
         "--chunk-size", "64K", "--quiet")
    _, meta = crypto_keys(out)
    enc = json.loads(meta["__encryption__"])
    assert sorted(enc) == sorted(["big", "u16", "u32", "u64", SPEC["numpy"][11][0]])
    upstream_reads(upstream, out, load_jwks(keys), written, provider="env")


@pytest.mark.parametrize("flags", [
    ("--policy", "package model\nallow := true\n"),
    ("--policy-local", "package model\nimport rego.v1\nallow if { true }\n"),
    ("--policy-remote", "package model\ndefault allow := false\n"),
], ids=["policy", "policy-local", "policy-remote"])
def test_policies(upstream, tool, tmp_path, request, flags):
    """Policies ctfs writes are what upstream evaluates: the local one."""
    seed = expected_seed(request, 2601)
    keys = keygen(tool, tmp_path / "keys.json", "aes256gcm")
    src, out = tmp_path / "m.safetensors", tmp_path / "m.cryptotensors"
    written = plain_model(upstream, src, seed)
    pol = tmp_path / "p.rego"
    pol.write_text(flags[1])
    tool("encrypt", src, out, "--keys", keys, flags[0], pol, "--quiet")
    _, meta = crypto_keys(out)
    p = json.loads(meta["__policy__"])
    if flags[0] in ("--policy", "--policy-local"):
        assert p["local"] == flags[1].rstrip("\n")   # the tool drops the final newline
    if flags[0] in ("--policy", "--policy-remote"):
        assert p["remote"] == flags[1].rstrip("\n")
    upstream_reads(upstream, out, load_jwks(keys), written, provider="direct")


def test_directory_with_index(upstream, tool, tmp_path, request):
    """A sharded model directory: shards keep their names, the index, config
    and a nested shard come along; upstream reads every shard."""
    seed = expected_seed(request, 2701)
    keys = keygen(tool, tmp_path / "keys.json", "aes128gcm")
    model, out = tmp_path / "model", tmp_path / "out"
    (model / "sub").mkdir(parents=True)
    shards = {"model-00001-of-00002.safetensors": ("numpy", seed),
              "model-00002-of-00002.safetensors": ("torch", seed + 1),
              "sub/extra.safetensors": ("numpy", seed + 2)}
    specs = {name: [["s%d.%s" % (i, t), d, sh] for t, d, sh in SPEC[fe]]
             for i, (name, (fe, _)) in enumerate(shards.items())}
    written = {}
    for name, (fe, s) in shards.items():
        written[name] = plain_model(upstream, model / name, s, fe, spec=specs[name])
    index = {"metadata": {"total_size": 0}, "weight_map": {}}
    for name in list(shards)[:2]:
        for t in written[name]:
            index["weight_map"][t] = name
    (model / "model.safetensors.index.json").write_text(json.dumps(index))
    (model / "config.json").write_text('{"model_type": "interop"}')
    tool("encrypt", model, out, "--keys", keys, "--quiet")
    assert sorted(os.path.relpath(os.path.join(d, f), out)
                  for d, _, fs in os.walk(out) for f in fs) == sorted(
        list(shards) + ["model.safetensors.index.json", "config.json"])
    assert (out / "model.safetensors.index.json").read_bytes() == \
        (model / "model.safetensors.index.json").read_bytes()
    jwks = load_jwks(keys)
    for name, (fe, _) in shards.items():
        upstream_reads(upstream, out / name, jwks, written[name], fe, provider="direct",
                       spec=specs[name])


@pytest.mark.parametrize("mode", ["both", "master", "signer", "policy"])
def test_rewrap_outputs(upstream, tool, tmp_path, request, mode):
    """Every rewrap: upstream reads the result with the new keys only, and
    no longer with the old master key (when it changed)."""
    seed = expected_seed(request, 2801)
    old = keygen(tool, tmp_path / "old.json", "aes256gcm", "--kid", "old")
    new = keygen(tool, tmp_path / "new.json", "aes256gcm", "--kid", "new")
    src, enc, out = (tmp_path / n for n in ("m.safetensors", "m.cryptotensors", "r.cryptotensors"))
    written = plain_model(upstream, src, seed)
    tool("encrypt", src, enc, "--keys", old, "--chunk-size", str(ODD_CHUNK), "--quiet")
    args = ["rewrap", "--keys", old, "--new-keys", new, enc, out, "--quiet"]
    old_j, new_j = load_jwks(old), load_jwks(new)
    if mode == "master":
        args += ["--only", "master"]
        want = [new_j[0], old_j[1]]
    elif mode == "signer":
        args += ["--only", "signer"]
        want = [old_j[0], new_j[1]]
    else:
        want = new_j
    if mode == "policy":
        pol = tmp_path / "p.rego"
        pol.write_text("package model\nallow if true\n")
        args += ["--policy", pol]
    tool(*args)
    ck, meta = crypto_keys(out)
    assert (ck["enc"]["kid"], ck["sign"]["kid"]) == (want[0]["kid"], want[1]["kid"])
    if mode == "policy":
        assert json.loads(meta["__policy__"])["local"] == "package model\nallow if true"
    for provider, api in PROVIDERS:
        upstream_reads(upstream, out, want, written, provider=provider, api=api)
    if mode != "signer":
        # the old master key (and the right signer) no longer open it
        (r,) = upstream.run({"op": "load", "path": str(out), "provider": "config",
                             "jwks": [dict(old_j[0], kid=want[0]["kid"]), want[1]],
                             "api": "safe_open-numpy"})
        assert "error" in r, r


def test_key_selection_and_sources(upstream, tool, keyring, tmp_path, request):
    """--enc-kid/--sign-kid pick keys from a set holding several; --keyring
    takes them from the kernel keyring; --alg names the key's algorithm;
    --exclude, --threads and --force on a directory. Upstream reads each
    result with the keys that were picked."""
    seed = expected_seed(request, 2901)
    a = keygen(tool, tmp_path / "a.json", "aes128gcm", "--kid", "a")
    b = keygen(tool, tmp_path / "b.json", "chacha20poly1305", "--kid", "b")
    both = tmp_path / "both.json"
    both.write_text(json.dumps({"keys": load_jwks(a) + load_jwks(b)}))
    src = tmp_path / "m.safetensors"
    written = plain_model(upstream, src, seed)
    # a master key of one set, the signer of the other
    out = tmp_path / "sel.cryptotensors"
    tool("encrypt", src, out, "--keys", both, "--enc-kid", "b-enc", "--sign-kid", "a-sign",
         "--alg", "chacha20poly1305", "--threads", "1", "--quiet")
    ck, _ = crypto_keys(out)
    assert (ck["enc"]["kid"], ck["enc"]["alg"], ck["sign"]["kid"]) == \
        ("b-enc", "chacha20poly1305", "a-sign")
    picked = [load_jwks(b)[0], load_jwks(a)[1]]
    upstream_reads(upstream, out, picked, written, provider="env")
    # both keys from the kernel keyring
    tool("key", "add", "--keyring", keyring, "--with-private", a)
    out = tmp_path / "ring.cryptotensors"
    tool("encrypt", src, out, "--keyring", keyring, "--enc-kid", "a-enc", "--sign-kid", "a-sign",
         "--quiet")
    upstream_reads(upstream, out, load_jwks(a), written, provider="direct-files",
                   api="safe_open-numpy")
    # a directory: --exclude leaves a file out; --force replaces the output
    model = tmp_path / "model"
    model.mkdir()
    plain_model(upstream, model / "model.safetensors", seed)
    (model / "notes.txt").write_text("left out")
    (model / "config.json").write_text("{}")
    dst = tmp_path / "enc"
    dst.mkdir()
    (dst / "stale").write_text("replaced")
    tool("encrypt", model, dst, "--keys", a, "--exclude", "*.txt", "--force", "--quiet")
    assert sorted(os.listdir(dst)) == ["config.json", "model.safetensors"]
    upstream_reads(upstream, dst / "model.safetensors", load_jwks(a), written)


def test_ctfs_metadata_entries(upstream, tool, tmp_path, request):
    """The signed entries ctfs adds (ctfs.model_id, ctfs.version, and the
    plaintext digests ctfs.plain_sha256, written by default for a partially
    encrypted file) are ordinary user metadata to upstream: it still loads."""
    seed = expected_seed(request, 2601)
    keys = keygen(tool, tmp_path / "keys.json", "aes256gcm")
    src, out = tmp_path / "m.safetensors", tmp_path / "m.cryptotensors"
    written = plain_model(upstream, src, seed)
    tool("encrypt", src, out, "--keys", keys, "--tensors", "big", "--model-id", "acme/m1",
         "--model-version", "3", "--quiet")
    _, meta = crypto_keys(out)
    assert meta["ctfs.model_id"] == "acme/m1" and meta["ctfs.version"] == "3"
    assert json.loads(meta["ctfs.plain_sha256"])["tensors"]
    upstream_reads(upstream, out, load_jwks(keys), written)


def test_sign_output(upstream, tool, tmp_path, request):
    """ctfs-tool sign (a new signer, data untouched): upstream loads the
    re-signed file with the old master key and the new signing key."""
    seed = expected_seed(request, 2701)
    keys = keygen(tool, tmp_path / "keys.json", "aes128gcm")
    new = keygen(tool, tmp_path / "new.json", "aes128gcm", "--kid-prefix", "vendor2")
    src, out = tmp_path / "m.safetensors", tmp_path / "m.cryptotensors"
    written = plain_model(upstream, src, seed)
    tool("encrypt", src, out, "--keys", keys, "--quiet")
    tool("sign", "--old-keys", keys, "--keys", new, "--quiet", out)
    ck, _ = crypto_keys(out)
    assert ck["sign"]["kid"] == "vendor2-sign"
    jwks = [k for k in load_jwks(keys) if k["kty"] == "oct"] + \
        [k for k in load_jwks(new) if k["kty"] == "okp"]
    upstream_reads(upstream, out, jwks, written)


def test_x5c_chain_entry(upstream, tool, tmp_path):
    """A file whose signer carries its certificate chain (x5c in
    __crypto_keys__.sign, made with the test PKI of test_trust.py) loads in
    upstream, which ignores the member, to the same tensors as without it."""
    from test_trust import Env
    env = Env(tmp_path, tool, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    chained = env.encrypt("chained.cryptotensors", "leaf")
    ck, _ = crypto_keys(chained)
    assert len(ck["sign"]["x5c"]) == 2
    bare = env.encrypt("bare.cryptotensors")
    got = []
    for path, keys in ((chained, env.leaf_set("leaf")), (bare, env.keys)):
        (r,) = upstream.ok({"op": "load", "path": str(path), "provider": "direct",
                            "jwks": load_jwks(keys), "api": "load_file-numpy"})
        got.append(r["tensors"])
    assert got[0] == got[1] and set(got[0]) == {"enc", "plain"}
