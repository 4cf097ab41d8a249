"""Cross-checks our ML-KEM-768 (tests/pq_tool) against an independent
implementation, @noble/post-quantum from npm, on fresh random inputs:
keys and ciphertexts made on either side must work on the other, and the
deterministic entry points must agree byte for byte.

Needs node and npm (and the npm registry); without them the tests skip,
except under CI (env CI set), where they fail."""

import json
import os
import secrets
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("CTFS_BUILDDIR", os.path.dirname(HERE))
IN_CI = bool(os.environ.get("CI"))
ROUNDS = 4

# Runs a JSON list of operations from stdin against noble and prints the
# JSON list of results; one node process per batch keeps the tests fast.
NODE_DRIVER = r"""
import { readFileSync } from 'node:fs';
import { ml_kem768 } from '%(module)s';
const hex = (b) => Buffer.from(b).toString('hex');
const bin = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
const out = [];
for (const op of JSON.parse(readFileSync(0, 'utf8'))) {
    try {
        if (op.op === 'keygen') {
            const k = op.seed ? ml_kem768.keygen(bin(op.seed)) : ml_kem768.keygen();
            out.push({ pk: hex(k.publicKey), sk: hex(k.secretKey) });
        } else if (op.op === 'encaps') {
            const e = op.m ? ml_kem768.encapsulate(bin(op.pk), bin(op.m))
                           : ml_kem768.encapsulate(bin(op.pk));
            out.push({ ct: hex(e.cipherText), ss: hex(e.sharedSecret) });
        } else if (op.op === 'decaps') {
            out.push({ ss: hex(ml_kem768.decapsulate(bin(op.ct), bin(op.sk))) });
        } else {
            out.push({ error: 'unknown op ' + op.op });
        }
    } catch (err) {
        out.push({ error: String(err) });
    }
}
process.stdout.write(JSON.stringify(out));
"""


def need(cond, why):
    """Skip where something is missing, but fail under CI."""
    if not cond:
        if IN_CI:
            pytest.fail("required in CI: " + why)
        pytest.skip(why)


def mlkem_module(pkgdir):
    """The import specifier of the ML-KEM module, from the package's exports."""
    with open(os.path.join(pkgdir, "package.json")) as f:
        exports = json.load(f).get("exports") or {}
    for sub in ("./ml-kem.js", "./ml-kem"):
        if sub in exports:
            return "@noble/post-quantum/" + sub[2:]
    return None


@pytest.fixture(scope="module")
def noble(tmp_path_factory):
    node, npm = shutil.which("node"), shutil.which("npm")
    need(node and npm, "node and npm are needed for the noble cross-check")
    tmp = tmp_path_factory.mktemp("noble")
    try:
        p = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(tmp),
                            "@noble/post-quantum"], capture_output=True, timeout=600)
        ok, why = p.returncode == 0, p.stderr.decode(errors="replace")[-2000:]
    except subprocess.TimeoutExpired:
        ok, why = False, "timed out"
    need(ok, "npm install @noble/post-quantum failed: " + why)
    module = mlkem_module(os.path.join(str(tmp), "node_modules", "@noble", "post-quantum"))
    assert module, "@noble/post-quantum exports no ml-kem module"
    driver = tmp / "driver.mjs"   # beside node_modules, so the import resolves
    driver.write_text(NODE_DRIVER % {"module": module})

    def run(ops):
        p = subprocess.run([node, str(driver)], input=json.dumps(ops).encode(),
                           capture_output=True, timeout=300)
        assert p.returncode == 0, p.stderr.decode(errors="replace")
        res = json.loads(p.stdout)
        assert len(res) == len(ops)
        for op, r in zip(ops, res):
            assert "error" not in r, "noble %s: %s" % (op["op"], r["error"])
        return res
    return run


@pytest.fixture(scope="module")
def ours():
    exe = os.path.join(BUILD, "tests", "pq_tool")
    need(os.access(exe, os.X_OK), "%s is not built (make check builds it)" % exe)

    def run(*args):
        p = subprocess.run([exe] + list(args), capture_output=True, timeout=60)
        assert p.returncode == 0, "pq_tool %s: %s" % (args[0], p.stderr.decode(errors="replace"))
        return p.stdout.decode().split()
    return run


def rand(n):
    return secrets.token_hex(n)


def test_our_keys_noble_encapsulates(ours, noble):
    keys = [ours("mlkem-keygen") for _ in range(ROUNDS)]
    encs = noble([{"op": "encaps", "pk": pk} for pk, _ in keys])
    for (pk, sk), e in zip(keys, encs):
        assert ours("mlkem-decaps", sk, e["ct"]) == [e["ss"]]


def test_noble_keys_we_encapsulate(ours, noble):
    keys = noble([{"op": "keygen"} for _ in range(ROUNDS)])
    encs = [ours("mlkem-encaps", k["pk"]) for k in keys]
    decs = noble([{"op": "decaps", "sk": k["sk"], "ct": ct} for k, (ct, _) in zip(keys, encs)])
    for (ct, ss), d in zip(encs, decs):
        assert d["ss"] == ss


def test_our_full_exchange_decapsulates_on_noble(ours, noble):
    ops, want = [], []
    for _ in range(ROUNDS):
        pk, sk = ours("mlkem-keygen")
        ct, ss = ours("mlkem-encaps", pk)
        ops.append({"op": "decaps", "sk": sk, "ct": ct})
        want.append(ss)
    assert [d["ss"] for d in noble(ops)] == want


def test_noble_full_exchange_decapsulates_here(ours, noble):
    keys = noble([{"op": "keygen"} for _ in range(ROUNDS)])
    encs = noble([{"op": "encaps", "pk": k["pk"]} for k in keys])
    for k, e in zip(keys, encs):
        assert ours("mlkem-decaps", k["sk"], e["ct"]) == [e["ss"]]


def test_deterministic_keygen_and_encaps_agree(ours, noble):
    seeds = [rand(64) for _ in range(ROUNDS)]
    msgs = [rand(32) for _ in range(ROUNDS)]
    theirs = noble([{"op": "keygen", "seed": s} for s in seeds])
    mine = [ours("mlkem-keygen-seed", s) for s in seeds]
    assert [[k["pk"], k["sk"]] for k in theirs] == mine
    theirs = noble([{"op": "encaps", "pk": pk, "m": m} for (pk, _), m in zip(mine, msgs)])
    assert [[e["ct"], e["ss"]] for e in theirs] == \
        [ours("mlkem-encaps-derand", pk, m) for (pk, _), m in zip(mine, msgs)]


def test_implicit_rejection_keys_agree(ours, noble):
    """A modified ciphertext gives the same pseudo-random key on both sides."""
    ops, mine = [], []
    for i in range(ROUNDS):
        pk, sk = ours("mlkem-keygen")
        ct, ss = ours("mlkem-encaps", pk)
        ct = bytearray(bytes.fromhex(ct))
        ct[(i * 271) % len(ct)] ^= 1 << (i % 8)
        ct = ct.hex()
        (bad_ss,) = ours("mlkem-decaps", sk, ct)
        assert bad_ss != ss
        ops.append({"op": "decaps", "sk": sk, "ct": ct})
        mine.append(bad_ss)
    assert [d["ss"] for d in noble(ops)] == mine
