/* The Rego engine: constructs, builtins, errors and limits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy/rego.h"
#include "tap.h"

/* Compile text, evaluate query; compare the JSON result ("undefined" when
 * undefined, "error" on an evaluation error). */
static void check(const char *text, const char *query, const char *input, const char *want)
{
	struct ctfs_rego *r = NULL;
	size_t len = strlen(text);
	char err[512] = "", *res = NULL;
	const char *got;
	int rc = ctfs_rego_compile(&text, &len, 1, NULL, &r, err, sizeof(err));

	if (rc) {
		tap_ok(!strcmp(want, "compile-error"), "%s -> compile error (%s)", query, err);
		return;
	}
	rc = ctfs_rego_eval(r, query, input, input ? strlen(input) : 0, NULL, 0, &res, err, sizeof(err));
	got = rc ? "error" : res ? res : "undefined";
	tap_ok(!strcmp(got, want), "%s = %s (got %s %s)", query, want, got, rc ? err : "");
	free(res);
	ctfs_rego_free(r);
}

static const char *const mod =
	"package t\n"
	"import rego.v1\n"
	"default d := false\n"
	"p contains x if { some x in [3, 1, 2]; x > 1 }\n"
	"o[k] := v if { some k, v in {\"a\": 1, \"b\": 2} }\n"
	"f(x) := y if { y := x * 2 }\n"
	"f(\"s\") := \"str\"\n"
	"g(x) := 1 if x > 0\n"
	"g(x) := 2 if x > 10\n"
	"e if { every x in [1, 2] { x > 0 } }\n"
	"ne if { every x in [1, -2] { x > 0 } }\n"
	"n if { not p[5] }\n"
	"w if { input.a == 7 with input as {\"a\": 7} }\n"
	"el := 1 if { false } else := 2\n"
	"c := 1\nc := 2\n"
	"ac := [x | some x in [1, 2]; x > 1]\n"
	"sc := {x | some x in [1, 1, 2]}\n"
	"oc := {k: v | some k, v in [\"a\"]}\n"
	"arith := [1 / 3, 0.1 + 0.2, 7 / 2, 10 % 3, 2.5 * 2, 9007199254740993 - 1]\n"
	"sets := [({1, 2} | {3}), {1, 2} & {2}, {1, 2} - {1}, union({{1}, {2}}), intersection({{1, 2}, {2}})]\n"
	"strs := [upper(\"ab\"), lower(\"AB\"), split(\"a,b\", \",\"), concat(\"-\", [\"a\", \"b\"]), trim(\"xax\", \"x\"),"
	" trim_left(\"xa\", \"x\"), trim_right(\"ax\", \"x\"), trim_prefix(\"ab\", \"a\"), trim_suffix(\"ab\", \"b\"),"
	" trim_space(\" a \"), replace(\"aaa\", \"a\", \"b\"), format_int(255, 16), indexof(\"abc\", \"c\"),"
	" substring(\"abcdef\", 1, 3), sprintf(\"%s %d %v\", [\"x\", 3, {\"k\": [1]}])]\n"
	"tests := [startswith(\"ab\", \"a\"), endswith(\"ab\", \"b\"), contains(\"abc\", \"b\"),"
	" regex.match(\"^a.c$\", \"abc\"), glob.match(\"*.com\", [\".\"], \"a.com\"), glob.match(\"*.com\", [\".\"], \"a.b.com\"),"
	" net.cidr_contains(\"10.0.0.0/8\", \"10.2.3.4\"), semver.is_valid(\"1.0.0-rc.1\"), base64.is_valid(\"eA==\")]\n"
	"enc := [base64.encode(\"x\"), base64.decode(\"eA==\"), base64url.encode(\"\\u00ff\"), json.marshal({\"a\": {1}}),"
	" json.unmarshal(\"[1, {\\\"b\\\": null}]\"), crypto.sha256(\"abc\"), semver.compare(\"1.2.3\", \"1.10.0\")]\n"
	"times := [time.parse_rfc3339_ns(\"1970-01-02T00:00:00Z\"), time.clock(3661000000000), time.date(0),"
	" time.weekday(0), time.add_date(0, 1, 1, 1)]\n"
	"colls := [count(\"héllo\"), sum([1, 2.5]), max([1, 3]), min({4, 2}), sort([3, 1, 2]), object.get({\"a\": 1}, \"b\", 0),"
	" object.keys({\"a\": 1}), array.concat([1], [2]), array.slice([1, 2, 3], 1, 2), to_number(\"1.5\")]\n"
	"bad_div if 1 / 0\n"
	"bad_type if count(1)\n";

int main(void)
{
	check(mod, "data.t.d", NULL, "false");
	check(mod, "data.t.p", NULL, "[2,3]");
	check(mod, "data.t.o", NULL, "{\"a\":1,\"b\":2}");
	check(mod, "data.t.f(2)", NULL, "4");
	check(mod, "data.t.f(\"s\")", NULL, "\"str\"");
	check(mod, "data.t.g(5)", NULL, "1");
	check(mod, "data.t.g(20)", NULL, "error");
	check(mod, "data.t.e", NULL, "true");
	check(mod, "data.t.ne", NULL, "undefined");
	check(mod, "data.t.n", NULL, "true");
	check(mod, "data.t.w", NULL, "true");
	check(mod, "data.t.el", NULL, "2");
	check(mod, "data.t.c", NULL, "error");
	check(mod, "data.t.ac", NULL, "[2]");
	check(mod, "data.t.sc", NULL, "[1,2]");
	check(mod, "data.t.oc", NULL, "{\"0\":\"a\"}");
	check(mod, "data.t.arith", NULL, "[0.33333333333333333334,0.3,3.5,1,5,9007199254740992]");
	check(mod, "data.t.sets", NULL, "[[1,2,3],[2],[2],[1,2],[2]]");
	check(mod, "data.t.strs", NULL, "[\"AB\",\"ab\",[\"a\",\"b\"],\"a-b\",\"a\",\"a\",\"a\",\"b\",\"a\",\"a\",\"bbb\",\"ff\",2,\"bcd\",\"x 3 {\\\"k\\\": [1]}\"]");
	check(mod, "data.t.tests", NULL, "[true,true,true,true,true,false,true,true,true]");
	check(mod, "data.t.enc", NULL, "[\"eA==\",\"x\",\"w78=\",\"{\\\"a\\\":[1]}\",[1,{\"b\":null}],"
	      "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",-1]");
	check(mod, "data.t.times", NULL, "[86400000000000,[1,1,1],[1970,1,1],\"Thursday\",34300800000000000]");
	check(mod, "data.t.colls", NULL, "[5,3.5,3,2,[1,2,3],0,[\"a\"],[1,2],[2],1.5]");
	check(mod, "data.t.bad_div", NULL, "undefined");
	check(mod, "data.t.bad_type", NULL, "undefined");
	check(mod, "data.t.missing", NULL, "undefined");
	check("package model\nallow { true }", "data.model.allow", NULL, "compile-error");
	check("package model\np[x] { x := 1 }", "data.model.p", NULL, "compile-error");
	check("package model\nallow if { x > 1 }", "data.model.allow", NULL, "compile-error");
	check("package model\nallow if { not input.a[x] }", "data.model.allow", NULL, "compile-error");
	check("package model\nallow if { print(1) }", "data.model.allow", NULL, "compile-error");
	check("package model\nallow if { count(1) with count as 2 }", "data.model.allow", NULL, "compile-error");
	check("package model\nallow if { p }\np if { allow }", "data.model.allow", NULL, "error");
	check("package model\nallow if input.u == \"a\"", "data.model.allow", "{\"u\":\"a\"}", "true");
	check("package model\nallow := 5", "data.model.allow", NULL, "5");
	{
		/* caps: steps, depth, text, memory */
		const char *big = "package model\nallow if { count([x | some x in numbers.range(1, 100000)]) > 0 }";
		const struct ctfs_rego_limits lim = { .max_steps = 1000 };
		struct ctfs_rego *r = NULL;
		size_t len = strlen(big);
		char err[256], *res = NULL;

		tap_ok(ctfs_rego_compile(&big, &len, 1, &lim, &r, err, sizeof(err)) == 0, "compiles");
		tap_ok(ctfs_rego_eval(r, "data.model.allow", NULL, 0, NULL, 0, &res, err, sizeof(err)) == -E2BIG &&
		       strstr(err, "step limit"), "step cap: %s", err);
		tap_ok(ctfs_rego_decide(r, NULL, 0, NULL, 0, err, sizeof(err)) == -EACCES && strstr(err, "limit exceeded"),
		       "decide reports the cap: %s", err);
		ctfs_rego_free(r);
		const struct ctfs_rego_limits small = { .max_text = 10 };
		tap_ok(ctfs_rego_compile(&big, &len, 1, &small, &r, err, sizeof(err)) == -E2BIG, "text cap: %s", err);
		char deep[400] = "package model\nallow := ";
		for (int i = 0; i < 100; i++)
			strcat(deep, "[");
		for (int i = 0; i < 100; i++)
			strcat(deep, "]");
		const char *dp = deep;
		len = strlen(deep);
		tap_ok(ctfs_rego_compile(&dp, &len, 1, NULL, &r, err, sizeof(err)) == -E2BIG, "depth cap: %s", err);
		const struct ctfs_rego_limits mem = { .max_mem = 1 << 20 };
		const char *hog = "package model\nallow if { x := [y | some y in numbers.range(1, 50000)]; count(x) > 0 }";
		len = strlen(hog);
		tap_ok(ctfs_rego_compile(&hog, &len, 1, &mem, &r, err, sizeof(err)) == 0, "compiles");
		tap_ok(ctfs_rego_eval(r, "data.model.allow", NULL, 0, NULL, 0, &res, err, sizeof(err)) == -E2BIG,
		       "memory cap: %s", err);
		ctfs_rego_free(r);
	}
	return tap_done();
}
