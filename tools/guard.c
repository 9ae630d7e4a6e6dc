/* guard.c - Landlock and seccomp for pageshadow-run (see guard.h).
 *
 * Landlock grants rights per subtree and a grant applies to everything below it: a subtree cannot be carved out
 * of a granted directory. So the write rights are granted on every entry of every directory above a prefix,
 * except the entries that lead to a prefix. Two consequences, documented in the README: nothing can be created
 * directly inside a directory above a prefix (its own entries are writable, it is not), and an entry created
 * there after start-up has no rights. pageshadow-run points TMPDIR at the shadow when /tmp is such a directory.
 */
#include "guard.h"
#include "path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3, Linux 6.2 */
#endif

#define WRITE_RIGHTS_FILE (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE)

static __u64 handled_rights(int abi)
{
	__u64 r = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
		  LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
		  LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		  LANDLOCK_ACCESS_FS_MAKE_SYM;

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	return r;
}

/* Is path a prefix, a directory above one, or inside one (nested prefixes: -r /a -r /a/b)? No rights there. */
static int near_prefix(const struct ps_config *cfg, const char *path)
{
	for (int i = 0; i < cfg->nprefix; i++)
		if (ps_path_below(cfg->prefix[i].path, path) || ps_path_below(path, cfg->prefix[i].path))
			return 1;
	return 0;
}

static int add_rule(int ruleset, const char *path, __u64 rights)
{
	struct landlock_path_beneath_attr attr = { 0 };
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW), rc = 0;

	if (fd < 0)
		return errno == ENOENT || errno == EACCES ? 0 : -errno; /* gone meanwhile, or not ours to see */
	if (fstat(fd, &st) == 0 && !S_ISLNK(st.st_mode)) {
		attr.parent_fd = fd;
		attr.allowed_access = S_ISDIR(st.st_mode) ? rights : rights & WRITE_RIGHTS_FILE;
		if (attr.allowed_access &&
		    syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) < 0)
			rc = -errno;
	}
	close(fd);
	return rc;
}

/* Grant rights on every entry of dir that does not lead to a prefix. */
static int grant_siblings(int ruleset, const struct ps_config *cfg, const char *dir, __u64 rights)
{
	char path[PATH_MAX];
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d) /* a directory we cannot list (mode 0711): its entries keep no rights, which only refuses more */
		return errno == EACCES ? 0 : -errno;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "", e->d_name) >= (int)sizeof(path))
			continue;
		if (!near_prefix(cfg, path))
			rc = add_rule(ruleset, path, rights);
	}
	closedir(d);
	return rc;
}

/* Every directory above a prefix, each once: "/" and then each ancestor of each prefix. */
static int grant_around_prefixes(int ruleset, const struct ps_config *cfg, __u64 rights)
{
	char dir[PATH_MAX];
	int rc = grant_siblings(ruleset, cfg, "/", rights);

	for (int i = 0; rc == 0 && i < cfg->nprefix; i++) {
		const char *p = cfg->prefix[i].path;

		for (const char *s = strchr(p + 1, '/'); rc == 0 && s; s = strchr(s + 1, '/')) {
			int seen = 0;

			memcpy(dir, p, (size_t)(s - p));
			dir[s - p] = '\0';
			for (int j = 0; j < cfg->nprefix && !seen; j++) /* done for an earlier prefix, or inside one */
				seen = (j < i && ps_path_below(cfg->prefix[j].path, dir)) ||
				       (j != i && ps_path_below(dir, cfg->prefix[j].path));
			if (!seen)
				rc = grant_siblings(ruleset, cfg, dir, rights);
		}
	}
	return rc;
}

static int restrict_self(int ruleset)
{
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) == 0)
		return 0;
	if (errno != EPERM)
		return -errno;
	/* Without CAP_SYS_ADMIN the kernel wants no_new_privs: setuid programs lose their privilege inside. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return syscall(SYS_landlock_restrict_self, ruleset, 0) == 0 ? 0 : -errno;
}

static int apply_landlock(const struct ps_config *cfg, char *why, size_t whysz)
{
	struct landlock_ruleset_attr attr = { 0 };
	int abi, ruleset, rc;

	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0) {
		snprintf(why, whysz, "this kernel has no Landlock (%s): only the shim keeps writes off the lower tree",
			 errno == EOPNOTSUPP ? "disabled at boot" : strerror(errno));
		return 1;
	}
	attr.handled_access_fs = handled_rights(abi);
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0) {
		snprintf(why, whysz, "Landlock ruleset: %s", strerror(errno));
		return -errno;
	}
	rc = grant_around_prefixes(ruleset, cfg, attr.handled_access_fs);
	if (rc == 0)
		rc = restrict_self(ruleset);
	close(ruleset);
	if (rc < 0)
		snprintf(why, whysz, "Landlock: %s", strerror(-rc));
	return rc;
}

/* io_uring_setup and io_setup (Linux AIO: io_submit reads and writes a descriptor with no call the shim sees)
 * fail with ENOSYS; everything else is allowed. x32 programs on x86_64 add their bit to the numbers. */
#define X32_SYSCALL_BIT 0x40000000u
static int apply_seccomp(char *why, size_t whysz)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup | X32_SYSCALL_BIT, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_setup, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_setup | X32_SYSCALL_BIT, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
		return 0;
	if (errno == EACCES && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
		return 0;
	snprintf(why, whysz, "seccomp filter for io_uring and Linux AIO: %s", strerror(errno));
	return -errno;
}

int ps_guard_apply(const struct ps_config *cfg, unsigned without, char *why, size_t whysz)
{
	int rc = apply_landlock(cfg, why, whysz);
	char swhy[256];

	if (rc < 0 || (without & PS_GUARD_WITHOUT_IO_URING_FILTER))
		return rc;
	if (apply_seccomp(swhy, sizeof(swhy)) < 0) {
		snprintf(why, whysz, "%s", swhy);
		return -EPERM;
	}
	return rc;
}
