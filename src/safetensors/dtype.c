#include "safetensors/dtype.h"

#include <errno.h>
#include <string.h>

#include "util.h"

static const struct {
	const char *name;
	unsigned int bits;
} dtypes[CTFS_DT_COUNT] = {
	[CTFS_DT_BOOL] = { "BOOL", 8 },
	[CTFS_DT_F4] = { "F4", 4 },
	[CTFS_DT_F6_E2M3] = { "F6_E2M3", 6 },
	[CTFS_DT_F6_E3M2] = { "F6_E3M2", 6 },
	[CTFS_DT_U8] = { "U8", 8 },
	[CTFS_DT_I8] = { "I8", 8 },
	[CTFS_DT_F8_E5M2] = { "F8_E5M2", 8 },
	[CTFS_DT_F8_E4M3] = { "F8_E4M3", 8 },
	[CTFS_DT_F8_E8M0] = { "F8_E8M0", 8 },
	[CTFS_DT_I16] = { "I16", 16 },
	[CTFS_DT_U16] = { "U16", 16 },
	[CTFS_DT_F16] = { "F16", 16 },
	[CTFS_DT_BF16] = { "BF16", 16 },
	[CTFS_DT_I32] = { "I32", 32 },
	[CTFS_DT_U32] = { "U32", 32 },
	[CTFS_DT_F32] = { "F32", 32 },
	[CTFS_DT_C64] = { "C64", 64 },
	[CTFS_DT_F64] = { "F64", 64 },
	[CTFS_DT_I64] = { "I64", 64 },
	[CTFS_DT_U64] = { "U64", 64 },
};

static int dtype_valid(enum ctfs_dtype dt)
{
	return (int)dt >= 0 && (int)dt < CTFS_DT_COUNT;
}

int ctfs_dtype_parse(const char *name, enum ctfs_dtype *out)
{
	if (!name)
		return -EINVAL;
	for (int i = 0; i < CTFS_DT_COUNT; i++) {
		if (strcmp(name, dtypes[i].name) == 0) {
			*out = (enum ctfs_dtype)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *ctfs_dtype_name(enum ctfs_dtype dt)
{
	return dtype_valid(dt) ? dtypes[dt].name : NULL;
}

unsigned int ctfs_dtype_bits(enum ctfs_dtype dt)
{
	return dtype_valid(dt) ? dtypes[dt].bits : 0;
}

int ctfs_tensor_nbytes(enum ctfs_dtype dt, const uint64_t *shape, size_t ndim, uint64_t *out)
{
	uint64_t n = 1, bits;

	if (!dtype_valid(dt) || (ndim && !shape))
		return -EINVAL;
	/* Same order of operations as upstream, so that the same shapes overflow. */
	for (size_t i = 0; i < ndim; i++) {
		if (ctfs_mul_overflow(n, shape[i], &n))
			return -EOVERFLOW;
	}
	if (ctfs_mul_overflow(n, dtypes[dt].bits, &bits))
		return -EOVERFLOW;
	if (bits % 8)
		return -EINVAL;
	*out = bits / 8;
	return 0;
}
