/*
 * atomicfile: see atomicfile.h. The temp file is opened O_NOFOLLOW|O_TRUNC, so a
 * stale or planted ".NAME.tmp" symlink is never followed; on any failure the temp
 * file is removed and the old DIR/NAME stays as it was.
 */
#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"

int atomicfile_mkdir(const char *path, struct err *e)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return err_set(e, ERR_IO, "cannot create %s: %s", path, ERR_ERRNO(errno));
	if (stat(path, &st) < 0)
		return err_set(e, ERR_IO, "cannot stat %s: %s", path, ERR_ERRNO(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(e, ERR_IO, "%s exists and is not a folder", path);
	return 0;
}

void atomicfile_sync_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0 || fsync(dfd) < 0)
		log_warn("fsync_dir", "dir=%s errno=%d", log_q(dir), errno);
	if (dfd >= 0)
		close(dfd);
}

int atomicfile_write(const char *dir, const char *name, const char *data, size_t len,
                     unsigned flags, struct err *e)
{
	char *tmp = xasprintf("%s/.%s.tmp", dir, name);
	char *dst = xasprintf("%s/%s", dir, name);
	int fd = -1, rc = -1;
	size_t off = 0;
	struct stat st;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err_set(e, ERR_IO, "cannot create %s: %s", tmp, ERR_ERRNO(errno));
		goto out;
	}
	if ((flags & ATOMICFILE_DIR_OWNER) != 0 && geteuid() == 0 && stat(dir, &st) == 0 &&
	    st.st_uid != 0 && fchown(fd, st.st_uid, st.st_gid) < 0) {
		err_set(e, ERR_IO, "cannot give %s to uid %u: %s", tmp, (unsigned)st.st_uid,
		        ERR_ERRNO(errno));
		goto out;
	}
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err_set(e, ERR_IO, "cannot write %s: %s", tmp, ERR_ERRNO(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0) {
		err_set(e, ERR_IO, "fsync %s: %s", tmp, ERR_ERRNO(errno));
		goto out;
	}
	if (rename(tmp, dst) < 0) {
		err_set(e, ERR_IO, "cannot rename %s: %s", tmp, ERR_ERRNO(errno));
		goto out;
	}
	atomicfile_sync_dir(dir);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	free(dst);
	return rc;
}
