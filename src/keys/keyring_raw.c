#include "keys/keyring_raw.h"

#include <errno.h>

#include "crypto/secmem.h"

/* The kernel's limit for user key payloads. */
#define PAYLOAD_MAX 32767

int ctfs_keyring_get_raw(key_serial_t ring, const char *desc, char **payload, size_t *len)
{
	key_serial_t id = keyctl_search(ring, "user", desc, 0);

	if (id < 0)
		return errno == ENOKEY ? -ENOKEY : -errno;
	/* sized first, then read; a payload updated in between is read again */
	for (int attempt = 0; attempt < 3; attempt++) {
		long size = keyctl_read(id, NULL, 0), got;
		char *buf;

		if (size < 0)
			return -errno;
		if (size > PAYLOAD_MAX)
			return -EFBIG;
		buf = ctfs_secure_alloc((size_t)size + 1);
		if (!buf)
			return -ENOMEM;
		got = keyctl_read(id, buf, (size_t)size);
		if (got >= 0 && got <= size) {
			buf[got] = 0;
			*payload = buf;
			*len = (size_t)got;
			return 0;
		}
		ctfs_secure_free(buf);
		if (got < 0)
			return -errno;
	}
	return -EAGAIN;
}
