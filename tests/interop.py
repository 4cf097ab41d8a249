"""Shared by the interop tests: the upstream interpreter and its helper
(tests/interop_upstream.py), key sets, and the tensor sets both sides use.

The interop virtual environment is made by contrib/interop-venv.sh;
$CTFS_INTEROP_PY names its python. In CI a missing environment fails the
tests; elsewhere they skip and say how to make one."""

import json
import os
import queue
import subprocess
import threading

import pytest

import ctfs_seed
from conftest import HERE, IN_CI, need

HELPER = os.path.join(HERE, "interop_upstream.py")
ALGS = ["aes128gcm", "aes256gcm", "chacha20poly1305"]
ODD_CHUNK = 4099        # small and odd: tensors span many chunks, none aligned
POLICY_ALLOW = "package model\nallow = true"

# Tensors every writer and loader handles: sizes that cross the default 2 MiB
# chunk and the odd one, a scalar, empty tensors, a name that needs escaping
# and is not ASCII.
COMMON = [
    ["big", "F32", [700, 1000]],
    ["odd", "U8", [12345]],
    ["one", "I8", [1]],
    ["scalar", "F64", []],
    ["f16", "F16", [33, 3]],
    ["i64", "I64", [2, 3]],
    ["i32", "I32", [1025]],
    ["i16", "I16", [7]],
    ["mask", "BOOL", [9]],
    ["empty", "F32", [0]],
    ["empty2", "I8", [4, 0]],
    ["layer.0/\u6743\u91cd \"q\" \\ \u00e9", "F32", [3, 5]],
]
# numpy has no bfloat16; Debian's torch 1.13 has no uint16/32/64
NUMPY_ONLY = [["u16", "U16", [3, 7]], ["u32", "U32", [5]], ["u64", "U64", [2, 2]]]
TORCH_ONLY = [["bf16", "BF16", [64, 33]]]
SPEC = {"numpy": COMMON + NUMPY_ONLY, "torch": COMMON + TORCH_ONLY}
LOADERS = {"numpy": "safetensors-numpy", "torch": "safetensors-torch"}
# upstream 0.2.3's message when it fails to give torch an encrypted empty tensor
UPSTREAM_EMPTY_TORCH = "both buffer length (0) and count (-1) must not be 0"
METADATA = {"format": "pt", "note": "line\n\"quoted\" \u6a21\u578b", "empty": ""}


def interop_python():
    py = os.environ.get("CTFS_INTEROP_PY", "")
    need(py and os.access(py, os.X_OK),
         "no interop environment: run 'sh contrib/interop-venv.sh build/venv' and set "
         "CTFS_INTEROP_PY=build/venv/bin/python (.ci/run does both)")
    return py


class Upstream:
    """The upstream side: one long-lived helper process (--serve) for most
    requests, a fresh one when a request must not share a process."""

    def __init__(self, py, logdir):
        self.py = py
        self.errlog = open(os.path.join(logdir, "interop_upstream.err"), "w+")
        self.proc = None
        self.answers = queue.Queue()

    def _server(self):
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([self.py, HELPER, "--serve"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self.errlog,
                                         text=True, bufsize=1)
            threading.Thread(target=self._reader, args=(self.proc,), daemon=True).start()
        return self.proc

    def _reader(self, proc):
        for line in proc.stdout:
            self.answers.put(line)
        self.answers.put(None)

    def _stderr(self):
        self.errlog.flush()
        self.errlog.seek(0)
        return self.errlog.read()[-3000:]

    def run(self, *jobs, timeout=600, fresh=False):
        request = json.dumps({"jobs": list(jobs)})
        if fresh:
            p = subprocess.run([self.py, HELPER], input=request.encode(),
                               capture_output=True, timeout=timeout)
            if p.returncode != 0:
                raise AssertionError("upstream helper failed (%d): %s" % (
                    p.returncode, p.stderr.decode(errors="replace")[-3000:]))
            return json.loads(p.stdout)["results"]
        proc = self._server()
        proc.stdin.write(request + "\n")
        proc.stdin.flush()
        try:
            line = self.answers.get(timeout=timeout)
        except queue.Empty:
            proc.kill()
            raise AssertionError("upstream helper: no answer in %d s" % timeout)
        if line is None:
            raise AssertionError("upstream helper died (%s): %s" % (proc.wait(), self._stderr()))
        return json.loads(line)["results"]

    def ok(self, *jobs, fresh=False):
        """Run jobs that must succeed."""
        res = self.run(*jobs, fresh=fresh)
        for job, r in zip(jobs, res):
            assert "error" not in r, "upstream %s %s: %s: %s\n%s" % (
                job["op"], job.get("path", ""), r["error"], r["message"], r.get("trace", ""))
        return res

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.errlog.close()


@pytest.fixture(scope="session")
def upstream(tmp_path_factory):
    u = Upstream(interop_python(), str(tmp_path_factory.mktemp("upstream")))
    try:
        (v,) = u.run({"op": "versions"})
        need("error" not in v, "the interop environment lacks cryptotensors/safetensors: %s" % v)
        print("\nupstream: %s" % json.dumps(v, sort_keys=True))
        yield u
    finally:
        u.close()


def load_jwks(path):
    with open(path) as f:
        return json.load(f)["keys"]


def dtypes_of(spec):
    return {name: dtype for name, dtype, _ in spec}


def expected_seed(request, label):
    """The seed of a test's data, drawn from the run's seed (CTFS_SEED,
    tests/ctfs_seed.py) so that a failure replays; printed."""
    seed = ctfs_seed.rng("interop:%s:%s" % (request.node.name, label)).randrange(2**32)
    print("data seed %d for %s (run seed %d: CTFS_SEED=%d replays it)" % (
        seed, request.node.name, ctfs_seed.SEED, ctfs_seed.SEED))
    return seed


__all__ = ["IN_CI"]
