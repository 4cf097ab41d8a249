/* Builtins: net.cidr_contains (IPv4 and IPv6 CIDRs and addresses). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/rg_builtins.h"

struct net {
	int family;
	unsigned char addr[16];
	int bits; /* prefix length; full length for an address */
};

static int parse_net(const struct rg_val *v, bool allow_addr, struct net *n)
{
	char buf[64], *slash;
	size_t alen;

	if (v->type != RG_STR || v->len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, v->s, v->len);
	buf[v->len] = 0;
	slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	else if (!allow_addr)
		return -EINVAL;
	n->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(n->family, buf, n->addr) != 1)
		return -EINVAL;
	alen = n->family == AF_INET ? 32 : 128;
	n->bits = (int)alen;
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);

		if (!slash[1] || *end || b < 0 || (size_t)b > alen || (slash[1] == '0' && slash[2]))
			return -EINVAL;
		n->bits = (int)b;
	}
	return 0;
}

static bool prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)full))
		return false;
	return !rest || ((a[full] ^ b[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static int b_cidr_contains(struct rg_ev *ev, struct rg_val **a, struct rg_val **out)
{
	struct net outer, inner;

	if (a[0]->type != RG_STR)
		return rg_bi_type(ev, "net.cidr_contains", 1, "string", a[0]);
	if (a[1]->type != RG_STR)
		return rg_bi_type(ev, "net.cidr_contains", 2, "string", a[1]);
	if (parse_net(a[0], false, &outer))
		return rg_bi_err(ev, "net.cidr_contains: invalid CIDR address: %.*s",
				 (int)(a[0]->len > 64 ? 64 : a[0]->len), a[0]->s);
	if (parse_net(a[1], true, &inner))
		return rg_bi_err(ev, "net.cidr_contains: invalid CIDR or IP address: %.*s",
				 (int)(a[1]->len > 64 ? 64 : a[1]->len), a[1]->s);
	*out = rg_bool(outer.family == inner.family && inner.bits >= outer.bits &&
		       prefix_eq(outer.addr, inner.addr, outer.bits));
	return 0;
}

const struct rg_builtin rg_bi_net[] = {
	{ "net.cidr_contains", 2, b_cidr_contains },
	{ NULL, 0, NULL },
};
