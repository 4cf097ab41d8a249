/* Builtins: time (now, RFC 3339 parsing, calendar fields, date arithmetic).
 * Only UTC is supported as a time zone: other zones are a builtin error. */
#include <errno.h>
#include <string.h>

#include "policy/rg_builtins.h"

#define A rg_ev_arena(ev)
#define RET(x) do { *out = (x); return *out ? 0 : -ENOMEM; } while (0)
#define NS_PER_DAY 86400000000000LL

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp + (mp < 10 ? 3 : -9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int64_t floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The ns operand: a number, or [ns, "UTC"]. */
static int ns_arg(struct rg_ev *ev, const char *fn, const struct rg_val *v, int64_t *ns)
{
	if (v->type == RG_ARR) {
		if (v->len != 2 || v->a[1]->type != RG_STR)
			return rg_bi_type(ev, fn, 1, "either number or array[number, string]", v);
		if (v->a[1]->len && !(v->a[1]->len == 3 && !memcmp(v->a[1]->s, "UTC", 3)))
			return rg_bi_err(ev, "%s: time zones other than UTC are not supported", fn);
		v = v->a[0];
	}
	if (v->type != RG_NUM)
		return rg_bi_type(ev, fn, 1, "either number or array[number, string]", v);
	if (!rg_num_int(v, ns)) {
		long double f = rg_num_ld(v);

		if (f < -9.2e18L || f > 9.2e18L)
			return rg_bi_err(ev, "%s: timestamp too big", fn);
		*ns = (int64_t)f;
	}
	return 0;
}

static int b_now_ns(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	(void)a;
	RET(rg_int(A, rg_ev_now_ns(ev)));
}

static bool digits(const char *s, size_t n, int64_t *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

static int rfc3339(const char *s, size_t n, int64_t *ns)
{
	int64_t y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, days, t;
	size_t i = 19;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' ||
	    !digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
	    !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 59)
		return -EINVAL;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -EINVAL;
	if (s[i] == '.') {
		size_t k = 0;

		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++)
			if (k < 9)
				frac = frac * 10 + (s[i] - '0');
		if (k == 0)
			return -EINVAL;
		for (; k < 9; k++)
			frac *= 10;
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
		   digits(s + i + 1, 2, &oh) && digits(s + i + 4, 2, &om) && oh < 24 && om < 60) {
		if (s[i] == '+') {
			oh = -oh;
			om = -om;
		}
		i += 6;
	} else {
		return -EINVAL;
	}
	if (i != n)
		return -EINVAL;
	days = days_from_civil(y, mo, d);
	t = ((days * 24 + h + oh) * 60 + mi + om) * 60 + sec;
	if (__builtin_mul_overflow(t, 1000000000LL, ns) || __builtin_add_overflow(*ns, frac, ns))
		return -ERANGE;
	return 0;
}

static int b_parse_rfc3339_ns(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int64_t ns;

	if (a[0]->type != RG_STR)
		return rg_bi_type(ev, "time.parse_rfc3339_ns", 1, "string", a[0]);
	if (rfc3339(a[0]->s, a[0]->len, &ns))
		return rg_bi_err(ev, "time.parse_rfc3339_ns: parsing time \"%.*s\" as RFC 3339 failed",
				 (int)(a[0]->len > 64 ? 64 : a[0]->len), a[0]->s);
	RET(rg_int(A, ns));
}

static int b_clock(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int64_t ns, s;
	struct rg_val *v[3];
	int rc = ns_arg(ev, "time.clock", a[0], &ns);

	if (rc)
		return rc;
	s = floordiv(ns, 1000000000LL) - floordiv(ns, NS_PER_DAY) * 86400;
	if (!(v[0] = rg_int(A, s / 3600)) || !(v[1] = rg_int(A, s / 60 % 60)) || !(v[2] = rg_int(A, s % 60)))
		return -ENOMEM;
	RET(rg_array(A, v, 3));
}

static int b_date(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int64_t ns, y, m, d;
	struct rg_val *v[3];
	int rc = ns_arg(ev, "time.date", a[0], &ns);

	if (rc)
		return rc;
	civil_from_days(floordiv(ns, NS_PER_DAY), &y, &m, &d);
	if (!(v[0] = rg_int(A, y)) || !(v[1] = rg_int(A, m)) || !(v[2] = rg_int(A, d)))
		return -ENOMEM;
	RET(rg_array(A, v, 3));
}

static int b_weekday(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	static const char *const names[] = { "Thursday", "Friday", "Saturday", "Sunday",
					     "Monday", "Tuesday", "Wednesday" };
	int64_t ns, days;
	int rc = ns_arg(ev, "time.weekday", a[0], &ns);

	if (rc)
		return rc;
	days = floordiv(ns, NS_PER_DAY);
	RET(rg_cstr(A, names[((days % 7) + 7) % 7]));
}

static int b_add_date(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	int64_t ns, dy, dm, dd, y, m, d, days, rest, res;

	if (a[0]->type != RG_NUM || !rg_num_int(a[0], &ns))
		return rg_bi_type(ev, "time.add_date", 1, "number", a[0]);
	if (!rg_num_int(a[1], &dy) || !rg_num_int(a[2], &dm) || !rg_num_int(a[3], &dd))
		return rg_bi_err(ev, "time.add_date: years, months and days must be integers");
	if (dy > 1000000 || dy < -1000000 || dm > 12000000 || dm < -12000000 || dd > 400000000 || dd < -400000000)
		return rg_bi_err(ev, "time.add_date: time outside of valid range");
	days = floordiv(ns, NS_PER_DAY);
	rest = ns - days * NS_PER_DAY;
	civil_from_days(days, &y, &m, &d);
	y += dy;
	m += dm - 1;
	y += floordiv(m, 12);
	m = m - floordiv(m, 12) * 12 + 1;
	days = days_from_civil(y, m, 1) + d - 1 + dd;
	if (__builtin_mul_overflow(days, NS_PER_DAY, &res) || __builtin_add_overflow(res, rest, &res))
		return rg_bi_err(ev, "time.add_date: time outside of valid range");
	RET(rg_int(A, res));
}

const struct rg_builtin rg_bi_time[] = {
	{ "time.now_ns", 0, b_now_ns }, { "time.parse_rfc3339_ns", 1, b_parse_rfc3339_ns },
	{ "time.clock", 1, b_clock }, { "time.date", 1, b_date }, { "time.weekday", 1, b_weekday },
	{ "time.add_date", 4, b_add_date },
	{ NULL, 0, NULL },
};
