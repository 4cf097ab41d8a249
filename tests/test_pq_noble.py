"""Cross-checks our ML-KEM-768 and ML-DSA-65 (tests/pq_tool) against an
independent implementation, @noble/post-quantum from npm, on fresh random
inputs: keys, ciphertexts and signatures made on either side must work on the
other, tampered signatures must fail on both, and the deterministic entry
points must agree byte for byte.

Needs node and npm (and the npm registry); without them the tests skip,
except under CI (env CI set), where they fail."""

import json
import os
import shutil
import subprocess

import pytest

import ctfs_seed

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("CTFS_BUILDDIR", os.path.dirname(HERE))
IN_CI = bool(os.environ.get("CI"))
ROUNDS = 4

# Runs a JSON list of operations from stdin against one noble module (as
# alg) and prints the JSON list of results; one node process per batch keeps
# the tests fast. keygen is the same for both modules; %(handlers)s adds the
# rest, one "name: (op) => result" entry each.
NODE_DRIVER = r"""
import { readFileSync } from 'node:fs';
import { %(export)s as alg } from '%(module)s';
const hex = (b) => Buffer.from(b).toString('hex');
const bin = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
const handlers = {
    keygen: (op) => {
        const k = op.seed ? alg.keygen(bin(op.seed)) : alg.keygen();
        return { pk: hex(k.publicKey), sk: hex(k.secretKey) };
    },
%(handlers)s
};
const out = [];
for (const op of JSON.parse(readFileSync(0, 'utf8'))) {
    try {
        out.push(Object.hasOwn(handlers, op.op) ? handlers[op.op](op)
                                               : { error: 'unknown op ' + op.op });
    } catch (err) {
        out.push({ error: String(err) });
    }
}
process.stdout.write(JSON.stringify(out));
"""

KEM_HANDLERS = r"""
    encaps: (op) => {
        const e = op.m ? alg.encapsulate(bin(op.pk), bin(op.m)) : alg.encapsulate(bin(op.pk));
        return { ct: hex(e.cipherText), ss: hex(e.sharedSecret) };
    },
    decaps: (op) => ({ ss: hex(alg.decapsulate(bin(op.ct), bin(op.sk))) }),
"""

# ML-DSA-65, pure mode with the empty context. verify answers false rather
# than an error when noble throws on a malformed signature.
DSA_HANDLERS = r"""
    sign: (op) => {
        const opts = op.det ? { extraEntropy: false } : {};
        return { sig: hex(alg.sign(bin(op.msg), bin(op.sk), opts)) };
    },
    verify: (op) => {
        try {
            return { ok: alg.verify(bin(op.sig), bin(op.msg), bin(op.pk)) };
        } catch (err) {
            return { ok: false };
        }
    },
"""


def need(cond, why):
    """Skip where something is missing, but fail under CI."""
    if not cond:
        if IN_CI:
            pytest.fail("required in CI: " + why)
        pytest.skip(why)


def noble_module(pkgdir, name):
    """The import specifier of module name (e.g. ml-kem), from the package's
    exports."""
    with open(os.path.join(pkgdir, "package.json")) as f:
        exports = json.load(f).get("exports") or {}
    for sub in ("./%s.js" % name, "./" + name):
        if sub in exports:
            return "@noble/post-quantum/" + sub[2:]
    return None


@pytest.fixture(scope="module")
def noble_pkg(tmp_path_factory):
    """node and a directory with @noble/post-quantum installed, once per module."""
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
    return node, tmp


def noble_runner(noble_pkg, name, export, handlers):
    """A function running a list of ops in one node process, through
    NODE_DRIVER with handlers for export of noble's module name."""
    node, tmp = noble_pkg
    module = noble_module(os.path.join(str(tmp), "node_modules", "@noble", "post-quantum"), name)
    assert module, "@noble/post-quantum exports no %s module" % name
    driver = tmp / ("driver-%s.mjs" % name)   # beside node_modules, so the import resolves
    driver.write_text(NODE_DRIVER % {"module": module, "export": export, "handlers": handlers})

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
def noble(noble_pkg):
    return noble_runner(noble_pkg, "ml-kem", "ml_kem768", KEM_HANDLERS)


@pytest.fixture(scope="module")
def noble_dsa(noble_pkg):
    return noble_runner(noble_pkg, "ml-dsa", "ml_dsa65", DSA_HANDLERS)


@pytest.fixture(scope="module")
def pq_tool():
    exe = os.path.join(BUILD, "tests", "pq_tool")
    need(os.access(exe, os.X_OK), "%s is not built (make check builds it)" % exe)
    return exe


@pytest.fixture(scope="module")
def ours(pq_tool):
    def run(*args):
        p = subprocess.run([pq_tool] + list(args), capture_output=True, timeout=60)
        assert p.returncode == 0, "pq_tool %s: %s" % (args[0], p.stderr.decode(errors="replace"))
        return p.stdout.decode().split()
    return run


@pytest.fixture(scope="module")
def our_verify(pq_tool):
    """pq_tool mldsa-verify: True for exit 0, False for exit 1 (rejected)."""
    def run(pk, msg, sig):
        p = subprocess.run([pq_tool, "mldsa-verify", pk, msg, sig], capture_output=True,
                           timeout=60)
        assert p.returncode in (0, 1), "pq_tool mldsa-verify: exit %d: %s" % (
            p.returncode, p.stderr.decode(errors="replace"))
        return p.returncode == 0
    return run


def rand(n):
    return ctfs_seed.randbytes(n).hex()


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


# --- ML-DSA-65 ---------------------------------------------------------------

def tampered(sig_hex, i):
    """The signature with one bit flipped: in c~, in z or in the hint bytes."""
    sig = bytearray(bytes.fromhex(sig_hex))
    pos = (0, 48 + 97 * (i + 1), len(sig) - 1 - i)[i % 3]
    sig[pos] ^= 1 << (i % 8)
    return sig.hex()


def test_mldsa_our_signatures_verify_on_noble(ours, noble_dsa):
    keys = [ours("mldsa-keygen") for _ in range(ROUNDS)]
    msgs = [rand(i * 37) for i in range(ROUNDS)]   # includes the empty message
    sigs = [ours("mldsa-sign", sk, m)[0] for (_, sk), m in zip(keys, msgs)]
    ops = []
    for (pk, _), m, sig in zip(keys, msgs, sigs):
        ops.append({"op": "verify", "pk": pk, "msg": m, "sig": sig})
    for i, ((pk, _), m, sig) in enumerate(zip(keys, msgs, sigs)):
        ops.append({"op": "verify", "pk": pk, "msg": m, "sig": tampered(sig, i)})
        ops.append({"op": "verify", "pk": pk, "msg": m + "00", "sig": sig})
    res = [r["ok"] for r in noble_dsa(ops)]
    assert res[:ROUNDS] == [True] * ROUNDS
    assert res[ROUNDS:] == [False] * (2 * ROUNDS)


def test_mldsa_noble_signatures_verify_here(noble_dsa, our_verify):
    keys = noble_dsa([{"op": "keygen"} for _ in range(ROUNDS)])
    msgs = [rand(i * 37) for i in range(ROUNDS)]
    sigs = noble_dsa([{"op": "sign", "sk": k["sk"], "msg": m} for k, m in zip(keys, msgs)])
    for i, (k, m, s) in enumerate(zip(keys, msgs, sigs)):
        assert our_verify(k["pk"], m, s["sig"])
        assert not our_verify(k["pk"], m, tampered(s["sig"], i))
        assert not our_verify(k["pk"], m + "00", s["sig"])


def test_mldsa_keys_work_across(ours, noble_dsa, our_verify):
    """Each side signs with a secret key the other side generated."""
    mine = [ours("mldsa-keygen") for _ in range(ROUNDS)]
    theirs = noble_dsa([{"op": "keygen"} for _ in range(ROUNDS)])
    msg = rand(64)
    sigs = noble_dsa([{"op": "sign", "sk": sk, "msg": msg} for _, sk in mine])
    for (pk, _), s in zip(mine, sigs):
        assert our_verify(pk, msg, s["sig"])
    ops = [{"op": "verify", "pk": k["pk"], "msg": msg, "sig": ours("mldsa-sign", k["sk"], msg)[0]}
           for k in theirs]
    assert [r["ok"] for r in noble_dsa(ops)] == [True] * ROUNDS


def test_mldsa_deterministic_keygen_and_sign_agree(ours, noble_dsa):
    seeds = [rand(32) for _ in range(ROUNDS)]
    msgs = [rand(i * 53) for i in range(ROUNDS)]
    theirs = noble_dsa([{"op": "keygen", "seed": s} for s in seeds])
    mine = [ours("mldsa-keygen-seed", s) for s in seeds]
    assert [[k["pk"], k["sk"]] for k in theirs] == mine
    theirs = noble_dsa([{"op": "sign", "sk": sk, "msg": m, "det": True}
                        for (_, sk), m in zip(mine, msgs)])
    assert [s["sig"] for s in theirs] == \
        [ours("mldsa-sign-det", sk, m)[0] for (_, sk), m in zip(mine, msgs)]
