"""OPA's own conformance suite (v1/test/cases/testdata/v1/*/*.yaml, fetched
at test time with the Go toolchain) run through the C engine. Every case is
run; a case the engine refuses at parse time as outside its subset (unknown
builtin, `with` on functions, multi-part rule heads) counts as skipped.
Every case of every folder in SUBSET must pass (no failure, no skip);
failures elsewhere are reported, not fatal. Prints passed/failed/skipped
per folder and overall."""
import glob
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
from conftest import binary, need  # noqa: E402
import rego_opa  # noqa: E402

try:
    import yaml
except ImportError:  # python3-yaml: installed by contrib/install-deps.sh
    yaml = None

# Folders whose every case the engine must get right (the supported subset).
SUBSET = set("""
aggregates array assignments base64builtins base64urlbuiltins baseandvirtualdocs bitsand
bitsnegate bitsor bitsshiftleft bitsshiftright bitsxor casts comparisonexpr completedoc
compositebasedereference compositereferences comprehensions containskeyword
cryptohmacequal cryptohmacmd5 cryptohmacsha1 cryptohmacsha256 cryptohmacsha512 cryptomd5
cryptosha1 cryptosha256 dataderef disjunction elsekeyword embeddedvirtualdoc eqexpr
evaltermexpr every example fix1863 functions globmatch globquotemeta helloworld
hexbuiltins indexing indirectreferences intersection invalidkeyerror
jwtencodesignheadererrors jwtencodesignpayloaderrors negation nestedreferences
netcidrcontains netcidrintersects netcidrisvalid numbersrange numbersrangestep
objectfilter objectfilteridempotent objectfilternonstringkey objectget objectkeys
objectremove objectremoveidempotent objectremovenonstringkey objectunion objectunionn
partialdocconstants partialiter partialsetdoc regexfind regexisvalid regexmatch regexsplit
replacen semvercompare semverisvalid sets sprintf strings topdowndynamicdispatch trim
trimleft trimprefix trimright trimspace trimsuffix type typebuiltin typenamebuiltin undos
union varreferences virtualdocs
""".split())

# Messages of parse-time refusals of constructs outside the subset.
REFUSALS = ("unknown function", "not supported", "not a builtin of the supported subset")


def norm(v):
    """Numbers compare by value (1 == 1.0), as OPA compares them."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v) if v != int(v) else int(v)
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    return v


def canon(v):
    return json.dumps(norm(v), sort_keys=True)


def order_key(v):
    """OPA's harness sorts set-valued bindings as JSON values:
    null < booleans < numbers < strings < arrays < objects."""
    if v is None:
        return (0,)
    if isinstance(v, bool):
        return (1, v)
    if isinstance(v, (int, float)):
        return (2, v)
    if isinstance(v, str):
        return (3, v)
    if isinstance(v, list):
        return (4, [order_key(x) for x in v])
    return (5, sorted((k, order_key(x)) for k, x in v.items()))


def result_set(results, sort_bindings):
    """As OPA's harness: the solutions form a set; with sort_bindings each
    binding (an array) is sorted first."""
    out = set()
    for b in results:
        if sort_bindings:
            b = {k: sorted(v, key=order_key) if isinstance(v, list) else v for k, v in b.items()}
        out.add(canon(b))
    return out


def run_case(tool, case):
    doc = {"modules": case.get("modules") or [], "query": case["query"],
           "strict": bool(case.get("strict_error"))}
    if "data" in case:
        doc["data"] = case["data"] if case["data"] is not None else {}
    if "input" in case:
        doc["input"] = case["input"]
    if "input_term" in case:
        doc["input_term"] = case["input_term"]  # a Rego term: the driver evaluates it
    p = subprocess.run([tool], input=json.dumps(doc), capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        return "fail", "driver crashed: rc=%d %s" % (p.returncode, p.stderr[-300:])
    out = json.loads(p.stdout)
    want_error = "want_error" in case or "want_error_code" in case
    if "error" in out:
        if want_error:
            return "pass", ""
        if out["kind"] == "compile" and any(r in out["error"] for r in REFUSALS):
            return "skip", out["error"]
        return "fail", "error: " + out["error"]
    if want_error:
        return "fail", "wanted error %s, got %s" % (case.get("want_error_code"), out["results"])
    want = case.get("want_result")
    if want is None:
        return "fail", "no want_result"
    got = out["results"]
    if result_set(want, False) != result_set(got, case.get("sort_bindings")):
        return "fail", "want %s got %s" % (json.dumps(want)[:300], json.dumps(got)[:300])
    return "pass", ""


def test_opa_conformance():
    need(yaml, "python3-yaml is not installed")
    tool = binary("tests/rego_case")
    mod = rego_opa.opa_module_dir()
    need(mod, "cannot fetch github.com/open-policy-agent/opa@%s with go" % rego_opa.OPA_VERSION)
    files = sorted(glob.glob(os.path.join(mod, "v1/test/cases/testdata/v1/*/*.yaml")))
    need(files, "no conformance cases in " + mod)
    only = os.environ.get("REGO_CONFORMANCE_ONLY")
    stats, failures, jobs = {}, [], []
    for f in files:
        folder = os.path.basename(os.path.dirname(f))
        if only and folder not in only.split(","):
            continue
        stats.setdefault(folder, [0, 0, 0])
        with open(f) as fh:
            jobs += [(folder, case) for case in (yaml.safe_load(fh) or {}).get("cases") or []]
    # one process per case, as many at once as there are CPUs
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        verdicts = list(pool.map(lambda job: run_case(tool, job[1]), jobs))
    for (folder, case), (verdict, why) in zip(jobs, verdicts):
        stats[folder][{"pass": 0, "fail": 1, "skip": 2}[verdict]] += 1
        if verdict == "fail" or (verdict == "skip" and folder in SUBSET):
            failures.append("%s: %s: %s" % (folder, case.get("note"), why))
    tot = [sum(s[i] for s in stats.values()) for i in range(3)]
    print("\nfolder passed failed skipped")
    for folder, s in sorted(stats.items()):
        print("%s%s %d %d %d" % ("*" if folder in SUBSET else " ", folder, *s))
    sub = [sum(s[i] for f, s in stats.items() if f in SUBSET) for i in range(3)]
    print("overall: passed %d failed %d skipped %d" % tuple(tot))
    print("subset (%d folders, marked *): passed %d failed %d skipped %d" % (len(SUBSET), *sub))
    for line in failures[:400]:
        print("FAIL", line)
    inside = [x for x in failures if x.split(":")[0] in SUBSET]
    assert not inside, "%d cases of the declared subset fail" % len(inside)
