/* errname.h - errno values by name, for the test helpers' output ("EEXIST" compares equal on a real writable file
 * and under the shim, where strerror's text would tie the tests to one libc's wording). */
#ifndef PS_TEST_ERRNAME_H
#define PS_TEST_ERRNAME_H

#include <errno.h>

static const char *errname(int e)
{
	switch (e) {
#define E(x)                                                                                                       \
	case x:                                                                                                    \
		return #x;
		E(EPERM) E(ENOENT) E(EIO) E(EBADF) E(EAGAIN) E(EACCES) E(EEXIST) E(ENOTDIR) E(EISDIR) E(EINVAL)
		E(ENOSPC) E(EROFS) E(ENXIO) E(ENOLCK) E(EDEADLK) E(ESTALE) E(EILSEQ) E(EPROTO) E(EFBIG) E(ENOSYS)
		E(EOPNOTSUPP) E(ENAMETOOLONG) E(ELOOP) E(ETXTBSY) E(EFAULT) E(EINTR) E(EMFILE) E(ENOMEM)
		E(ENOEXEC) E(ESPIPE) E(EXDEV) E(ENOTEMPTY) E(EBUSY) E(EMLINK) E(ENODATA) E(ERANGE)
#undef E
	default:
		return "E?";
	}
}

#endif
