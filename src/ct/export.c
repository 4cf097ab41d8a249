#include "ct/export.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sys/atomic_file.h"
#include "util.h"

int ctfs_model_export(struct ctfs_model *m, const char *out_path, mode_t mode,
		      struct ctfs_ct_check *c, char *err, size_t errlen)
{
	struct ctfs_afile f;
	int rc;

	if (!ctfs_model_is_encrypted(m) || !m->unlocked) {
		ctfs_seterr(err, errlen, "not an unlocked CryptoTensors file");
		return -EINVAL;
	}
	rc = ctfs_afile_create(&f, out_path, mode, err, errlen);
	if (rc)
		return rc;
	rc = ctfs_afile_reserve(&f, m->view_size, err, errlen);
	if (!rc) {
		rc = ctfs_pwrite_full(f.fd, m->view_hdr.data, m->view_hdr.len, 0);
		if (rc)
			ctfs_seterr(err, errlen, "cannot write %s: %s", out_path, strerror(-rc));
	}
	if (!rc) {
		c->out_fd = f.fd;
		c->out_off = m->view_hdr.len;
		rc = ctfs_model_check_data(m, c, err, errlen);
		c->out_fd = -1;
	}
	if (!rc && ftruncate(f.fd, (off_t)m->view_size) < 0) {
		rc = -errno;
		ctfs_seterr(err, errlen, "cannot write %s: %s", out_path, strerror(-rc));
	}
	if (!rc)
		return ctfs_afile_commit(&f, err, errlen);
	ctfs_afile_abort(&f);
	return rc;
}
