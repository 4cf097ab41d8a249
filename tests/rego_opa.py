"""Fetch (and cache) OPA at a pinned version for the Rego conformance and
differential tests. Nothing of OPA goes into the repository: its module
lives in ${XDG_CACHE_HOME:-~/.cache}/ctfs-ci."""
import json
import os
import shutil
import subprocess

OPA_VERSION = "v1.4.2"
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ctfs-ci")


def go_binary():
    for cand in (shutil.which("go"), "/usr/local/go/bin/go", "/usr/lib/go/bin/go"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def go_env():
    env = dict(os.environ)
    env["GOMODCACHE"] = os.path.join(CACHE, "gomod")
    env["GOPATH"] = os.path.join(CACHE, "gopath")
    env["GOCACHE"] = os.path.join(CACHE, "gobuild")
    env["GOFLAGS"] = "-modcacherw"
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def opa_module_dir():
    """The OPA module directory, downloading it once; None if impossible."""
    go = go_binary()
    if not go:
        return None
    try:
        out = subprocess.run([go, "mod", "download", "-json", "github.com/open-policy-agent/opa@" + OPA_VERSION],
                             cwd=CACHE if os.path.isdir(CACHE) else "/", env=go_env(),
                             capture_output=True, timeout=900, check=True).stdout
        return json.loads(out)["Dir"]
    except (subprocess.SubprocessError, OSError, ValueError, KeyError):
        return None


def opa_binary():
    """The opa binary built with go install at the pinned version; None if impossible."""
    go = go_binary()
    if not go:
        return None
    env = go_env()
    path = os.path.join(env["GOPATH"], "bin", "opa")
    if os.access(path, os.X_OK):
        return path
    try:
        os.makedirs(CACHE, exist_ok=True)
        subprocess.run([go, "install", "github.com/open-policy-agent/opa@" + OPA_VERSION], cwd=CACHE,
                       env=env, capture_output=True, timeout=1800, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    return path if os.access(path, os.X_OK) else None
