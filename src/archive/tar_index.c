#include "archive/tar_index.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define PAX_MAX (1u << 20)	/* an extended header larger than this is refused */
#define LONGNAME_MAX 65536

enum state { ST_HEADER, ST_SKIP, ST_CAPTURE, ST_END };

/* A member as read, before sorting and linking. */
struct raw {
	char *path;
	char *link;		/* symlink or hard link target */
	uint64_t offset;
	uint64_t size;
	uint32_t mode;
	char kind;		/* 'f' file, 'd' dir, 'l' symlink, 'h' hard link */
	bool made_up;		/* a parent directory the archive does not list */
	size_t seq;		/* order in the archive */
};

struct pending {		/* attributes for the next member (pax, GNU) */
	char *path;
	size_t path_len;
	char *link;
	size_t link_len;
	bool has_size;
	uint64_t size;
};

struct ctfs_tar_parser {
	uint64_t pos;
	enum state st;
	uint8_t hdr[CTFS_TAR_BLOCK];
	size_t hdr_fill;
	uint64_t skip;
	struct ctfs_buf cap;
	uint64_t cap_left, cap_pad;
	char cap_kind;
	struct pending pend;
	struct raw *v;
	size_t n, capn;
	size_t skipped;
	uint64_t zero_bytes;
	uint64_t name_bytes;	/* paths and link targets kept so far */
};

struct ctfs_tar_index {
	struct ctfs_tar_entry *e;
	size_t n;
	size_t skipped;
	size_t bytes;
};

static int corrupt(char *err, size_t errlen, uint64_t at, const char *what)
{
	ctfs_seterr(err, errlen, "corrupt archive at offset %" PRIu64 ": %s", at, what);
	return -EBADMSG;
}

/* --- paths ---------------------------------------------------------------- */

bool ctfs_tar_path_normalize(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0, comp = 0;

	if (memchr(in, 0, len))
		return false;
	if (len >= 2 && in[0] == '.' && in[1] == '/') {
		in += 2;
		len -= 2;
	}
	while (len && in[len - 1] == '/')
		len--;
	if (len == 1 && in[0] == '.')
		len = 0;
	if (len > CTFS_TAR_MAX_PATH || len + 1 > cap || (len && in[0] == '/'))
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && in[i] != '/') {
			out[o++] = in[i];
			comp++;
			continue;
		}
		if (i == len && len == 0)
			break;
		if (comp == 0 || comp > 255)
			return false;
		if ((comp == 1 && out[o - 1] == '.') ||
		    (comp == 2 && out[o - 1] == '.' && out[o - 2] == '.'))
			return false;
		if (i < len)
			out[o++] = '/';
		comp = 0;
	}
	out[o] = 0;
	return true;
}

/* --- header fields ---------------------------------------------------------- */

/* Octal (NUL/space terminated, leading spaces allowed) or GNU base-256. */
static bool parse_num(const uint8_t *f, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		if (f[0] != 0x80)
			return false;	/* negative, or more than 63 bits */
		for (i = 1; i < len; i++) {
			if (v >> 55)
				return false;
			v = v << 8 | f[i];
		}
		*out = v;
		return true;
	}
	while (i < len && f[i] == ' ')
		i++;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 61)
			return false;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	for (; i < len; i++) {
		if (f[i] != 0 && f[i] != ' ')
			return false;
	}
	*out = v;
	return true;
}

static bool checksum_ok(const uint8_t *h)
{
	uint64_t want;
	unsigned long usum = 0;
	long ssum = 0;

	if (!parse_num(h + 148, 8, &want))
		return false;
	for (size_t i = 0; i < CTFS_TAR_BLOCK; i++) {
		uint8_t c = i >= 148 && i < 156 ? ' ' : h[i];

		usum += c;
		ssum += (signed char)c;
	}
	/* some old writers summed signed chars */
	return want == usum || (ssum >= 0 && want == (uint64_t)ssum);
}

static size_t field_len(const uint8_t *f, size_t max)
{
	const uint8_t *z = memchr(f, 0, max);

	return z ? (size_t)(z - f) : max;
}

/* --- the member list ------------------------------------------------------- */

static int add_raw(struct ctfs_tar_parser *p, const char *path, size_t len, struct raw *r,
		   char *err, size_t errlen)
{
	char *norm;

	if (p->n >= CTFS_TAR_MAX_MEMBERS)
		return corrupt(err, errlen, p->pos, "more than 2^20 members");
	p->name_bytes += len + 1 + (r->link ? strlen(r->link) + 1 : 0);
	if (p->name_bytes > CTFS_TAR_MAX_NAMES)
		return corrupt(err, errlen, p->pos, "member paths and link targets over 64 MiB");
	if (p->n == p->capn) {
		size_t nc = p->capn ? p->capn * 2 : 64;
		struct raw *v = realloc(p->v, nc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->v = v;
		p->capn = nc;
	}
	norm = malloc(len + 1);
	if (!norm)
		return -ENOMEM;
	if (!ctfs_tar_path_normalize(path, len, norm, len + 1)) {
		free(norm);
		ctfs_seterr(err, errlen, "corrupt archive at offset %" PRIu64
			    ": unsafe member path '%.*s'", p->pos, (int)(len > 200 ? 200 : len), path);
		return -EBADMSG;
	}
	r->path = norm;
	r->seq = p->n;
	p->v[p->n++] = *r;
	return 0;
}

static void pending_clear(struct pending *pd)
{
	free(pd->path);
	free(pd->link);
	memset(pd, 0, sizeof(*pd));
}

static int set_pending(char **dst, size_t *dlen, const char *s, size_t len)
{
	char *c = malloc(len + 1);

	if (!c)
		return -ENOMEM;
	memcpy(c, s, len);
	c[len] = 0;
	free(*dst);
	*dst = c;
	*dlen = len;
	return 0;
}

/* "LEN key=value\n" records; path, linkpath and size are used. */
static int parse_pax(struct ctfs_tar_parser *p, char *err, size_t errlen)
{
	const char *s = (const char *)p->cap.data, *end = s + p->cap.len;

	while (s < end) {
		const char *eq, *sp = memchr(s, ' ', (size_t)(end - s));
		uint64_t reclen = 0;
		int rc = 0;

		if (!sp || sp == s)
			return corrupt(err, errlen, p->pos, "bad pax record");
		for (const char *d = s; d < sp; d++) {
			if (*d < '0' || *d > '9' || reclen > PAX_MAX)
				return corrupt(err, errlen, p->pos, "bad pax record length");
			reclen = reclen * 10 + (uint64_t)(*d - '0');
		}
		if (reclen < (uint64_t)(sp - s) + 3 || reclen > (uint64_t)(end - s) ||
		    s[reclen - 1] != '\n')
			return corrupt(err, errlen, p->pos, "bad pax record length");
		eq = memchr(sp + 1, '=', (size_t)(s + reclen - 1 - (sp + 1)));
		if (!eq)
			return corrupt(err, errlen, p->pos, "pax record without '='");
		const char *key = sp + 1, *val = eq + 1;
		size_t klen = (size_t)(eq - key), vlen = (size_t)(s + reclen - 1 - val);

		if ((klen == 4 && !memcmp(key, "path", 4)) ||
		    (klen == 8 && !memcmp(key, "linkpath", 8))) {
			if (vlen > CTFS_TAR_MAX_PATH)
				return corrupt(err, errlen, p->pos, "pax path or link target over 4095 bytes");
		}
		if (klen == 4 && !memcmp(key, "path", 4)) {
			rc = set_pending(&p->pend.path, &p->pend.path_len, val, vlen);
		} else if (klen == 8 && !memcmp(key, "linkpath", 8)) {
			rc = set_pending(&p->pend.link, &p->pend.link_len, val, vlen);
		} else if (klen == 4 && !memcmp(key, "size", 4)) {
			uint64_t v = 0;

			if (!vlen || vlen > 19)
				return corrupt(err, errlen, p->pos, "bad pax size");
			for (size_t i = 0; i < vlen; i++) {
				if (val[i] < '0' || val[i] > '9')
					return corrupt(err, errlen, p->pos, "bad pax size");
				v = v * 10 + (uint64_t)(val[i] - '0');
			}
			p->pend.has_size = true;
			p->pend.size = v;
		}
		if (rc)
			return rc;
		s += reclen;
	}
	return 0;
}

static int finish_capture(struct ctfs_tar_parser *p, char *err, size_t errlen)
{
	size_t len = p->cap.len;
	const char *s = (const char *)p->cap.data;

	if (p->cap_kind == 'x')
		return parse_pax(p, err, errlen);
	while (len && s[len - 1] == 0)
		len--;
	if (len > CTFS_TAR_MAX_PATH)
		return corrupt(err, errlen, p->pos, "GNU long name or link target over 4095 bytes");
	if (p->cap_kind == 'L')
		return set_pending(&p->pend.path, &p->pend.path_len, s, len);
	return set_pending(&p->pend.link, &p->pend.link_len, s, len);
}

static int start_data(struct ctfs_tar_parser *p, uint64_t size, bool capture, char kind,
		      char *err, size_t errlen)
{
	uint64_t pad = (CTFS_TAR_BLOCK - size % CTFS_TAR_BLOCK) % CTFS_TAR_BLOCK;

	if (capture) {
		if (size > (kind == 'x' ? PAX_MAX : LONGNAME_MAX))
			return corrupt(err, errlen, p->pos, "extended header too large");
		p->cap.len = 0;
		p->cap_left = size;
		p->cap_pad = pad;
		p->cap_kind = kind;
		p->st = ST_CAPTURE;
		if (size == 0)
			return 0;
		return ctfs_buf_reserve(&p->cap, (size_t)size + 1);
	}
	if (ctfs_add_overflow(size, pad, &p->skip))
		return corrupt(err, errlen, p->pos, "member size overflows");
	p->st = ST_SKIP;
	return 0;
}

static int member(struct ctfs_tar_parser *p, const uint8_t *h, char type, uint64_t size,
		  char *err, size_t errlen)
{
	char full[256 + 1 + 100 + 1];
	const char *path = full;
	size_t plen;
	struct raw r = { 0 };
	uint64_t mode;
	int rc;

	if (!parse_num(h + 100, 8, &mode))
		return corrupt(err, errlen, p->pos, "bad mode field");
	r.mode = (uint32_t)(mode & 07777);
	if (p->pend.path) {
		path = p->pend.path;
		plen = p->pend.path_len;
	} else {
		size_t nl = field_len(h, 100), pl = 0;

		/* the prefix field exists in POSIX ustar, not in GNU headers */
		if (!memcmp(h + 257, "ustar\0", 6))
			pl = field_len(h + 345, 155);
		if (pl) {
			memcpy(full, h + 345, pl);
			full[pl++] = '/';
		}
		memcpy(full + pl, h, nl);
		plen = pl + nl;
	}
	if (type == '1' || type == '2') {
		const char *l = p->pend.link ? p->pend.link : (const char *)h + 157;
		size_t ll = p->pend.link ? p->pend.link_len : field_len(h + 157, 100);

		if (!ll || memchr(l, 0, ll))
			return corrupt(err, errlen, p->pos, "link member without a target");
		if (ll > CTFS_TAR_MAX_PATH)
			return corrupt(err, errlen, p->pos, "link target over 4095 bytes");
		r.link = malloc(ll + 1);
		if (!r.link)
			return -ENOMEM;
		memcpy(r.link, l, ll);
		r.link[ll] = 0;
	}
	r.kind = type == '5' ? 'd' : type == '2' ? 'l' : type == '1' ? 'h' : 'f';
	if (r.kind == 'f') {
		r.offset = p->pos;
		r.size = size;
	}
	rc = add_raw(p, path, plen, &r, err, errlen);
	if (rc)
		free(r.link);
	return rc;
}

/* A complete 512-byte header block. */
static int header(struct ctfs_tar_parser *p, char *err, size_t errlen)
{
	const uint8_t *h = p->hdr;
	uint64_t at = p->pos - CTFS_TAR_BLOCK, size;
	char type = (char)h[156];
	int rc;

	for (size_t i = 0; i < CTFS_TAR_BLOCK && !h[i]; i++) {
		if (i == CTFS_TAR_BLOCK - 1) {
			p->st = ST_END;
			p->zero_bytes = CTFS_TAR_BLOCK;
			return 0;
		}
	}
	if (!checksum_ok(h))
		return corrupt(err, errlen, at, "bad header checksum");
	if (memcmp(h + 257, "ustar\0" "00", 8) && memcmp(h + 257, "ustar  \0", 8))
		return corrupt(err, errlen, at, "not a ustar header");
	if (!parse_num(h + 124, 12, &size))
		return corrupt(err, errlen, at, "bad size field");
	switch (type) {
	case 'x':
	case 'L':
	case 'K':
		return start_data(p, size, true, type, err, errlen);
	case 'g':
		if (size > CTFS_TAR_MAX_AUX)
			return corrupt(err, errlen, at, "global pax header over 1 MiB");
		return start_data(p, size, false, 0, err, errlen);
	case '0':
	case '\0':
	case '7':
		if (p->pend.has_size)
			size = p->pend.size;
		/* fall through */
	case '1':
	case '2':
	case '5':
		rc = member(p, h, type, size, err, errlen);
		if (!rc && p->pos + size < p->pos)
			rc = corrupt(err, errlen, at, "member size overflows");
		break;
	default:
		p->skipped++;
		rc = 0;
	}
	if (!rc && size > CTFS_TAR_MAX_AUX && type != '0' && type != '\0' && type != '7')
		rc = corrupt(err, errlen, at, "a member that is not a regular file carries over 1 MiB of data");
	pending_clear(&p->pend);
	/* links and directories carry no data, but skip whatever a header says */
	return rc ? rc : start_data(p, size, false, 0, err, errlen);
}

int ctfs_tar_parser_feed(struct ctfs_tar_parser *p, const uint8_t *data, size_t len,
			 char *err, size_t errlen)
{
	while (len) {
		size_t n;
		int rc = 0;

		switch (p->st) {
		case ST_HEADER:
			n = CTFS_TAR_BLOCK - p->hdr_fill;
			n = n < len ? n : len;
			memcpy(p->hdr + p->hdr_fill, data, n);
			p->hdr_fill += n;
			p->pos += n;
			if (p->hdr_fill == CTFS_TAR_BLOCK) {
				p->hdr_fill = 0;
				rc = header(p, err, errlen);
			}
			break;
		case ST_SKIP:
			n = p->skip < len ? (size_t)p->skip : len;
			p->skip -= n;
			p->pos += n;
			if (!p->skip)
				p->st = ST_HEADER;
			break;
		case ST_CAPTURE:
			n = p->cap_left < len ? (size_t)p->cap_left : len;
			rc = ctfs_buf_append(&p->cap, data, n);
			p->cap_left -= n;
			p->pos += n;
			if (!rc && !p->cap_left) {
				rc = finish_capture(p, err, errlen);
				p->skip = p->cap_pad;
				p->st = p->skip ? ST_SKIP : ST_HEADER;
			}
			break;
		case ST_END:
		default:
			if (p->zero_bytes + len > CTFS_TAR_MAX_TRAILER)
				return corrupt(err, errlen, p->pos,
					       "more than 64 KiB after the end-of-archive marker");
			n = len;
			for (size_t i = 0; i < n; i++) {
				if (data[i])
					return corrupt(err, errlen, p->pos + i, "data after the end-of-archive marker");
			}
			p->pos += n;
			p->zero_bytes += n;
			break;
		}
		if (rc)
			return rc;
		data += n;
		len -= n;
	}
	return 0;
}

int ctfs_tar_parser_new(struct ctfs_tar_parser **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void ctfs_tar_parser_free(struct ctfs_tar_parser *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].path);
		free(p->v[i].link);
	}
	free(p->v);
	pending_clear(&p->pend);
	ctfs_buf_free(&p->cap);
	free(p);
}

/* --- building the index ------------------------------------------------------ */

static int cmp_raw(const void *a, const void *b)
{
	const struct raw *x = a, *y = b;
	int r = strcmp(x->path, y->path);

	return r ? r : (int)x->made_up - (int)y->made_up;
}

/* strcmp(a, b[0..blen)) */
static int cmp_len(const char *a, const char *b, size_t blen)
{
	int r = strncmp(a, b, blen);

	return r ? r : a[blen] ? 1 : 0;
}

static struct raw *find_raw(struct raw *v, size_t n, const char *path, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = -cmp_len(v[mid].path, path, len);

		if (!r)
			return &v[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static int grow(struct ctfs_tar_parser *p)
{
	size_t nc;
	struct raw *v;

	if (p->n < p->capn)
		return 0;
	nc = p->capn ? p->capn * 2 : 64;
	v = realloc(p->v, nc * sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->v = v;
	p->capn = nc;
	return 0;
}

static int add_dir(struct ctfs_tar_parser *p, const char *path, size_t len)
{
	struct raw d = { .kind = 'd', .mode = 0755, .made_up = true, .seq = SIZE_MAX };

	if (grow(p) || !(d.path = strndup(path, len)))
		return -ENOMEM;
	p->v[p->n++] = d;
	return 0;
}

/* The listed members are sorted; add a made-up entry for the root and each
 * parent directory not listed. Members below one directory sort together,
 * so the parents the previous member needed are those it shares with this
 * one: each is added once. */
static int add_parents(struct ctfs_tar_parser *p)
{
	size_t listed = p->n;
	const char *prev = "";
	int rc = 0;

	if (!listed || p->v[0].path[0])
		rc = add_dir(p, "", 0);
	for (size_t i = 0; i < listed && !rc; i++) {
		const char *path = p->v[i].path;
		size_t len = strlen(path);

		while (!rc) {
			const char *slash = len ? memrchr(path, '/', len) : NULL;

			if (!slash)
				break;
			len = (size_t)(slash - path);
			if (!strncmp(prev, path, len + 1) || find_raw(p->v, listed, path, len))
				break;
			rc = add_dir(p, path, len);
		}
		prev = p->v[i].path;
	}
	return rc;
}

/* Refuse duplicates among listed members. */
static int no_duplicates(struct ctfs_tar_parser *p, char *err, size_t errlen)
{
	for (size_t i = 1; i < p->n; i++) {
		if (!strcmp(p->v[i - 1].path, p->v[i].path)) {
			ctfs_seterr(err, errlen, "corrupt archive: duplicate member '%s'",
				    p->v[i].path);
			return -EBADMSG;
		}
	}
	return 0;
}

/* Every parent must be a directory. */
static int parents_are_dirs(struct ctfs_tar_parser *p, char *err, size_t errlen)
{
	for (size_t i = 1; i < p->n; i++) {
		const char *path = p->v[i].path, *slash = strrchr(path, '/');
		size_t len = slash ? (size_t)(slash - path) : 0;
		struct raw *par = find_raw(p->v, p->n, path, len);

		if (!par || par->kind != 'd') {
			ctfs_seterr(err, errlen, "corrupt archive: '%.*s' has members but is not a directory",
				    (int)len, path);
			return -EBADMSG;
		}
	}
	return 0;
}

static int resolve_hardlinks(struct ctfs_tar_parser *p, char *err, size_t errlen)
{
	for (size_t i = 0; i < p->n; i++) {
		struct raw *r = &p->v[i], *t;
		size_t len;
		char *norm;

		if (r->kind != 'h')
			continue;
		len = strlen(r->link);
		norm = malloc(len + 1);
		if (!norm)
			return -ENOMEM;
		t = NULL;
		if (ctfs_tar_path_normalize(r->link, len, norm, len + 1))
			t = find_raw(p->v, p->n, norm, strlen(norm));
		free(norm);
		if (!t || t->kind != 'f' || t->seq >= r->seq) {
			ctfs_seterr(err, errlen,
				    "corrupt archive: hard link '%s' to no earlier regular file", r->path);
			return -EBADMSG;
		}
		r->kind = 'f';
		r->offset = t->offset;
		r->size = t->size;
		free(r->link);
		r->link = NULL;
	}
	return 0;
}

static size_t find_entry(const struct ctfs_tar_entry *e, size_t n, const char *path, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = -cmp_len(e[mid].path, path, len);

		if (!r)
			return mid;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return CTFS_TAR_NONE;
}

static void fill_entry(struct ctfs_tar_entry *e, struct raw *r)
{
	const char *slash = strrchr(r->path, '/');

	e->path = r->path;
	e->link = r->link;
	r->path = r->link = NULL;	/* now owned by the index */
	e->name = slash ? slash + 1 : e->path;
	e->type = r->kind == 'd' ? CTFS_TAR_DIR : r->kind == 'l' ? CTFS_TAR_SYMLINK : CTFS_TAR_FILE;
	e->mode = r->mode;
	e->offset = e->type == CTFS_TAR_FILE ? r->offset : 0;
	e->size = e->type == CTFS_TAR_FILE ? r->size : 0;
	e->first_child = e->next_sibling = e->parent = CTFS_TAR_NONE;
}

/* Entries in path order, each linked to its parent; children in path order. */
static int make_index(struct ctfs_tar_parser *p, struct ctfs_tar_index **out)
{
	struct ctfs_tar_index *ix = calloc(1, sizeof(*ix));
	size_t *tail = NULL;

	if (!ix || !(ix->e = calloc(p->n, sizeof(*ix->e))) ||
	    !(tail = malloc(p->n * sizeof(*tail)))) {
		if (ix)
			free(ix->e);
		free(ix);
		return -ENOMEM;
	}
	ix->n = p->n;
	ix->skipped = p->skipped;
	ix->bytes = sizeof(*ix) + p->n * sizeof(*ix->e);
	for (size_t i = 0; i < p->n; i++) {
		struct ctfs_tar_entry *e = &ix->e[i];
		size_t par;

		fill_entry(e, &p->v[i]);
		tail[i] = CTFS_TAR_NONE;
		ix->bytes += strlen(e->path) + 1 + (e->link ? strlen(e->link) + 1 : 0);
		if (i == 0)
			continue;
		par = find_entry(ix->e, i, e->path, e->name == e->path ? 0 :
				 (size_t)(e->name - 1 - e->path));
		e->parent = par;
		if (tail[par] == CTFS_TAR_NONE)
			ix->e[par].first_child = i;
		else
			ix->e[tail[par]].next_sibling = i;
		tail[par] = i;
	}
	free(tail);
	*out = ix;
	return 0;
}

int ctfs_tar_parser_finish(struct ctfs_tar_parser *p, struct ctfs_tar_index **out,
			   char *err, size_t errlen)
{
	int rc;

	if (p->st != ST_END || p->zero_bytes < 2 * CTFS_TAR_BLOCK)
		return corrupt(err, errlen, p->pos,
			       p->st == ST_END ? "archive ends inside its end-of-archive marker" :
			       p->st != ST_HEADER || p->hdr_fill ? "archive ends inside a member" :
			       "archive has no end-of-archive marker");
	if (p->n)
		qsort(p->v, p->n, sizeof(*p->v), cmp_raw);
	rc = no_duplicates(p, err, errlen);
	if (!rc)
		rc = add_parents(p);
	if (rc)
		return rc;
	qsort(p->v, p->n, sizeof(*p->v), cmp_raw);
	if (p->v[0].kind != 'd') {
		ctfs_seterr(err, errlen, "corrupt archive: its root is not a directory");
		return -EBADMSG;
	}
	rc = parents_are_dirs(p, err, errlen);
	if (!rc)
		rc = resolve_hardlinks(p, err, errlen);
	if (!rc)
		rc = make_index(p, out);
	return rc;
}

/* --- queries ------------------------------------------------------------------ */

size_t ctfs_tar_count(const struct ctfs_tar_index *ix)
{
	return ix->n;
}

const struct ctfs_tar_entry *ctfs_tar_at(const struct ctfs_tar_index *ix, size_t i)
{
	return i < ix->n ? &ix->e[i] : NULL;
}

const struct ctfs_tar_entry *ctfs_tar_lookup(const struct ctfs_tar_index *ix, const char *path)
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(path, ix->e[mid].path);

		if (!r)
			return &ix->e[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t ctfs_tar_skipped(const struct ctfs_tar_index *ix)
{
	return ix->skipped;
}

size_t ctfs_tar_bytes(const struct ctfs_tar_index *ix)
{
	return ix->bytes;
}

void ctfs_tar_index_free(struct ctfs_tar_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->n; i++) {
		free(ix->e[i].path);
		free(ix->e[i].link);
	}
	free(ix->e);
	free(ix);
}
