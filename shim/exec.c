/* exec.c - execve and the rest of the exec family, fexecve, execveat, posix_spawn and posix_spawnp.
 *
 * Entry points: the wrappers (symbols.def), ps_exec_init.
 * The kernel reads the file it executes itself, so the shim decides before the call what it should read:
 *  - a file with no shadow state (outside the prefixes, or a lower file never written) runs as it is;
 *  - a shadowed #! script runs its interpreter with the script's own name as the argument, exactly as the kernel
 *    would: a shimmed interpreter then reads the merged script, and $0 stays the name the caller used;
 *  - a shadowed program whose bytes all live in the data file (created or rewritten in the shadow) runs from the
 *    data file itself: no copy, whatever its size;
 *  - a program with lower pages still showing through runs from a merged copy in DIR/exec/, which the new
 *    process's shim removes as it starts (PAGESHADOW_EXEC_TEMP).
 * Every new program gets the shim back in its environment when the caller dropped it (env -i, a cleared
 * environment), and one the shim cannot enter - static, another machine, another loader - is refused with
 * EACCES and one line saying why, unless PAGESHADOW_ALLOW_UNSHIMMED=1 (pageshadow-run --allow-unshimmed).
 * glibc's own execvp, system and popen reach execve internally; execvp and friends are re-implemented here on
 * top of the planning step, and system/popen run /bin/sh, whose own shim does the same for the command.
 * A vfork child (Python's subprocess) shares its parent's memory but not its descriptors: planning opens a
 * shadow and file objects of its own there and closes them before the exec, so the parent's tables stay true.
 */
#include "shim.h"
#include "sv.h"
#include "exec.h"
#include "log.h"
#include "merge.h"
#include "path.h"
#include "snapshot.h"
#include "sys.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXEC_TEMP_ENV "PAGESHADOW_EXEC_TEMP"
#define MAX_INTERP_DEPTH 5 /* the kernel's limit on interpreter nesting (exec_binprm) */
#define PS_AT_FROM_CLOEXEC_FD 0x40000000 /* internal: the name stands for a close-on-exec fd (fexecve) */

/* The variables a new program needs to run under the shim, as they were when this process started. */
static const char *const carried_names[] = { "PAGESHADOW_RO", "PAGESHADOW_DIR", "PAGESHADOW_DEBUG",
					     "PAGESHADOW_DENY", "PAGESHADOW_LOG", "PAGESHADOW_ALLOW_UNSHIMMED",
					     "PAGESHADOW_TRAP" };
#define NCARRIED (sizeof(carried_names) / sizeof(carried_names[0]))
static char *carried[NCARRIED]; /* "NAME=value", or NULL when unset at start-up */
static char carried_buf[4096];  /* their copies: no malloc at start-up (a first malloc costs system calls) */
static const char *self_lib;    /* this library's absolute path as loaded (made absolute at start-up if not) */
static char *audit_lib;         /* libpageshadow-audit.so beside it, when there */
static char *spawn_helper;      /* pageshadow-exec beside it, when there: posix_spawn of a supervised program */
static pthread_once_t libs_once = PTHREAD_ONCE_INIT;
static void find_libraries(void);
static int allow_unshimmed;

static void remove_exec_temp(void)
{
	const char *temp = getenv(EXEC_TEMP_ENV);

	if (!temp)
		return;
	/* The kernel has mapped the program already; the name was only the way in. */
	ps_snapshot_remove(ps_cfg.shadow, temp);
	unsetenv(EXEC_TEMP_ENV);
}

/* fork's prepare handler, in the parent: what every child's exec would otherwise redo on its own copy - finding
 * the audit module, opening the shadow (its FORMAT page says whether libraries are shadowed), binding the exec
 * calls - is done once here, so that a shell's fork and exec loop pays it once and its children inherit it. */
static void warm_for_children(void)
{
	if (!ps_shadow_if_open() && REAL(faccessat)(AT_FDCWD, ps_cfg.shadow, F_OK, 0) != 0)
		return; /* never make the shadow for a program that only forks */
	if (!ps_enter())
		return;
	pthread_once(&libs_once, find_libraries);
	(void)ps_shadow_get();
	(void)REAL(execve);
	ps_leave();
}

/* The environment strings are copied at start-up, before the program can change them; whether the audit module
 * lies beside this library is found on the first exec (find_libraries): most processes never exec. */
void ps_exec_init(void)
{
	char abs[PATH_MAX];
	size_t used = 0;
	Dl_info info;

	/* A relative LD_PRELOAD would mean something else after a chdir: make it absolute now (rare: pageshadow-run
	 * gives an absolute one, and dladdr itself makes no system call). */
	if (dladdr((void *)ps_exec_init, &info) && info.dli_fname)
		self_lib = info.dli_fname[0] == '/' ? info.dli_fname
						   : realpath(info.dli_fname, abs) ? strdup(abs) : NULL;
	for (size_t i = 0; i < NCARRIED; i++) {
		const char *v = getenv(carried_names[i]);
		size_t n = strlen(carried_names[i]), len;

		if (!v)
			continue;
		len = n + strlen(v) + 2;
		if (len <= sizeof(carried_buf) - used) {
			carried[i] = carried_buf + used;
			used += len;
		} else if (!(carried[i] = malloc(len))) {
			continue;
		}
		memcpy(carried[i], carried_names[i], n);
		carried[i][n] = '=';
		strcpy(carried[i] + n + 1, v);
	}
	allow_unshimmed = getenv("PAGESHADOW_ALLOW_UNSHIMMED") && strcmp(getenv("PAGESHADOW_ALLOW_UNSHIMMED"), "1") == 0;
	remove_exec_temp();
	pthread_atfork(warm_for_children, NULL, NULL);
}

static void find_libraries(void)
{
	char abs[PATH_MAX];
	char *slash;

	if (!self_lib || strlen(self_lib) >= sizeof(abs))
		return;
	strcpy(abs, self_lib);
	slash = strrchr(abs, '/');
	if (!slash || (size_t)(slash - abs) + sizeof("/libpageshadow-audit.so") > sizeof(abs))
		return;
	strcpy(slash, "/libpageshadow-audit.so");
	if (access(abs, R_OK) == 0)
		audit_lib = strdup(abs);
	strcpy(slash, "/pageshadow-exec");
	if (access(abs, X_OK) == 0)
		spawn_helper = strdup(abs);
}

/* ---- the environment ---- */

static const char *env_find(char *const envp[], const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
			return envp[i] + n + 1;
	return NULL;
}

/* --deny and --log hold for the whole process tree: a new program gets this one's values of their variables even
 * where its environment says otherwise (PAGESHADOW_DENY=0 would switch the refusals off). */
static int imposed(size_t i)
{
	return carried[i] && (strcmp(carried_names[i], "PAGESHADOW_DENY") == 0 ||
			      strcmp(carried_names[i], "PAGESHADOW_LOG") == 0);
}

/* Does the new program's environment need carried[i] added (missing, or an imposed one it may not choose)? */
static int carried_needed(char *const envp[], size_t i)
{
	return carried[i] && (imposed(i) || !env_find(envp, carried_names[i]));
}

/* Is the entry "NAME=value" one of an imposed variable (dropped: this process's value replaces it)? */
static int imposed_entry(const char *entry)
{
	for (size_t i = 0; i < NCARRIED; i++) {
		size_t n = strlen(carried_names[i]);

		if (imposed(i) && strncmp(entry, carried_names[i], n) == 0 && entry[n] == '=')
			return 1;
	}
	return 0;
}

/* Where a list of libraries names lib, or NULL. ld.so splits LD_PRELOAD at ':' and blanks, LD_AUDIT at ':'. */
#define PRELOAD_SEPARATORS ": \t"
#define AUDIT_SEPARATORS ":"
static const char *list_find(const char *list, const char *lib, const char *seps)
{
	size_t n = strlen(lib);

	for (const char *p = list; (p = strstr(p, lib)) != NULL; p += n)
		if ((p == list || strchr(seps, p[-1])) && (p[n] == '\0' || strchr(seps, p[n])))
			return p;
	return NULL;
}

/* A plan's strings and arrays live in an arena inside the plan, on the caller's stack: in a vfork child the heap is
 * the parent's, and whatever a successful exec leaves there would stay allocated in the parent. Only what does not
 * fit (a huge environment) goes to malloc. */
#define PLAN_ARENA 8192
#define PLAN_HEAP 8

struct exec_plan {
	const char *path;   /* what the kernel is given */
	char *const *argv;
	char *const *envp;
	char file[PATH_MAX]; /* a file holding a shadowed program's merged bytes ("" when none) */
	int file_is_copy;    /* a merged copy, removed if the exec fails; else the program's data file */
	int force_copy;      /* run a copy even when the data file holds every byte */
	int in_tree;         /* the program that runs lies under a prefix: its libraries may too (audit.c) */
	int script_enoent;   /* fexecve of a close-on-exec fd: a script fails with ENOENT, as in the kernel */
	char fd_hint;        /* PS_FDS_EXEC, PS_FDS_SPAWN, or 0: tell the new program which descriptors to adopt */
	int may_supervise;   /* this exec can start a supervisor (not posix_spawn's child: glibc runs its exec) */
	int supervise;       /* the program needs one: the shim cannot enter it (sv.h) */
	int via_helper;      /* posix_spawn of a program that needs one: spawn pageshadow-exec, whose exec starts it */
	int roomy;           /* a supervised program the shadow changed or made: named with room (own_name) */
	size_t used;
	int nheap;
	void *heap[PLAN_HEAP];
	_Alignas(16) char arena[PLAN_ARENA];
};

static void *plan_alloc(struct exec_plan *p, size_t n);

/* "NAME=lib" or "NAME=lib:cur": lib put first in a list variable. NULL when out of memory. */
static char *plan_prepend(struct exec_plan *p, const char *name, const char *lib, const char *cur);

static void *plan_alloc(struct exec_plan *p, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n <= sizeof(p->arena) - p->used) {
		p->used += n;
		return p->arena + p->used - n;
	}
	if (p->nheap >= PLAN_HEAP)
		return NULL;
	return p->heap[p->nheap++] = malloc(n);
}

static char *plan_strdup(struct exec_plan *p, const char *s)
{
	char *d = plan_alloc(p, strlen(s) + 1);

	return d ? strcpy(d, s) : NULL;
}

static char *plan_prepend(struct exec_plan *p, const char *name, const char *lib, const char *cur)
{
	int more = cur && *cur;
	size_t len = strlen(name) + strlen(lib) + (more ? strlen(cur) + 1 : 0) + 2;
	char *s = plan_alloc(p, len);

	if (s)
		snprintf(s, len, "%s=%s%s%s", name, lib, more ? ":" : "", more ? cur : "");
	return s;
}

/* Has a shared library been given shadow state (PS_SHADOW_HAS_LIBRARIES)? Then any program may load one. The
 * flag is read from the shared FORMAT page: the process's own mapping when it has one (a vfork child reads its
 * parent's), else a read-only look that creates nothing and says nothing when there is no usable shadow. */
static int libraries_shadowed(void)
{
	struct ps_shadow look, *sh = ps_shadow_if_open();
	char why[256];
	int yes;

	if (sh)
		return (ps_shadow_flags(sh) & PS_SHADOW_HAS_LIBRARIES) != 0;
	if (ps_shadow_open(&look, ps_cfg.shadow, 0, why, sizeof(why)) < 0)
		return 0;
	yes = (ps_shadow_flags(&look) & PS_SHADOW_HAS_LIBRARIES) != 0;
	ps_shadow_close(&look);
	return yes;
}

/* LD_AUDIT for the new program: with the audit module for a program under a prefix, or for any program once a
 * shared library has shadow state; without it otherwise (the module costs about 1 ms per process start here:
 * docs/PERFORMANCE.md). NULL: leave the variable as it is; "": remove it. */
static const char *plan_audit(struct exec_plan *p, const char *cur)
{
	const char *at = cur && audit_lib ? list_find(cur, audit_lib, AUDIT_SEPARATORS) : NULL;
	int want = audit_lib && (p->in_tree || libraries_shadowed());
	size_t n, len;
	char *s;

	if (!audit_lib || (want ? at != NULL : at == NULL))
		return NULL;
	if (want)
		return plan_prepend(p, "LD_AUDIT", audit_lib, cur);
	n = strlen(audit_lib);
	len = strlen(cur) + 10;
	if (!(s = plan_alloc(p, len)))
		return NULL;
	snprintf(s, len, "LD_AUDIT=%.*s%s", (int)(at - cur), cur, at[n] ? at + n + 1 : "");
	n = strlen(s);
	while (n > 9 && s[n - 1] == ':') /* the separator before a removed last entry */
		s[--n] = '\0';
	return n > 9 ? s : "";
}

/* PS_FDS_ENV for the new program: the descriptors this process's table tracks, which are all it can inherit
 * that the shim must know (fdtable.c), or NULL - then the new shim reads /proc/self/fd. Never from a vfork child:
 * the dups it makes before its exec are not in its parent's table. */
static const char *plan_fd_hint(struct exec_plan *p)
{
	char list[1024], *hint, *out;

	if (!p->fd_hint || !ps_fd_table_is_ours() || ps_fd_list(list, sizeof(list)) < 0)
		return NULL;
	if (!(hint = plan_alloc(p, sizeof(PS_FDS_ENV) + 24 + strlen(list))))
		return NULL;
	memcpy(hint, PS_FDS_ENV "=", sizeof(PS_FDS_ENV));
	out = hint + sizeof(PS_FDS_ENV);
	*out++ = p->fd_hint;
	out = ps_put_uint(out, (unsigned long)getpid());
	*out++ = ':';
	strcpy(out, list);
	return hint;
}

/* The caller's environment with what the shim needs put back: LD_PRELOAD naming this library first, the
 * PAGESHADOW_ variables the process started with, LD_AUDIT as plan_audit says, the descriptor hint (never the
 * caller's own: it described this process) and extra ("NAME=value" or NULL). A new array only when something
 * changes. */
static int plan_env(struct exec_plan *p, char *const envp[], const char *extra)
{
	const char *pre = env_find(envp, "LD_PRELOAD");
	const char *audit = plan_audit(p, env_find(envp, "LD_AUDIT"));
	const char *hint = plan_fd_hint(p), *old_hint = env_find(envp, PS_FDS_ENV);
	int need_pre = self_lib && (!pre || !list_find(pre, self_lib, PRELOAD_SEPARATORS));
	size_t n = 0, add = 0, k = 0;
	char **env;

	for (size_t i = 0; i < NCARRIED; i++)
		add += carried_needed(envp, i);
	p->envp = envp;
	if (!need_pre && !add && !extra && !audit && !hint && !old_hint)
		return 0;
	while (envp && envp[n])
		n++;
	if (!(env = plan_alloc(p, (n + NCARRIED + 5) * sizeof(char *))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if ((!need_pre || strncmp(envp[i], "LD_PRELOAD=", 11) != 0) &&
		    (!audit || strncmp(envp[i], "LD_AUDIT=", 9) != 0) &&
		    strncmp(envp[i], PS_FDS_ENV "=", sizeof(PS_FDS_ENV)) != 0 && !imposed_entry(envp[i]))
			env[k++] = envp[i];
	if (hint)
		env[k++] = (char *)hint;
	if (need_pre && !(env[k++] = plan_prepend(p, "LD_PRELOAD", self_lib, pre)))
		return -ENOMEM;
	if (audit && *audit)
		env[k++] = (char *)audit;
	for (size_t i = 0; i < NCARRIED; i++)
		if (carried_needed(envp, i))
			env[k++] = carried[i];
	if (extra && !(env[k++] = plan_strdup(p, extra)))
		return -ENOMEM;
	env[k] = NULL;
	p->envp = env;
	return 0;
}

static void plan_free(struct exec_plan *p)
{
	if (p->file_is_copy)
		ps_snapshot_remove(ps_cfg.shadow, p->file);
	for (int i = 0; i < p->nheap; i++)
		free(p->heap[i]);
}

/* ---- what the file is ---- */

/* A program the shim cannot enter: a static or Go one runs under a supervisor, started by this exec or, for
 * posix_spawn (glibc execs inside libc), by the exec of pageshadow-exec spawned in its place; anything else
 * (another machine or loader) is refused. */
static int refuse_unshimmable(struct exec_plan *p, const char *path, const struct ps_exec_info *info)
{
	const char *why = ps_exec_why_unshimmable(info);

	if (!why || allow_unshimmed)
		return 0;
	if (info->format == PS_EXEC_STATIC || info->format == PS_EXEC_GO) {
		if (p->may_supervise)
			p->supervise = 1;
		else if (spawn_helper)
			p->via_helper = 1;
	}
	if (p->supervise || p->via_helper)
		return 0;
	if (!p->may_supervise && (info->format == PS_EXEC_STATIC || info->format == PS_EXEC_GO)) {
		ps_refusal("refusing to spawn %s: it %s and pageshadow-exec, which would start its supervisor, is not "
			   "beside %s",
			   path, why, self_lib ? self_lib : "libpageshadow.so");
		return -EACCES;
	}
	ps_refusal("refusing to run %s: it %s, so LD_PRELOAD cannot enter it and it would read and write the "
		 "read-only tree unseen (PAGESHADOW_ALLOW_UNSHIMMED=1, or pageshadow-run --allow-unshimmed, runs it "
		 "anyway)",
		 path, why);
	return -EACCES;
}

/* A file with no shadow state: check that the shim can enter it. A file this process cannot read (mode 0711) is
 * left to the kernel. */
static int check_plain(struct exec_plan *p, int dirfd, const char *path, int at_flags)
{
	struct ps_exec_info info;
	int fd, rc;

	if ((at_flags & AT_EMPTY_PATH) && !*path) { /* fexecve: the descriptor itself (an O_PATH one cannot be read) */
		rc = ps_exec_inspect(ps_exec_read_fd, &dirfd, &info);
		return rc < 0 ? 0 : refuse_unshimmable(p, "the program behind a descriptor", &info);
	}
	fd = REAL(openat)(dirfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
					       ((at_flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0));
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? -errno : 0;
	rc = ps_exec_inspect(ps_exec_read_fd, &fd, &info);
	REAL(close)(fd);
	return rc < 0 ? 0 : refuse_unshimmable(p, path, &info);
}

static int plan_target(const char *shown, int dirfd, const char *path, int at_flags, char *const argv[],
		       struct exec_plan *p, int depth);

/* #!interp [arg] script args...: the kernel's own rewriting, done here so that the interpreter reads the
 * merged script under its real name. */
static int plan_script(const char *shown, const struct ps_exec_info *info, char *const argv[], struct exec_plan *p,
		       int depth)
{
	size_t argc = 0, k = 0;
	char **nargv;

	if (depth >= MAX_INTERP_DEPTH)
		return -ELOOP;
	while (argv && argv[argc])
		argc++;
	if (!(nargv = plan_alloc(p, (argc + 4) * sizeof(char *))) || !(nargv[k++] = plan_strdup(p, info->interp)))
		return -ENOMEM;
	if (info->has_arg && !(nargv[k++] = plan_strdup(p, info->arg)))
		return -ENOMEM;
	nargv[k++] = (char *)shown;
	for (size_t i = 1; i < argc; i++)
		nargv[k++] = argv[i];
	nargv[k] = NULL;
	p->argv = nargv;
	return plan_target(nargv[0], AT_FDCWD, nargv[0], 0, nargv, p, depth + 1);
}

/* The file with f's merged bytes, for the kernel or ld.so: its data file or a copy (p->file). */
static int plan_file(struct exec_plan *p, struct ps_file *f, int force_copy)
{
	int rc = ps_snapshot_file(f, force_copy, p->file, sizeof(p->file), &p->file_is_copy);

	if (rc < 0) {
		p->file[0] = '\0';
		p->file_is_copy = 0;
	} else if (p->file_is_copy) {
		ps_debug("%s: runs from a merged copy %s", f->path, p->file);
	}
	return rc;
}

/* A shadowed file: decide from its merged bytes. */
static int plan_shadowed(struct ps_file *f, const char *shown, char *const argv[], struct exec_plan *p, int depth)
{
	struct ps_exec_info info;
	struct stat st;
	int rc;

	if ((rc = ps_merge_stat(f, &st)) < 0)
		return rc;
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	if ((rc = ps_may_access(&st, X_OK, 1)) < 0)
		return rc;
	if ((rc = ps_exec_inspect(ps_merge_read_at, f, &info)) < 0)
		return rc;
	switch (info.format) {
	case PS_EXEC_SCRIPT:
		if (p->script_enoent) /* its interpreter could not open /dev/fd/N after the exec */
			return -ENOENT;
		return plan_script(shown, &info, argv, p, depth);
	case PS_EXEC_OTHER:
		return -ENOEXEC;
	default:
		if ((rc = refuse_unshimmable(p, f->path, &info)) < 0)
			return rc;
		if (p->via_helper) /* pageshadow-exec plans this exec again, merged copy and all */
			return 0;
		if (p->supervise) { /* the supervisor runs its merged bytes (sv_exec.c), from a copy of its own */
			p->roomy = 1;
			return 0;
		}
		break;
	}
	if ((rc = plan_file(p, f, p->force_copy)) < 0)
		return rc;
	p->path = p->file;
	return 0;
}

/* A shadowed file looked up for planning, with the shadow it came from: the process's own, or in a vfork child
 * one of the child's own, closed after planning (the parent's descriptors may be closed in the child already:
 * Python's close_fds; and its tables must not learn of the child's descriptors). */
struct plan_lookup {
	struct ps_shadow priv;
	int is_priv;
	struct ps_file *f;
};

/* 0 and lk->f set; -ENOENT when t has no shadow state (or there is no shadow yet); -errno when it cannot be
 * read. Release with lookup_done. */
static int lookup_target(const struct ps_target *t, struct plan_lookup *lk)
{
	struct ps_file_name name;
	struct ps_shadow *sh;
	char why[256];
	int rc;

	lk->is_priv = !ps_fd_table_is_ours();
	if (!lk->is_priv) {
		if (!(sh = ps_shadow_get()))
			return -EROFS;
	} else if ((rc = ps_shadow_open(&lk->priv, ps_cfg.shadow, 0, why, sizeof(why))) < 0) {
		lk->is_priv = 0;
		if (rc != -ENOENT)
			ps_error("shadow directory %s: %s", ps_cfg.shadow, why);
		return rc;
	} else {
		sh = &lk->priv;
	}
	ps_target_name(t, &name);
	rc = lk->is_priv ? ps_file_open_unshared(sh, &name, &lk->f) : ps_file_lookup(sh, &name, &lk->f);
	if (rc < 0 && lk->is_priv)
		ps_shadow_close(&lk->priv);
	return rc;
}

static void lookup_done(struct plan_lookup *lk)
{
	ps_file_put(lk->f);
	if (lk->is_priv)
		ps_shadow_close(&lk->priv);
}

/* Plan the exec of (dirfd, path); shown is the name a script's interpreter is given. 0 or -errno. A file under a
 * prefix whose shadow state cannot be read fails (EIO): running its lower bytes would be a silent wrong result. */
static int plan_target(const char *shown, int dirfd, const char *path, int at_flags, char *const argv[],
		       struct exec_plan *p, int depth)
{
	struct plan_lookup lk;
	struct ps_target t;
	int rc;

	p->path = path;
	p->in_tree = 0;
	if ((at_flags & AT_EMPTY_PATH) && !*path)
		return check_plain(p, dirfd, path, at_flags);
	rc = ps_resolve(dirfd, path, !(at_flags & AT_SYMLINK_NOFOLLOW), &t);
	if (ps_pass(path) != path) { /* through a symlink made in the shadow: the kernel runs where it leads */
		if (!(path = plan_strdup(p, ps_pass(path))))
			return -ENOMEM;
		p->path = path;
		dirfd = AT_FDCWD;
	}
	p->in_tree = rc > 0;
	if (rc <= 0)
		return rc < 0 ? rc : check_plain(p, dirfd, path, at_flags);
	if (dirfd != AT_FDCWD && path[0] != '/' && !(shown = plan_strdup(p, t.path)))
		return -ENOMEM; /* an interpreter is given a name it can open */
	rc = lookup_target(&t, &lk);
	if (rc == -ENOENT && t.ns.state != PS_NS_LOWER) /* deleted in the shadow, or a directory or FIFO of its own */
		return t.ns.state == PS_NS_DIR || t.ns.state == PS_NS_SPECIAL ? -EACCES : -ENOENT;
	if (rc == -ENOENT)
		return check_plain(p, dirfd, path, at_flags);
	if (rc < 0)
		return ps_errno_for_program(rc);
	rc = plan_shadowed(lk.f, shown, argv, p, depth);
	lookup_done(&lk);
	return ps_errno_for_program(rc);
}

/* glibc's dynamic loader, run as a program? */
static int is_loader(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return strncmp(base, "ld-linux", 8) == 0 || strncmp(base, "ld64.so", 7) == 0;
}

/* `ld.so [OPTION]... PROGRAM [ARG]...` (ldd runs it so) opens PROGRAM itself: a shadowed PROGRAM is replaced by a
 * file with its merged bytes, and its libraries come from the merged tree (the audit module). */
static int plan_loader_argument(struct exec_plan *p)
{
	static const char *const with_value[] = { "--library-path", "--inhibit-rpath", "--audit", "--preload",
						  "--argv0", "--glibc-hwcaps-prefix", "--glibc-hwcaps-mask" };
	struct plan_lookup lk;
	struct ps_target t;
	size_t i, argc;
	int rc, verify = 0;
	char **nargv;

	if (!p->argv || !p->argv[0])
		return 0;
	for (i = 1; p->argv[i] && strncmp(p->argv[i], "--", 2) == 0; i++) {
		verify |= strcmp(p->argv[i], "--verify") == 0;
		for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			if (strcmp(p->argv[i], with_value[k]) == 0 && p->argv[i + 1])
				i++;
	}
	if (!p->argv[i] || (rc = ps_resolve(AT_FDCWD, p->argv[i], 1, &t)) <= 0)
		return 0;
	p->in_tree = 1;
	if ((rc = lookup_target(&t, &lk)) < 0)
		return rc == -ENOENT ? 0 : ps_errno_for_program(rc);
	/* --verify reads the header and runs nothing (no audit module either, to remove a copy): the lower file says */
	if (!(verify && ps_merge_shows_lower(lk.f))) {
		for (argc = 0; p->argv[argc]; argc++)
			;
		if (!(nargv = plan_alloc(p, (argc + 1) * sizeof(char *))))
			rc = -ENOMEM;
		else if ((rc = plan_file(p, lk.f, 0)) == 0) {
			memcpy(nargv, p->argv, (argc + 1) * sizeof(char *));
			nargv[i] = p->file;
			p->argv = nargv;
		}
	}
	lookup_done(&lk);
	return ps_errno_for_program(rc);
}

/* posix_spawn of a program that needs the supervisor: spawn pageshadow-exec PATH ARGV... instead. */
static int plan_helper(struct exec_plan *p)
{
	size_t argc = 0;
	char **nargv;

	while (p->argv && p->argv[argc])
		argc++;
	if (!(nargv = plan_alloc(p, (argc + 3) * sizeof(char *))))
		return -ENOMEM;
	nargv[0] = spawn_helper;
	nargv[1] = (char *)p->path;
	for (size_t i = 0; i <= argc; i++)
		nargv[i + 2] = p->argv ? p->argv[i] : NULL;
	p->argv = nargv;
	p->path = spawn_helper;
	return 0;
}

/* Plan a whole exec: the target, then the environment (which names a merged copy for the new shim to remove). */
static int plan_exec(int dirfd, const char *path, int at_flags, char *const argv[], char *const envp[],
		     struct exec_plan *p, int force_copy, char fd_hint)
{
	char extra[PATH_MAX + 32];
	int rc;

	pthread_once(&libs_once, find_libraries);
	memset(p, 0, offsetof(struct exec_plan, arena));
	p->force_copy = force_copy;
	p->fd_hint = fd_hint;
	p->may_supervise = fd_hint == PS_FDS_EXEC;
	p->script_enoent = (at_flags & PS_AT_FROM_CLOEXEC_FD) != 0;
	at_flags &= ~PS_AT_FROM_CLOEXEC_FD;
	p->argv = argv;
	p->envp = envp;
	rc = plan_target(path, dirfd, path, at_flags, argv, p, 0);
	if (rc == 0 && !p->in_tree && p->path == path && is_loader(path))
		rc = plan_loader_argument(p);
	if (rc == 0 && p->via_helper)
		rc = plan_helper(p);
	if (rc < 0)
		return rc;
	if (p->file_is_copy)
		snprintf(extra, sizeof(extra), EXEC_TEMP_ENV "=%s", p->file);
	return plan_env(p, envp, p->file_is_copy ? extra : NULL);
}

/* ---- the wrappers ---- */

/* Run it again from a merged copy? When the kernel said ETXTBSY of a data file (someone holds it open for
 * writing: every shim that uses the file does) on the first try. */
static int retry_with_copy(const struct exec_plan *p, int rc, int force_copy)
{
	return rc == -ETXTBSY && p->file[0] && !p->file_is_copy && !force_copy;
}

/* The supervisor runs a program the shadow changed or made by a name it writes over the program's string
 * ("/dev/fd/M/BASE", sv_exec.c): the shim gives a supervised exec a string of its own - a vfork parent's memory,
 * argv[0], must keep theirs - and for such a program one with room: "./" or "/" repeated before the name, which
 * names the same file (the program's own "./a.out" has none). */
static const char *own_name(const char *path, int roomy, char *buf, size_t bufsz)
{
	const char *base = strrchr(path, '/');
	size_t n = strlen(path), want = roomy ? strlen(base ? base + 1 : path) + 24 : 0, k = 0; /* (/proc/self/fd/N/) */

	if (!*path || n >= bufsz || want >= bufsz)
		return path;
	while (k + n < want)
		k += (size_t)snprintf(buf + k, bufsz - k, "%s", path[0] == '/' ? "/" : "./");
	memcpy(buf + k, path, n + 1);
	return buf;
}

/* The guard is dropped before the exec: in a vfork child this thread's guard flag is its parent's. */
static int exec_at(int dirfd, const char *path, char *const argv[], char *const envp[], int at_flags)
{
	char own[PATH_MAX + 64];
	struct exec_plan plan;
	int saved = errno, rc;

	for (int force_copy = 0;; force_copy = 1) {
		if (!ps_enter())
			return dirfd == AT_FDCWD && !at_flags ? REAL(execve)(path, argv, envp)
							      : REAL(execveat)(dirfd, path, argv, envp, at_flags);
		rc = plan_exec(dirfd, path, at_flags, argv, envp, &plan, force_copy, PS_FDS_EXEC);
		ps_leave();
		if (rc == 0 && plan.supervise)
			rc = ps_sv_prepare_exec(plan.path);
		if (rc == 0) {
			ps_trap_before_exec();
			errno = saved;
			const char *name = plan.supervise ? own_name(plan.path, plan.roomy, own, sizeof(own)) : plan.path;

			if (plan.path == path && (dirfd != AT_FDCWD || at_flags))
				REAL(execveat)(dirfd, name, plan.argv, plan.envp, at_flags & ~PS_AT_FROM_CLOEXEC_FD);
			else
				REAL(execve)(name, plan.argv, plan.envp);
			rc = -errno;
			ps_trap_after_exec_failed();
		}
		plan_free(&plan);
		if (!retry_with_copy(&plan, rc, force_copy))
			break;
	}
	errno = -rc;
	return -1;
}

int execve(const char *path, char *const argv[], char *const envp[])
{
	return exec_at(AT_FDCWD, path, argv, envp, 0);
}

int execv(const char *path, char *const argv[])
{
	return exec_at(AT_FDCWD, path, argv, environ, 0);
}

int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	struct ps_open *o;
	char fdpath[PATH_MAX];
	int cloexec;

	if (!(flags & AT_EMPTY_PATH) || *path)
		return exec_at(dirfd, path, argv, envp, flags);
	/* fexecve: a shadowed file's descriptor runs by its name, any other as it is */
	o = ps_fd_get(dirfd);
	if (!o || !o->file) {
		if (o)
			ps_open_put(o);
		return exec_at(dirfd, path, argv, envp, flags);
	}
	snprintf(fdpath, sizeof(fdpath), "%s", o->path);
	ps_open_put(o);
	cloexec = (REAL(fcntl)(dirfd, F_GETFD) & FD_CLOEXEC) ? PS_AT_FROM_CLOEXEC_FD : 0;
	return exec_at(AT_FDCWD, fdpath, argv, envp, cloexec);
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
	return execveat(fd, "", argv, envp, AT_EMPTY_PATH);
}

/* glibc's execvpe: search PATH (the caller's, not envp's) unless file has a slash; a file the kernel cannot run
 * (ENOEXEC) runs under /bin/sh; EACCES is remembered and reported when nothing else ran. */
static void exec_as_shell_script(const char *file, char *const argv[], char *const envp[])
{
	size_t argc = 0;

	while (argv[argc])
		argc++;
	{
		char *sargv[argc + 3];
		size_t k = 0;

		sargv[k++] = (char *)"/bin/sh";
		sargv[k++] = (char *)file;
		for (size_t i = 1; i < argc; i++)
			sargv[k++] = argv[i];
		sargv[k] = NULL;
		exec_at(AT_FDCWD, "/bin/sh", sargv, envp, 0);
	}
}

static void exec_or_script(const char *file, char *const argv[], char *const envp[])
{
	exec_at(AT_FDCWD, file, argv, envp, 0);
	if (errno == ENOEXEC)
		exec_as_shell_script(file, argv, envp);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
	const char *cursor = NULL;
	char full[PATH_MAX];
	int got_eacces = 0;

	if (!*file) {
		errno = ENOENT;
		return -1;
	}
	if (strchr(file, '/')) {
		exec_or_script(file, argv, envp);
		return -1;
	}
	if (strlen(file) > NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	while (ps_path_search_next(getenv("PATH"), &cursor, file, full, sizeof(full))) {
		exec_or_script(full, argv, envp);
		switch (errno) {
		case EACCES:
			got_eacces = 1;
			break;
		case ENOENT:
		case ENOTDIR:
		case ESTALE:
		case ENODEV:
		case ETIMEDOUT:
			break;
		default:
			return -1;
		}
	}
	errno = got_eacces ? EACCES : ENOENT;
	return -1;
}

int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* The execl family: collect the arguments (and execle's envp after the NULL). */
#define COLLECT_ARGS(first, argvname, ap, extra_env)                                                               \
	size_t argc_ = 1;                                                                                          \
	va_list count_;                                                                                            \
	va_start(count_, first);                                                                                   \
	while (va_arg(count_, char *))                                                                             \
		argc_++;                                                                                           \
	va_end(count_);                                                                                            \
	char *argvname[argc_ + 1];                                                                                 \
	va_start(ap, first);                                                                                       \
	argvname[0] = (char *)first;                                                                               \
	for (size_t i_ = 1; i_ <= argc_; i_++)                                                                     \
		argvname[i_] = va_arg(ap, char *);                                                                 \
	extra_env;                                                                                                 \
	va_end(ap)

int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, argv, ap, (void)0);
	return exec_at(AT_FDCWD, path, argv, environ, 0);
}

int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, argv, ap, (void)0);
	return execvpe(file, argv, environ);
}

int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char *const *envp;
	COLLECT_ARGS(arg, argv, ap, envp = va_arg(ap, char *const *));
	return exec_at(AT_FDCWD, path, argv, envp, 0);
}

/* posix_spawn: plan in the parent, then let glibc spawn what the plan says. The error is returned, not set. */
int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
		char *const argv[], char *const envp[])
{
	struct exec_plan plan;
	int saved = errno, rc;

	for (int force_copy = 0;; force_copy = 1) {
		if (!ps_enter())
			return REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
		rc = plan_exec(AT_FDCWD, path, 0, argv, envp, &plan, force_copy, fa ? 0 : PS_FDS_SPAWN);
		ps_leave();
		if (rc == 0)
			rc = -REAL(posix_spawn)(pid, plan.path, fa, attr, plan.argv, plan.envp);
		if (rc == 0)
			plan.file_is_copy = 0; /* the child's shim removes it */
		plan_free(&plan);
		if (!retry_with_copy(&plan, rc, force_copy))
			break;
	}
	errno = saved;
	return -rc;
}

/* The file posix_spawnp would run: the first PATH entry where it exists. */
static int spawnp_find(const char *file, char *full, size_t fullsz)
{
	const char *cursor = NULL;
	struct stat st;

	while (ps_path_search_next(getenv("PATH"), &cursor, file, full, fullsz))
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
			return 0;
	return -ENOENT;
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
		 char *const argv[], char *const envp[])
{
	char full[PATH_MAX];
	struct exec_plan plan;
	int saved = errno, rc;

	if (strchr(file, '/'))
		return posix_spawn(pid, file, fa, attr, argv, envp);
	if (spawnp_find(file, full, sizeof(full)) < 0) /* not found: glibc says so */
		return REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
	for (int force_copy = 0;; force_copy = 1) {
		if (!ps_enter())
			return REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
		rc = plan_exec(AT_FDCWD, full, 0, argv, envp, &plan, force_copy, fa ? 0 : PS_FDS_SPAWN);
		ps_leave();
		if (rc == 0 && plan.path == full) /* unchanged: glibc's own search, exactly */
			rc = -REAL(posix_spawnp)(pid, file, fa, attr, plan.argv, plan.envp);
		else if (rc == 0)
			rc = -REAL(posix_spawn)(pid, plan.path, fa, attr, plan.argv, plan.envp);
		if (rc == 0)
			plan.file_is_copy = 0;
		plan_free(&plan);
		if (!retry_with_copy(&plan, rc, force_copy))
			break;
	}
	errno = saved;
	return -rc;
}
