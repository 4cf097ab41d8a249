"""Fetch (and cache) OPA at a pinned version for the Rego conformance and
differential tests. Nothing of OPA goes into the repository: its module
lives in ${XDG_CACHE_HOME:-~/.cache}/ctfs-ci."""
import json
import os
import shutil
import subprocess

OPA_VERSION = "v1.4.2"
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ctfs-ci")


# OPA's go.mod asks for Go 1.23; a Go of 1.21 or later fetches that toolchain
# by itself (GOTOOLCHAIN=auto). An older one (Debian 12 ships 1.19) installs
# this release's downloader, which fetches the toolchain into the cache.
NEW_GO = "go1.24.2"


def go_version(go):
    try:
        out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60).stdout
        parts = out.strip().lstrip("go").split(".")
        return int(parts[0]), int(parts[1])
    except (subprocess.SubprocessError, OSError, ValueError, IndexError):
        return None


def go_binary():
    for cand in ("/usr/local/go/bin/go", shutil.which("go"), "/usr/lib/go/bin/go"):
        if cand and os.access(cand, os.X_OK):
            ver = go_version(cand)
            if ver and ver >= (1, 21):
                return cand
            if ver:
                return newer_go(cand)
    return None


def newer_go(old):
    """A recent Go through golang.org/dl, kept in the cache directory."""
    env = go_env()
    env["HOME"] = CACHE  # golang.org/dl unpacks into $HOME/sdk
    dl = os.path.join(env["GOPATH"], "bin", NEW_GO)
    try:
        os.makedirs(CACHE, exist_ok=True)
        if not os.access(dl, os.X_OK):
            subprocess.run([old, "install", "golang.org/dl/%s@latest" % NEW_GO], cwd=CACHE, env=env,
                           capture_output=True, timeout=900, check=True)
        subprocess.run([dl, "download"], cwd=CACHE, env=env, capture_output=True, timeout=900)
        path = os.path.join(CACHE, "sdk", NEW_GO, "bin", "go")
        return path if os.access(path, os.X_OK) else None
    except (subprocess.SubprocessError, OSError):
        return None


def go_env():
    env = dict(os.environ)
    env["GOMODCACHE"] = os.path.join(CACHE, "gomod")
    env["GOPATH"] = os.path.join(CACHE, "gopath")
    env["GOCACHE"] = os.path.join(CACHE, "gobuild")
    env["GOFLAGS"] = "-modcacherw"
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
