"""Operations of a mount (issue 15): Prometheus metrics over HTTP, checked by
a strict parser of the text format and scraped by a real Prometheus; the
status socket and `ctfs-tool status`; usage accounting; key revocation seen
in metrics and status; the systemd units checked by systemd-analyze."""

import errno
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from conftest import REPO, VECTORS, need

MODEL = "v2-aes256-partial.cryptotensors"
VIEW = "v2-aes256-partial.safetensors"
KID = "enc-1-a"
VECTORS_CT = os.path.join(VECTORS, "cryptotensors")


@pytest.fixture
def source(tmp_path, vectors):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(os.path.join(vectors, "cryptotensors", VIEW), src / MODEL)
    (src / "config.json").write_text('{"model_type": "test"}\n')
    return src


@pytest.fixture
def keys(tool, keyring, vectors):
    tool("key", "add", "--keyring", keyring,
         os.path.join(vectors, "cryptotensors", "keys-aes256.json"))
    return keyring


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def read_all(path):
    with open(path, "rb") as f:
        return f.read()


# --- a strict parser of the Prometheus text format (0.0.4) -------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r"(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)"
LABEL_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s=%s)(?:,%s=%s)*)?,?\})? (%s)(?: -?\d+)?$" % (
    NAME, LABEL, LABEL_VALUE, LABEL, LABEL_VALUE, VALUE))
PAIR = re.compile(r'(%s)=(%s)' % (LABEL, LABEL_VALUE))


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v[1:-1])


def parse_exposition(text):
    """{family: {"type":, "help":, "samples": [(name, labels, value)]}};
    raises AssertionError on anything the format does not allow."""
    assert text.endswith("\n"), "the exposition ends with a newline"
    fams, order, current = {}, [], None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (n, line)
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, name, rest = line[2:6], *line[7:].split(" ", 1)
            assert re.fullmatch(NAME, name), where
            f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
            key = "help" if kind == "HELP" else "type"
            assert f[key] is None, "second %s for %s, %s" % (kind, name, where)
            assert not f["samples"], "%s after samples, %s" % (kind, where)
            if kind == "TYPE":
                assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), where
            f[key] = rest
            if name not in order:
                order.append(name)
            current = name
            continue
        assert not line.startswith("#") and line.strip() == line and line, where
        m = SAMPLE.match(line)
        assert m, "not a sample: " + where
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and fams.get(name[:-len(suffix)], {}).get("type") == "histogram":
                family = name[:-len(suffix)]
        assert family == current, "sample of %s outside its family block, %s" % (family, where)
        pairs = PAIR.findall(labels)
        names = [p[0] for p in pairs]
        assert len(names) == len(set(names)), "repeated label, " + where
        fams[family]["samples"].append((name, {k: unescape(v) for k, v in pairs}, float(value)))
    for name, f in fams.items():
        assert f["type"], "no TYPE for " + name
        keys = [(s[0], tuple(sorted(s[1].items()))) for s in f["samples"]]
        assert len(keys) == len(set(keys)), "duplicate series in " + name
        if f["type"] == "counter":
            assert name.endswith("_total"), "counter %s does not end in _total" % name
            assert all(s[2] >= 0 for s in f["samples"]), name
        if f["type"] == "histogram":
            check_histogram(name, f["samples"])
    return fams


def check_histogram(name, samples):
    buckets = [(s[1]["le"], s[2]) for s in samples if s[0] == name + "_bucket"]
    count = [s[2] for s in samples if s[0] == name + "_count"]
    assert buckets and buckets[-1][0] == "+Inf" and len(count) == 1, name
    bounds = [float(b[0]) for b in buckets]
    assert bounds == sorted(bounds), "bucket bounds of %s not increasing" % name
    values = [b[1] for b in buckets]
    assert values == sorted(values), "buckets of %s not cumulative" % name
    assert values[-1] == count[0], "+Inf bucket of %s is not its count" % name
    assert name.endswith("_seconds"), name


def value(fams, name, **labels):
    fam = fams.get(name) or fams.get(re.sub(r"_(count|sum|bucket)$", "", name))
    assert fam, "no family " + name
    for s in fam["samples"]:
        if s[0] == name and all(s[1].get(k) == v for k, v in labels.items()):
            return s[2]
    raise AssertionError("no sample %s%s" % (name, labels))


def test_parser_rejects_malformed():
    good = "# HELP a_total x\n# TYPE a_total counter\na_total{f=\"q\\\"\"} 1\n"
    parse_exposition(good)
    for bad in (good.replace("\\\"", "\""), good + "a_total{f=\"q\\\"\"} 2\n",
                good.replace("counter", "countr"), good[:-1],
                good + "# TYPE b gauge\nb 1\na_total{f=\"z\"} 1\n"):
        with pytest.raises(AssertionError):
            parse_exposition(bad)


# --- the mount ----------------------------------------------------------------

def mount_with_metrics(mount, source, keyring, *opts):
    port = free_port()
    m = mount(source, keyring, opts=["metrics=127.0.0.1:%d" % port] + list(opts))
    m.url = "http://127.0.0.1:%d/metrics" % port
    return m


def scrape(m):
    status, ctype, text = get(m.url)
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    return parse_exposition(text)


def test_metrics_count_opens_reads_and_chunks(source, keys, mount):
    m = mount_with_metrics(mount, source, keys)
    data = read_all(m.file(VIEW))
    read_all(m.file("config.json"))
    with pytest.raises(OSError):
        open(m.file("nothing.safetensors"), "rb")
    fams = scrape(m)
    assert value(fams, "ctfs_opens_total", kind="model") == 1
    assert value(fams, "ctfs_opens_total", kind="plain") == 1
    assert value(fams, "ctfs_file_read_bytes_total", file=VIEW) == len(data)
    assert value(fams, "ctfs_file_opens_total", file=VIEW) == 1
    assert value(fams, "ctfs_read_bytes_total") >= len(data)
    assert value(fams, "ctfs_chunks_served_total") > 0
    assert value(fams, "ctfs_chunks_decrypted_total") > 0
    assert value(fams, "ctfs_file_chunks_served_total", file=VIEW) > 0
    assert value(fams, "ctfs_key_present", kid=KID) == 1
    assert value(fams, "ctfs_key_lookups_total", result="found") >= 1
    assert value(fams, "ctfs_policy_decisions_total", decision="allow") == 1
    assert value(fams, "ctfs_decrypt_duration_seconds_count") > 0
    assert value(fams, "ctfs_read_duration_seconds_count") > 0
    assert value(fams, "ctfs_open_handles") == 0
    assert value(fams, "ctfs_resident_memory_bytes") > 1 << 20
    assert value(fams, "ctfs_cache_budget_bytes") == 64 << 20
    assert value(fams, "ctfs_mount_info", mountpoint=m.path) == 1
    # only GET /metrics over TCP: no status there, no other paths
    for path, code in (("/status", 403), ("/", 404)):
        with pytest.raises(urllib.error.HTTPError) as e:
            get(m.url.replace("/metrics", path))
        assert e.value.code == code


def test_tag_failures_and_read_errors(tmp_path, source, keys, tool, mount):
    # a tampered chunk: the file opens, the read of that chunk fails
    import st_load
    hdr, start = st_load.header(str(source / MODEL))
    b, _ = hdr["w"]["data_offsets"]          # an encrypted tensor in 64 KiB chunks
    data = bytearray((source / MODEL).read_bytes())
    data[start + b + 3 * 65536 + 10] ^= 1
    (source / "bad.cryptotensors").write_bytes(bytes(data))
    m = mount_with_metrics(mount, source, keys)
    with open(m.file("bad.safetensors"), "rb") as f:
        with pytest.raises(OSError):
            f.read()
    fams = scrape(m)
    assert value(fams, "ctfs_tag_failures_total") >= 1
    assert value(fams, "ctfs_read_errors_total") >= 1
    assert value(fams, "ctfs_opens_total", kind="model") == 1


def test_key_revocation_shows_in_metrics_and_status(source, keys, tool, mount):
    m = mount_with_metrics(mount, source, keys)
    path = m.file(VIEW)
    whole = read_all(path)
    with open(path, "rb") as held:
        tool("key", "remove", "--keyring", keys, KID)
        # seen at the next scrape, before any open fails
        fams = scrape(m)
        assert value(fams, "ctfs_key_present", kid=KID) == 0
        assert value(fams, "ctfs_keys_disappeared_total") == 1
        assert abs(value(fams, "ctfs_key_state_change_timestamp_seconds", kid=KID) -
                   time.time()) < 60
        st = json.loads(tool("status", m.path, "--json").stdout)
        k = [k for k in st["keys"] if k["kid"] == KID][0]
        assert k["state"] == "absent" and k["last_error"]
        assert st["open_handles"] == 1
        with pytest.raises(OSError) as e:
            open(path, "rb")
        assert e.value.errno == errno.ENOKEY
        assert held.read() == whole
    fams = scrape(m)
    assert value(fams, "ctfs_opens_denied_total", kind="model", reason="no_key") == 1
    assert value(fams, "ctfs_file_opens_denied_total", file=VIEW) == 1
    assert value(fams, "ctfs_key_lookups_total", result="absent") >= 1
    assert "no longer usable" in m.log()
    # the key comes back: present again, opens work
    tool("key", "add", "--keyring", keys, os.path.join(VECTORS_CT, "keys-aes256.json"))
    assert read_all(path) == whole
    assert value(scrape(m), "ctfs_key_present", kid=KID) == 1


def test_status_tool(source, keys, tool, mount):
    m = mount(source, keys)
    with open(m.file(VIEW), "rb") as f:
        f.read(1000)
        p = tool("status", m.path)
        out = p.stdout.decode()
        assert "mount:    " + m.path in out and str(source) in out
        assert VIEW + ": 1 open" in out and KID + ": present" in out
        st = json.loads(tool("status", m.path, "--json").stdout)
    assert st["mount"]["mountpoint"] == m.path
    assert st["mount"]["source"] == str(source)
    assert st["mount"]["pid"] == m.proc.pid
    assert [f["file"] for f in st["files"]] == [VIEW]
    assert st["files"][0]["read_bytes"] >= 1000 and st["open_handles"] == 1
    assert st["cache"]["budget_bytes"] == 64 << 20
    assert st["counters"]["ctfs_opens_total{kind=\"model\"}"] == 1
    # not a ctfs mount: a clear error, exit 1
    p = tool("status", str(source), check=False)
    assert p.returncode == 1 and b"no ctfs daemon answers" in p.stderr


def test_status_socket_is_private_and_removed(source, keys, tool, mount):
    before = set(os.listdir("/run/ctfs")) if os.path.isdir("/run/ctfs") else set()
    m = mount(source, keys)
    assert json.loads(tool("status", m.path, "--json").stdout)["mount"]["pid"] == m.proc.pid
    assert os.stat("/run/ctfs").st_mode & 0o777 == 0o700
    new = set(os.listdir("/run/ctfs")) - before
    assert len(new) == 1
    sock = os.path.join("/run/ctfs", new.pop())
    assert os.stat(sock).st_mode & 0o077 == 0, "only the daemon's user may connect"
    subprocess.run(["fusermount3", "-u", m.path], check=True)
    m.proc.wait(timeout=10)
    assert not os.path.exists(sock), "the socket is removed at unmount"


def test_policy_refusal_counted(tmp_path, source, keys, mount):
    site = tmp_path / "site.rego"
    site.write_text("package model\nimport rego.v1\ndefault allow := false\n")
    m = mount_with_metrics(mount, source, keys, "policy=%s" % site)
    with pytest.raises(OSError) as e:
        open(m.file(VIEW), "rb")
    assert e.value.errno == errno.EACCES
    fams = scrape(m)
    assert value(fams, "ctfs_policy_decisions_total", decision="deny") == 1
    assert value(fams, "ctfs_opens_denied_total", kind="model", reason="policy") == 1
    assert value(fams, "ctfs_policy_evaluation_duration_seconds_count") == 1
    assert value(fams, "ctfs_file_opens_denied_total", file=VIEW) == 1


def test_refused_tgsp_package_is_counted(source, keys, mount):
    (source / "pkg.tgsp").write_bytes(b"TGSP" + os.urandom(4000))
    m = mount_with_metrics(mount, source, keys)
    assert os.path.isdir(m.file("pkg"))
    with pytest.raises(OSError):
        os.stat(m.file("pkg/model.safetensors"))
    fams = scrape(m)
    assert value(fams, "ctfs_tgsp_packages_total", result="refused") >= 1
    assert value(fams, "ctfs_tgsp_packages_total", result="opened") == 0


def test_metrics_files_cap_folds_into_other(tmp_path, vectors, keys, mount):
    src = tmp_path / "many"
    src.mkdir()
    for i in range(4):
        shutil.copy(os.path.join(vectors, "cryptotensors", VIEW), src / ("m%d\"x.cryptotensors" % i))
    m = mount_with_metrics(mount, src, keys, "metrics_files=2")
    for i in range(4):
        read_all(m.file("m%d\"x.safetensors" % i))
    fams = scrape(m)
    files = {s[1]["file"] for s in fams["ctfs_file_opens_total"]["samples"]}
    assert files == {'m0"x.safetensors', 'm1"x.safetensors', "other"} or len(files) == 3
    assert "other" in files
    assert value(fams, "ctfs_file_opens_total", file="other") == 2


def test_busy_metrics_port_fails_the_mount(source, keys, mount):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        m = mount(source, keys, opts=["metrics=127.0.0.1:%d" % port], expect_ok=False)
        m.proc.wait(timeout=10)
        assert m.proc.returncode != 0
        assert "cannot serve metrics" in m.log()


def read_usage(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_usage_records(tmp_path, source, keys, mount):
    usage = tmp_path / "usage.jsonl"
    m = mount(source, keys, opts=["usage=%s" % usage, "usage_interval=1"])
    data = read_all(m.file(VIEW))
    read_all(m.file("config.json"))   # plain files are not accounted
    end = time.monotonic() + 10
    while time.monotonic() < end and not (usage.exists() and usage.stat().st_size):
        time.sleep(0.1)
    periodic = read_usage(usage)
    assert periodic and not any(r["final"] for r in periodic), "a periodic record"
    read_all(m.file(VIEW))
    subprocess.run(["fusermount3", "-u", m.path], check=True)
    m.proc.wait(timeout=10)
    recs = read_usage(usage)
    assert recs[-1]["final"] is True
    assert {r["file"] for r in recs} == {VIEW}
    # the second read may come from the page cache, not from the daemon
    assert len(data) <= sum(r["bytes"] for r in recs) <= 2 * len(data)
    assert sum(r["opens"] for r in recs) == 2
    exe = os.path.realpath(sys.executable)
    assert all(r["uid"] == os.getuid() and r["exe"] == exe for r in recs)
    assert all(r["mountpoint"] == m.path and r["source"] == str(source) for r in recs)


# --- a real Prometheus --------------------------------------------------------

def prom_query(port, q):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(q))
    _, _, body = get(url)
    r = json.loads(body)
    assert r["status"] == "success"
    return r["data"]["result"]


def test_real_prometheus_scrapes_the_mount(tmp_path, source, keys, mount):
    exe = shutil.which("prometheus")
    need(exe is not None, "prometheus (Debian package prometheus) missing")
    m = mount_with_metrics(mount, source, keys)
    data = read_all(m.file(VIEW))
    target = m.url.split("/")[2]
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n"
                   "  - job_name: ctfs\n    static_configs:\n      - targets: ['%s']\n" % target)
    port = free_port()
    log = open(tmp_path / "prometheus.log", "w")
    prom = subprocess.Popen([exe, "--config.file=%s" % cfg, "--storage.tsdb.path=%s" %
                             (tmp_path / "tsdb"), "--web.listen-address=127.0.0.1:%d" % port],
                            stdout=log, stderr=log)
    try:
        end, got, up, last = time.monotonic() + 90, [], [], None
        while time.monotonic() < end and prom.poll() is None:
            try:
                up = prom_query(port, 'up{job="ctfs"}')
                got = prom_query(port, 'ctfs_file_read_bytes_total{file="%s"}' % VIEW)
            except (OSError, ValueError) as e:
                last = e
            if got:
                break
            time.sleep(0.5)
        if not got:
            targets = ""
            try:
                targets = get("http://127.0.0.1:%d/api/v1/targets" % port)[2]
            except OSError as e:
                targets = repr(e)
            log.flush()
            pytest.fail("no sample from Prometheus: exit %s, last error %r, up %r, targets %s, "
                        "log %s" % (prom.poll(), last, up, targets,
                                    open(tmp_path / "prometheus.log").read()[-3000:]))
        assert up and up[0]["value"][1] == "1"
        assert float(got[0]["value"][1]) == len(data)
        q = prom_query(port, "histogram_quantile(0.5, ctfs_decrypt_duration_seconds_bucket)")
        assert q and not math.isnan(float(q[0]["value"][1]))
        opens = prom_query(port, 'ctfs_opens_total{kind="model"}')
        assert float(opens[0]["value"][1]) == 1
    finally:
        prom.terminate()
        try:
            prom.wait(timeout=20)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
        log.close()


# --- systemd units ------------------------------------------------------------

UNITS = os.path.join(REPO, "contrib", "systemd")


def unit_files():
    return [os.path.join(UNITS, f) for f in sorted(os.listdir(UNITS))
            if f.endswith((".service", ".mount"))]


def test_systemd_units_verify(tmp_path):
    exe = shutil.which("systemd-analyze")
    need(exe is not None, "systemd-analyze (package systemd) missing")
    # the units run /usr/local/bin/ctfs and ctfs-tool (make install), and
    # verify checks that what ExecStart names is there
    need(os.access("/usr/local/bin/ctfs", os.X_OK) and
         os.access("/usr/local/bin/ctfs-tool", os.X_OK),
         "ctfs installed in /usr/local/bin (make install)")
    args = []
    for f in unit_files():
        if "@." in os.path.basename(f):   # a template is verified as an instance
            inst = tmp_path / os.path.basename(f).replace("@.", "@mnt-llama.")
            shutil.copy(f, inst)
            args.append(str(inst))
        else:
            args.append(f)
    assert len(args) == 4   # ctfs@, ctfs-keys@, ctfs-keyd, the mount unit
    p = subprocess.run([exe, "verify", "--man=no"] + args, capture_output=True, text=True,
                       env=dict(os.environ, SYSTEMD_LOG_LEVEL="notice"))
    assert p.returncode == 0 and not p.stderr.strip(), p.stdout + p.stderr


def test_systemd_units_start_for_real(tmp_path, source, keys, tool):
    """Only where systemd is PID 1: CI containers run another init, so this
    is skipped there (documented in contrib/systemd/README.md)."""
    if not os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd is not PID 1 here: units are only verified")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    inst = subprocess.run(["systemd-escape", "--path", str(mnt)], capture_output=True,
                          text=True, check=True).stdout.strip()
    os.makedirs("/etc/ctfs", exist_ok=True)
    conf = "/etc/ctfs/%s.conf" % inst
    unit = "/run/systemd/system/ctfs@.service"
    with open(conf, "w") as f:
        f.write("CTFS_SOURCE=%s\nCTFS_OPTIONS=keyring=%s\n" % (source, keys))
    shutil.copy(os.path.join(UNITS, "ctfs@.service"), unit)
    try:
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        subprocess.run(["systemctl", "start", "ctfs@%s.service" % inst], check=True)
        end = time.monotonic() + 10
        while not os.path.ismount(mnt) and time.monotonic() < end:
            time.sleep(0.1)
        assert os.path.ismount(mnt)
        st = json.loads(tool("status", str(mnt), "--json").stdout)
        assert st["mount"]["source"] == str(source)
    finally:
        subprocess.run(["systemctl", "stop", "ctfs@%s.service" % inst])
        os.unlink(unit)
        os.unlink(conf)
        subprocess.run(["systemctl", "daemon-reload"])
    assert not os.path.ismount(mnt)
