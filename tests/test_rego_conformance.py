"""OPA's own conformance suite (v1/test/cases/testdata/v1/*/*.yaml, fetched
at test time with the Go toolchain) run through the C engine. Every case of
every folder in SUBSET must pass; other folders (and cases the engine
refuses at parse time as outside its subset) count as skipped. Prints
passed/failed/skipped per folder and overall."""
import glob
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import binary, need  # noqa: E402
import rego_opa  # noqa: E402

yaml = pytest.importorskip("yaml")

# Folders whose every case the engine must get right (the supported subset).
SUBSET = set("""
base64builtins base64urlbuiltins casts comparisonexpr completedoc compositebasedereference
cryptosha256 disjunction elsekeyword embeddedvirtualdoc evaltermexpr example fix1863
globmatch helloworld indexing indirectreferences intersection invalidkeyerror
jwtencodesignheadererrors jwtencodesignpayloaderrors negation nestedreferences
netcidrcontains numbersrange objectget objectkeys partialdocconstants partialiter
partialsetdoc regexmatch semvercompare semverisvalid sets sprintf topdowndynamicdispatch
trim trimleft trimprefix trimright trimspace trimsuffix typebuiltin typenamebuiltin undos
union varreferences
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


def run_case(tool, case):
    doc = {"modules": case.get("modules") or [], "query": case["query"],
           "strict": bool(case.get("strict_error"))}
    if "data" in case:
        doc["data"] = case["data"] if case["data"] is not None else {}
    if "input" in case:
        doc["input"] = case["input"]
    if "input_term" in case:
        try:
            doc["input"] = json.loads(case["input_term"])
        except ValueError:
            return "skip", "input_term is not JSON"
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
    if case.get("sort_bindings"):
        want = sorted(want, key=canon)
        got = sorted(got, key=canon)
    if [canon(x) for x in want] != [canon(x) for x in got]:
        return "fail", "want %s got %s" % (json.dumps(want)[:300], json.dumps(got)[:300])
    return "pass", ""


def test_opa_conformance():
    tool = binary("tests/rego_case")
    mod = rego_opa.opa_module_dir()
    need(mod, "cannot fetch github.com/open-policy-agent/opa@%s with go" % rego_opa.OPA_VERSION)
    files = sorted(glob.glob(os.path.join(mod, "v1/test/cases/testdata/v1/*/*.yaml")))
    need(files, "no conformance cases in " + mod)
    only = os.environ.get("REGO_CONFORMANCE_ONLY")
    stats, failures = {}, []
    for f in files:
        folder = os.path.basename(os.path.dirname(f))
        if only and folder not in only.split(","):
            continue
        st = stats.setdefault(folder, [0, 0, 0])
        with open(f) as fh:
            cases = (yaml.safe_load(fh) or {}).get("cases") or []
        for case in cases:
            if folder not in SUBSET and not only:
                st[2] += 1
                continue
            verdict, why = run_case(tool, case)
            st[{"pass": 0, "fail": 1, "skip": 2}[verdict]] += 1
            if verdict == "fail" or (verdict == "skip" and folder in SUBSET):
                failures.append("%s: %s: %s" % (folder, case.get("note"), why))
    tot = [sum(s[i] for s in stats.values()) for i in range(3)]
    print("\nfolder passed failed skipped")
    for folder, s in sorted(stats.items()):
        print("%s%s %d %d %d" % ("*" if folder in SUBSET else " ", folder, *s))
    print("overall: passed %d failed %d skipped %d (subset: %d folders, marked *)" % (*tot, len(SUBSET)))
    for line in failures[:400]:
        print("FAIL", line)
    inside = [x for x in failures if x.split(":")[0] in SUBSET]
    assert not inside, "%d cases of the declared subset fail" % len(inside)
