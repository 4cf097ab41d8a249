"""TGSP packages whose manifest is MessagePack, as the newest code of the
TGSP reference implementation writes it whenever the msgpack package is
installed (it is one of its dependencies), while the same code still reads
manifests with json.loads (doc/INTEROP.md, T1). ctfs reads JSON manifests
only: it refuses such a package, and says why, in the tool and in the
mount's log; the same package with a JSON manifest opens."""

import errno
import hashlib
import os
import subprocess

import pytest

import ctfs_seed
import tgsp_reference as ref
from interop import upstream  # noqa: F401 (fixture)
from test_pq_noble import noble_pkg, noble, noble_dsa  # noqa: F401 (fixtures)
from test_tgsp import Keys, refusal

FILES = {"config.json": b'{"model_type":"demo"}\n', "model.safetensors": ctfs_seed.randbytes(1000),
         "sub/tok.txt": b"hello"}


@pytest.fixture
def keys(tmp_path, noble, noble_dsa):  # noqa: F811
    return Keys(tmp_path, noble, noble_dsa), noble, noble_dsa


def package(manifest_bytes, k, kem, dsa):
    """A complete, signed package around the given manifest bytes
    (tgsp_reference.sections, with the manifest taken as it is)."""
    dek, nonce_base = ctfs_seed.randbytes(32), ctfs_seed.randbytes(12)
    rcp = ref.canonical([ref.wrap_dek(dek, k.epub, "rid", kem)])
    hashes = {"manifest": ref.sha256_hex(manifest_bytes), "recipients": ref.sha256_hex(rcp)}
    payload = b"".join(ref.encrypt_frames(ref.make_gzip(ref.make_tar(FILES)), dek, nonce_base,
                                          hashes))
    hashes["payload"] = ref.sha256_hex(payload)
    header = ref.canonical({"tgsp_version": "1.0", "hashes": hashes,
                            "crypto": {"nonce_base": nonce_base.hex(),
                                       "alg": "CHACHA20_POLY1305", "kem": ref.KEM_ALG,
                                       "sig": ref.SIG_ALG}})
    sec = {"header": header, "manifest": manifest_bytes, "recipients": rcp, "payload": payload}
    return ref.assemble(ref.sign(sec, k.spriv, dsa))


def add_recipient_key(keyring, path):
    with open(path, "rb") as f:
        subprocess.run(["keyctl", "padd", "user", "ctfs:tgsp:rid", keyring], stdin=f, check=True,
                       capture_output=True)


def test_msgpack_manifest_refused_with_reason(upstream, tool, keys, tmp_path, keyring, mount):
    k, kem, dsa = keys
    man = ref.manifest_for(k.spub, name="msgpack-model")
    (mp,) = upstream.ok({"op": "msgpack", "obj": man})
    mp_bytes = bytes.fromhex(mp["hex"])
    assert mp_bytes[0] in (0xde, 0xdf) or 0x80 <= mp_bytes[0] <= 0x8f   # a MessagePack map
    src = tmp_path / "pkgs"
    src.mkdir()
    (src / "mp.tgsp").write_bytes(package(mp_bytes, k, kem, dsa))
    (src / "js.tgsp").write_bytes(package(ref.canonical(man), k, kem, dsa))
    # the tool: the JSON twin verifies, the MessagePack one is refused at
    # the manifest, before any key is used
    ok = tool("tgsp", "verify", src / "js.tgsp", "--trust", k.path("spub"))
    assert b"ok" in ok.stdout
    for cmd in (["verify", src / "mp.tgsp", "--trust", k.path("spub")],
                ["inspect", src / "mp.tgsp"]):
        p = tool("tgsp", *cmd, check=False)
        assert p.returncode == 1, p
        err = p.stderr.decode(errors="replace")
        print("ctfs-tool tgsp %s: %s" % (cmd[0], err.strip()))
        assert "manifest section is MessagePack" in err, err
    # the mount: the package lists as a directory; below it, EBADMSG and one
    # log line naming the package and the check
    add_recipient_key(keyring, k.path("epriv"))
    m = mount(src, keyring, ["tgsp_trust=" + k.path("spub")])
    assert sorted(os.listdir(m.path)) == ["js", "mp"]
    for path, data in FILES.items():
        with open(os.path.join(m.file("js"), path), "rb") as f:
            assert hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest(), path
    with pytest.raises(OSError) as e:
        os.listdir(m.file("mp"))
    assert e.value.errno == errno.EBADMSG
    line = refusal(m, "mp.tgsp")
    print(line)
    assert "manifest section is MessagePack" in line
