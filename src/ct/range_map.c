/* Mapping a byte range of the plaintext view onto header, plaintext, v2
 * chunk and v1 tensor segments (range_map.h). */
#include "ct/range_map.h"

#include <errno.h>

#include "util.h"

/* First position in h->order whose tensor ends after data offset x. */
static size_t first_tensor_after(const struct ctfs_st_header *h, uint64_t x)
{
	size_t lo = 0, hi = h->n_tensors;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->tensors[h->order[mid]].end <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Split the part [toff, toff+n) of tensor t into segments. */
static int map_tensor(const struct ctfs_st_header *h, const struct ctfs_ct_info *ci, size_t t, uint64_t toff, size_t n,
		      size_t buf_off, int (*fn)(void *, const struct ctfs_seg *), void *arg)
{
	const struct ctfs_tensor *ten = &h->tensors[t];
	const struct ctfs_ct_tensor *ct = &ci->tensors[t];
	struct ctfs_seg s = { .tensor = t, .buf_off = buf_off };
	uint64_t cs = ci->chunk_size;

	if (!ct->encrypted) {
		s.kind = CTFS_SEG_PLAIN;
		s.off = h->data_start + ten->begin + toff;
		s.len = n;
		return fn(arg, &s);
	}
	if (ci->version == 1) {
		s.kind = CTFS_SEG_STREAM;
		s.off = toff;
		s.len = n;
		return fn(arg, &s);
	}
	s.kind = CTFS_SEG_CHUNK;
	while (n) {
		int rc;

		s.chunk = toff / cs;
		s.off = toff % cs;
		s.len = cs - s.off < n ? (size_t)(cs - s.off) : n;
		rc = fn(arg, &s);
		if (rc)
			return rc;
		toff += s.len;
		s.buf_off += s.len;
		n -= s.len;
	}
	return 0;
}

static int map_data(const struct ctfs_st_header *h, const struct ctfs_ct_info *ci, uint64_t doff,
		    size_t len, size_t buf_off, int (*fn)(void *, const struct ctfs_seg *), void *arg)
{
	for (size_t i = first_tensor_after(h, doff); len && i < h->n_tensors; i++) {
		size_t t = h->order[i];
		const struct ctfs_tensor *ten = &h->tensors[t];
		uint64_t avail = ten->end - doff;
		size_t n = avail < len ? (size_t)avail : len;
		int rc;

		if (ten->end == ten->begin)
			continue;
		rc = map_tensor(h, ci, t, doff - ten->begin, n, buf_off, fn, arg);
		if (rc)
			return rc;
		doff += n;
		buf_off += n;
		len -= n;
	}
	return 0;
}

int ctfs_range_map_view(const struct ctfs_st_header *h, const struct ctfs_ct_info *ci,
			uint64_t hlen, uint64_t off, size_t len,
			int (*fn)(void *arg, const struct ctfs_seg *seg), void *arg)
{
	uint64_t view_size;
	size_t buf_off = 0;

	if (ctfs_add_overflow(hlen, h->data_len, &view_size))
		return -EOVERFLOW;
	if (off >= view_size)
		return 0;
	if (len > view_size - off)
		len = (size_t)(view_size - off);
	if (off < hlen) {
		struct ctfs_seg s = { .kind = CTFS_SEG_HEADER, .off = off };
		int rc;

		s.len = hlen - off < len ? (size_t)(hlen - off) : len;
		rc = fn(arg, &s);
		if (rc)
			return rc;
		buf_off = s.len;
		len -= s.len;
		off = hlen;
	}
	return len ? map_data(h, ci, off - hlen, len, buf_off, fn, arg) : 0;
}
