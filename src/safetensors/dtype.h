/* safetensors element types: names as they appear in headers, and sizes. */
#ifndef CTFS_DTYPE_H
#define CTFS_DTYPE_H

#include <stddef.h>
#include <stdint.h>

/* The variants of upstream's Dtype enum, in its order (increasing alignment). */
enum ctfs_dtype {
	CTFS_DT_BOOL,
	CTFS_DT_F4,
	CTFS_DT_F6_E2M3,
	CTFS_DT_F6_E3M2,
	CTFS_DT_U8,
	CTFS_DT_I8,
	CTFS_DT_F8_E5M2,
	CTFS_DT_F8_E4M3,
	CTFS_DT_F8_E8M0,
	CTFS_DT_I16,
	CTFS_DT_U16,
	CTFS_DT_F16,
	CTFS_DT_BF16,
	CTFS_DT_I32,
	CTFS_DT_U32,
	CTFS_DT_F32,
	CTFS_DT_C64,
	CTFS_DT_F64,
	CTFS_DT_I64,
	CTFS_DT_U64,
};

#define CTFS_DT_COUNT ((int)CTFS_DT_U64 + 1)

/* Exact, case-sensitive match of a header "dtype" string; -EINVAL if unknown. */
int ctfs_dtype_parse(const char *name, enum ctfs_dtype *out);
/* The header spelling, or NULL for a value outside the enum. */
const char *ctfs_dtype_name(enum ctfs_dtype dt);
/* Bits per element (BOOL = 8, F4 = 4, F6_* = 6, C64 = 64); 0 outside the enum. */
unsigned int ctfs_dtype_bits(enum ctfs_dtype dt);

/*
 * Byte size of a tensor, computed as upstream does: the element count is
 * folded left to right over shape with a checked multiply, then multiplied by
 * the element's bit size. -EOVERFLOW if any step overflows 64 bits (even if a
 * later dimension is 0), -EINVAL if the bits do not fill whole bytes (F4/F6
 * tensors whose element count makes a partial byte) or dt is not a dtype.
 */
int ctfs_tensor_nbytes(enum ctfs_dtype dt, const uint64_t *shape, size_t ndim, uint64_t *out);

#endif
