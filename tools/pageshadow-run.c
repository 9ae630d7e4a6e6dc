/* pageshadow-run.c - run a command with libpageshadow.so preloaded, so that read-only trees become writable.
 *
 * main: parse_args -> configure (prefixes, shadow path) -> find_library -> find_command -> check_shimmable ->
 * open_shadow -> set_environment -> guard -> run_command (fork, exec, forward signals, wait).
 * A command that lies in a read-only tree (or is searched for along a PATH that passes through one) is found and
 * started by a second pageshadow-run running under the shim (the hidden option --exec-shimmed): its stat, access
 * and exec are the shim's, so it sees the merged file and runs what the shim's exec decides (shim/exec.c).
 * Everything that can be refused is refused before the command runs, with one line on stderr and status 125
 * (126/127 for a command that cannot be run or is not found). stdout belongs to the command alone.
 */
#include "config.h"
#include "exec.h"
#include "guard.h"
#include "filter.h"
#include "runci.h"
#include "path.h"
#include "beneath.h"
#include "shadow.h"
#include "tree.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_OWN_ERROR 125
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND 127

#define LIBRARY_NAME "libpageshadow.so"


struct options {
	const char *ro[PS_MAX_PREFIXES];
	int nro;
	const char *shadow;
	int verbose;
	int allow_unshimmed;
	int no_guard;
	int ephemeral;  /* a fresh shadow in the temporary directory, removed at exit ... */
	int keep;       /* ... unless kept */
	int report;     /* what the shadow holds, on stderr at exit */
	int deny;       /* changes under the prefixes fail with EROFS */
	const char *log; /* every change (and refusal) as a JSON line, or NULL */
	char **command; /* NULL-terminated, from argv */
};

static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
static volatile sig_atomic_t child_pid;

static void usage(void)
{
	fputs("Usage: pageshadow-run [OPTION]... [--] COMMAND [ARG]...\n"
	      "Run COMMAND with read-only directory trees made writable: its writes land, page by page, in a\n"
	      "shadow directory, and it reads the merged result. The trees themselves are never written.\n"
	      "\n"
	      "  -r, --ro PREFIX     a read-only tree to shadow (repeatable; default: the current directory);\n"
	      "                      made absolute with symlinks resolved; it must exist and hold no ':'\n"
	      "  -s, --shadow DIR    the shadow directory (created if needed; not inside a prefix)\n"
	      "  -v, --verbose       say on stderr which shadow, prefixes, library and command are used\n"
	      "      --allow-unshimmed  run programs the shim cannot enter without it, under the guard alone; by\n"
	      "                      default static and Go programs run under a supervisor and programs of\n"
	      "                      another loader or machine are refused (they would read stale bytes)\n"
	      "      --no-guard      no Landlock ruleset and no seccomp filter around the command (see below)\n"
	      "      --ephemeral     a new shadow in $TMPDIR (or /tmp), removed when COMMAND ends (not with -s)\n"
	      "      --keep          keep the --ephemeral shadow, and say where it is on stderr\n"
	      "      --report        when COMMAND ends, say on stderr what the shadow holds: files changed,\n"
	      "                      created, deleted, pages copied up, bytes in the shadow and what whole-file\n"
	      "                      copy-up would have taken\n"
	      "      --deny          changes under the prefixes fail with EROFS, as on a read-only filesystem, each\n"
	      "                      said on stderr: for jobs that must not write there (the shadow is still read)\n"
	      "      --log FILE      write each change under the prefixes - write, truncate, create, mkdir, mknod,\n"
	      "                      symlink, link, unlink, rmdir, rename, chmod, chown, utimes, setxattr,\n"
	      "                      removexattr - to FILE as one JSON line (\"denied\":true with --deny); FILE is\n"
	      "                      made empty first and may not lie under a prefix or in the shadow\n"
	      "  -h, --help          print this help and exit\n"
	      "      --version       print the version and exit\n"
	      "\n"
	      "Without -s the shadow is ${XDG_STATE_HOME:-$HOME/.local/state}/pageshadow/HASH, where HASH is the\n"
	      "64-bit FNV-1a hash, as 16 lowercase hex digits, of the canonical prefixes joined with newlines in\n"
	      "the order given: the same prefixes always get the same shadow. (A relative XDG_STATE_HOME is ignored.)\n"
	      "\n"
	      "COMMAND gets LD_PRELOAD (libpageshadow.so first, before any existing entries), PAGESHADOW_RO (the\n"
	      "prefixes joined with ':'), PAGESHADOW_DIR (the shadow), and with --deny and --log PAGESHADOW_DENY=1\n"
	      "and PAGESHADOW_LOG=FILE (removed from its environment otherwise). PAGESHADOW_DEBUG is passed on\n"
	      "unchanged.\n"
	      "The library is looked for beside this program, then in " PS_LIBDIR ".\n"
	      "\n"
	      "The guard: unless --no-guard, the kernel (Landlock) refuses the whole process tree any write,\n"
	      "truncation, creation, removal or rename under the prefixes that does not go through the shim, and\n"
	      "io_uring_setup and io_setup fail with ENOSYS. Nothing can be created directly in a directory above\n"
	      "a prefix; when that is the temporary directory, TMPDIR is set to DIR/tmp. Without CAP_SYS_ADMIN the guard\n"
	      "sets no_new_privs: setuid programs run without their privilege.\n"
	      "\n"
	      "Exit status: COMMAND's own; 128+N when signal N killed it; 125 when pageshadow-run itself fails;\n"
	      "126 when COMMAND cannot be run; 127 when COMMAND is not found.\n",
	      stdout);
}

/* One line on stderr, then exit: every refusal goes through here. */
static void __attribute__((noreturn, format(printf, 2, 3))) fail(int status, const char *fmt, ...)
{
	char line[PATH_MAX + 512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "pageshadow-run: %s\n", line);
	exit(status);
}

/* getopt_long returned ':' or '?': name the option as the user wrote it ("--name" or "-c"). */
static void __attribute__((noreturn)) bad_option(int opt, char **argv)
{
	const char *what = opt == ':' ? "option needs an argument" : "unknown option";
	const char *arg = argv[optind - 1];

	if (strncmp(arg, "--", 2) == 0 || !optopt)
		fail(EXIT_OWN_ERROR, "%s: %.*s (see --help)", what, (int)strcspn(arg, "="), arg);
	fail(EXIT_OWN_ERROR, "%s: -%c (see --help)", what, optopt);
}

static void parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_VERSION = 256, OPT_ALLOW_UNSHIMMED, OPT_NO_GUARD, OPT_EPHEMERAL, OPT_KEEP, OPT_REPORT, OPT_DENY,
	       OPT_LOG };
	static const struct option longopts[] = {
		{ "ro", required_argument, NULL, 'r' },
		{ "shadow", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "allow-unshimmed", no_argument, NULL, OPT_ALLOW_UNSHIMMED },
		{ "no-guard", no_argument, NULL, OPT_NO_GUARD },
		{ "ephemeral", no_argument, NULL, OPT_EPHEMERAL },
		{ "keep", no_argument, NULL, OPT_KEEP },
		{ "report", no_argument, NULL, OPT_REPORT },
		{ "deny", no_argument, NULL, OPT_DENY },
		{ "log", required_argument, NULL, OPT_LOG },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0; /* getopt's own messages are not one line naming pageshadow-run */
	/* '+': stop at the first non-option, so options after COMMAND are COMMAND's. */
	while ((opt = getopt_long(argc, argv, "+:r:s:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (o->nro >= PS_MAX_PREFIXES)
				fail(EXIT_OWN_ERROR, "too many read-only prefixes (at most %d)", PS_MAX_PREFIXES);
			o->ro[o->nro++] = optarg;
			break;
		case 's':
			o->shadow = optarg;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			usage();
			exit(0);
		case OPT_VERSION:
			puts("pageshadow-run " PS_VERSION);
			exit(0);
		case OPT_ALLOW_UNSHIMMED:
			o->allow_unshimmed = 1;
			break;
		case OPT_NO_GUARD:
			o->no_guard = 1;
			break;
		case OPT_EPHEMERAL:
			o->ephemeral = 1;
			break;
		case OPT_KEEP:
			o->keep = 1;
			break;
		case OPT_REPORT:
			o->report = 1;
			break;
		case OPT_DENY:
			o->deny = 1;
			break;
		case OPT_LOG:
			if (!*optarg)
				fail(EXIT_OWN_ERROR, "--log needs a file name");
			o->log = optarg;
			break;
		default:
			bad_option(opt, argv);
		}
	}
	if (optind >= argc)
		fail(EXIT_OWN_ERROR, "no command given (see --help)");
	if (o->ephemeral && o->shadow)
		fail(EXIT_OWN_ERROR, "--ephemeral makes a shadow of its own: not with -s");
	if (o->keep && !o->ephemeral)
		fail(EXIT_OWN_ERROR, "--keep keeps an --ephemeral shadow: give --ephemeral too");
	o->command = argv + optind;
}

/* Prefixes and the shadow's path, validated; nothing is created yet. */
static void configure(const struct options *o, struct ps_config *cfg)
{
	char why[PATH_MAX + 256], dflt[PATH_MAX];
	int rc;

	for (int i = 0; i < o->nro; i++)
		if (ps_config_add_prefix(cfg, o->ro[i], why, sizeof(why)) < 0)
			fail(EXIT_OWN_ERROR, "%s", why);
	if (o->nro == 0 && ps_config_add_prefix(cfg, ".", why, sizeof(why)) < 0)
		fail(EXIT_OWN_ERROR, "%s", why);
	if (o->shadow) {
		if (ps_config_set_shadow(cfg, o->shadow, why, sizeof(why)) < 0)
			fail(EXIT_OWN_ERROR, "%s", why);
		return;
	}
	rc = ps_default_shadow_dir(cfg, dflt, sizeof(dflt));
	if (rc < 0)
		fail(EXIT_OWN_ERROR, "cannot choose a default shadow directory: %s (use -s DIR)",
		     rc == -ENOENT ? "no home directory (HOME is unset)" : strerror(-rc));
	/* The default can land inside a prefix (a prefix of $HOME): say how to get out. */
	if (ps_config_set_shadow(cfg, dflt, why, sizeof(why)) < 0)
		fail(EXIT_OWN_ERROR, "%s (use -s DIR)", why);
}

static int usable_library(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

/* Beside /proc/self/exe first (a build tree finds its own library), then in the install directory. */
static void find_library(char *out, size_t outsz)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		if ((size_t)snprintf(out, outsz, "%s/" LIBRARY_NAME, exe) < outsz && usable_library(out))
			goto found;
	}
	snprintf(out, outsz, "%s/" LIBRARY_NAME, PS_LIBDIR);
	if (!usable_library(out))
		fail(EXIT_OWN_ERROR, "cannot find %s (looked beside %s and in %s)", LIBRARY_NAME,
		     n > 0 ? exe : "this program", PS_LIBDIR);
found:
	/* ld.so splits LD_PRELOAD at colons and blanks: such a path would load something else. */
	if (strpbrk(out, ": \t"))
		fail(EXIT_OWN_ERROR, "library path %s contains ':' or a blank, which LD_PRELOAD cannot express", out);
}

/* What execve would say about path, without running it: 0, or -errno. */
static int check_runnable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0)
		return -errno;
	return 0;
}

/* execvp's search: a name with '/' is taken as is; otherwise each PATH entry in turn (an empty one is the
 * working directory). A candidate that exists but cannot be run is remembered and the search goes on, so the
 * result is 0, that candidate's error, or -ENOENT. */
static int search_path(const char *cmd, char *out, size_t outsz)
{
	const char *cursor = NULL;
	int result = -ENOENT, rc;

	while (ps_path_search_next(getenv("PATH"), &cursor, cmd, out, outsz)) {
		if ((rc = check_runnable(out)) == 0)
			return 0;
		if (rc != -ENOENT && rc != -ENOTDIR)
			result = rc;
	}
	return result;
}

static int in_prefixes(const struct ps_config *cfg, const char *path)
{
	char abs[PATH_MAX];
	const char *rel;

	return ps_config_resolve(path, abs, sizeof(abs)) == 0 && ps_config_match(cfg, abs, &rel) >= 0;
}

/* Does the command lie in a read-only tree, or could PATH lead there? Then its lower file says nothing about the
 * merged one, and a shimmed /bin/sh must find and start it. */
static int command_in_prefixes(const struct ps_config *cfg, const char *cmd)
{
	const char *cursor = NULL;
	char candidate[PATH_MAX];

	if (strchr(cmd, '/'))
		return in_prefixes(cfg, cmd);
	while (ps_path_search_next(getenv("PATH"), &cursor, cmd, candidate, sizeof(candidate)))
		if (in_prefixes(cfg, candidate))
			return 1;
	return 0;
}

/* 1 when the command must be started through /bin/sh (it may be shadowed), else 0 with its path in out. */
static int find_command(const struct ps_config *cfg, const char *cmd, char *out, size_t outsz)
{
	int rc;

	if (*cmd && command_in_prefixes(cfg, cmd))
		return 1;
	if (strchr(cmd, '/')) {
		if (strlen(cmd) >= outsz)
			fail(EXIT_CANNOT_RUN, "%s: cannot run: %s", cmd, strerror(ENAMETOOLONG));
		strcpy(out, cmd);
		rc = check_runnable(cmd);
	} else {
		rc = *cmd ? search_path(cmd, out, outsz) : -ENOENT;
		if (rc == -ENOENT)
			fail(EXIT_NOT_FOUND, "%s: command not found", cmd);
	}
	if (rc == -ENOENT || rc == -ENOTDIR)
		fail(EXIT_NOT_FOUND, "%s: %s", cmd, strerror(-rc));
	if (rc < 0)
		fail(EXIT_CANNOT_RUN, "%s: cannot run: %s", cmd, strerror(-rc));
	return 0;
}

/* A program LD_PRELOAD cannot enter would read the lower tree's stale bytes and write it unseen: a static or Go
 * program runs under a supervisor (1: start it through the shim, whose exec starts one), anything else is
 * refused. 0: the shim enters it (or --allow-unshimmed). */
static int check_shimmable(const char *path, int allow)
{
	struct ps_exec_info info;
	int fd = open(path, O_RDONLY | O_CLOEXEC), supervised = 0;
	const char *why;
	char missing[256];

	if (fd < 0)
		return 0; /* execute-only: the exec will tell */
	if (ps_exec_inspect(ps_exec_read_fd, &fd, &info) == 0 && (why = ps_exec_why_unshimmable(&info)) != NULL &&
	    !allow) {
		if (info.format != PS_EXEC_STATIC && info.format != PS_EXEC_GO)
			fail(EXIT_CANNOT_RUN,
			     "%s %s: LD_PRELOAD cannot enter it, so it would read and write the read-only trees unseen "
			     "(--allow-unshimmed runs it anyway, under the guard)",
			     path, why);
		if (ps_filter_probe(missing, sizeof(missing)) < 0)
			fail(EXIT_CANNOT_RUN,
			     "%s %s: it needs a supervisor, and this kernel lacks %s (--allow-unshimmed runs it anyway, "
			     "under the guard)",
			     path, why, missing);
		supervised = 1;
	}
	close(fd);
	return supervised;
}

/* Create the shadow (or check an existing one's format) and make sure the command will be able to write it.
 * Returns its flags (shadow.h). */
static uint64_t open_shadow(const struct ps_config *cfg)
{
	struct ps_shadow sh;
	char why[PATH_MAX + 256] = "";
	int rc = ps_shadow_open(&sh, cfg->shadow, 1, why, sizeof(why));
	uint64_t flags;

	if (rc < 0)
		fail(EXIT_OWN_ERROR, "shadow directory %s: %s", cfg->shadow, *why ? why : strerror(-rc));
	flags = ps_shadow_flags(&sh);
	ps_shadow_close(&sh);
	if (access(cfg->shadow, W_OK) < 0)
		fail(EXIT_OWN_ERROR, "shadow directory %s: not writable: %s", cfg->shadow, strerror(errno));
	return flags;
}

static void set_env(const char *name, const char *value)
{
	if (setenv(name, value, 1) < 0)
		fail(EXIT_OWN_ERROR, "cannot set %s: %s", name, strerror(errno));
}

/* Once a shared library has shadow state, the command's own libraries are looked up through the audit module
 * (audit/audit.c), as the shim's exec planning does for every later program. */
static void set_audit(const char *lib)
{
	const char *old = getenv("LD_AUDIT");
	char audit[PATH_MAX], *value;
	const char *slash = strrchr(lib, '/');

	if (!slash || (size_t)snprintf(audit, sizeof(audit), "%.*s/libpageshadow-audit.so", (int)(slash - lib), lib) >=
			      sizeof(audit) || access(audit, R_OK) < 0)
		return;
	if (old && (value = strstr(old, audit)) && (value == old || value[-1] == ':') &&
	    (value[strlen(audit)] == '\0' || value[strlen(audit)] == ':'))
		return; /* already there: ld.so would load it twice */
	if (asprintf(&value, "%s%s%s", audit, old && *old ? ":" : "", old && *old ? old : "") < 0)
		fail(EXIT_OWN_ERROR, "out of memory");
	set_env("LD_AUDIT", value);
	free(value);
}

static void set_environment(const struct ps_config *cfg, const char *lib, int allow_unshimmed)
{
	const char *old = getenv("LD_PRELOAD");
	size_t len = 1;
	char *ro, *preload;

	for (int i = 0; i < cfg->nprefix; i++)
		len += cfg->prefix[i].len + 1;
	ro = malloc(len);
	if (!ro)
		fail(EXIT_OWN_ERROR, "out of memory");
	ro[0] = '\0';
	for (int i = 0; i < cfg->nprefix; i++) {
		if (i > 0)
			strcat(ro, ":");
		strcat(ro, cfg->prefix[i].path);
	}
	set_env("PAGESHADOW_RO", ro);
	set_env("PAGESHADOW_DIR", cfg->shadow);
	if (allow_unshimmed)
		set_env("PAGESHADOW_ALLOW_UNSHIMMED", "1");
	free(ro);
	/* First in line, so the shim sees the program's calls before any other preloaded library does. */
	if (old && *old) {
		if (asprintf(&preload, "%s:%s", lib, old) < 0)
			fail(EXIT_OWN_ERROR, "out of memory");
		set_env("LD_PRELOAD", preload);
		free(preload);
	} else {
		set_env("LD_PRELOAD", lib);
	}
}

static void forward_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	/* A signal from the terminal (si_code SI_KERNEL) already went to the child's whole process group: only
	 * signals sent to pageshadow-run alone (kill, si_code <= 0) need passing on. */
	if (child_pid > 0 && si->si_code <= 0)
		kill((pid_t)child_pid, sig);
}

/* Install the forwarding handlers; a signal we inherited as ignored stays ignored (so does the child's). */
static void install_forwarding(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++) {
		if (sigaction(forwarded_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(forwarded_signals[i], &sa, NULL);
	}
}

/* In the child: default dispositions back before unblocking, so a signal that arrived during fork kills it. */
static void restore_signals(const sigset_t *oldmask)
{
	struct sigaction old;

	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
		if (sigaction(forwarded_signals[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			signal(forwarded_signals[i], SIG_DFL);
	sigprocmask(SIG_SETMASK, oldmask, NULL);
}

/* execv, and like execvp a file without a recognised format is run by /bin/sh. Returns only on failure. */
static void exec_command(const char *path, char **argv)
{
	size_t argc = 0;
	char **shargv;

	execv(path, argv);
	if (errno != ENOEXEC)
		return;
	while (argv[argc])
		argc++;
	shargv = calloc(argc + 2, sizeof(*shargv));
	if (!shargv)
		return;
	shargv[0] = (char *)"/bin/sh";
	shargv[1] = (char *)path;
	memcpy(shargv + 2, argv + 1, (argc ? argc - 1 : 0) * sizeof(*shargv));
	execv("/bin/sh", shargv);
	errno = ENOEXEC;
}

static void __attribute__((noreturn)) child(const char *path, char **argv, int errfd, const sigset_t *oldmask)
{
	int e;

	restore_signals(oldmask);
	exec_command(path, argv);
	/* The pipe is close-on-exec: the parent reads either EOF (exec worked) or this errno. */
	e = errno;
	if (write(errfd, &e, sizeof(e)) < 0)
		_exit(EXIT_CANNOT_RUN);
	_exit(e == ENOENT || e == ENOTDIR ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN);
}

static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			fail(EXIT_OWN_ERROR, "waiting for the command: %s", strerror(errno));
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* The errno the child sent through the pipe, or 0 when the exec succeeded. */
static int read_exec_error(int fd)
{
	int e = 0;
	ssize_t n;

	do
		n = read(fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(fd);
	return n == (ssize_t)sizeof(e) ? e : 0;
}

static int run_command(const char *path, char **argv)
{
	sigset_t block, oldmask;
	int pfd[2], status, e;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		fail(EXIT_OWN_ERROR, "cannot create a pipe: %s", strerror(errno));
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
		sigaddset(&block, forwarded_signals[i]);
	sigprocmask(SIG_BLOCK, &block, &oldmask);
	install_forwarding();
	pid = fork();
	if (pid < 0)
		fail(EXIT_OWN_ERROR, "cannot fork: %s", strerror(errno));
	if (pid == 0) {
		close(pfd[0]);
		child(path, argv, pfd[1], &oldmask);
	}
	child_pid = pid;
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	close(pfd[1]);
	e = read_exec_error(pfd[0]);
	status = wait_child(pid);
	if (e) {
		fprintf(stderr, "pageshadow-run: %s: cannot run: %s\n", argv[0], strerror(e));
		return e == ENOENT || e == ENOTDIR ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
	}
	return status;
}

/* --log FILE: made absolute (the command may change directories), checked, and made empty - before the guard,
 * which grants rights only to entries that exist when it starts. The absolute name into abs. */
static void prepare_log(const struct ps_config *cfg, const char *log, char *abs, size_t abssz)
{
	const char *rel;
	struct stat st;
	int fd, i;

	if (ps_config_resolve(log, abs, abssz) < 0)
		fail(EXIT_OWN_ERROR, "--log %s: cannot make the name absolute", log);
	if (lstat(abs, &st) == 0 && S_ISLNK(st.st_mode)) /* resolving stops at a dangling link: where would it lead? */
		fail(EXIT_OWN_ERROR, "--log %s is a symlink to a file that does not exist: give the file itself", log);
	if ((i = ps_config_match(cfg, abs, &rel)) >= 0)
		fail(EXIT_OWN_ERROR, "--log %s lies under the read-only prefix %s: writing it would change the tree",
		     log, cfg->prefix[i].path);
	if (ps_path_below(abs, cfg->shadow))
		fail(EXIT_OWN_ERROR, "--log %s lies in the shadow %s: give a file outside it", log, cfg->shadow);
	fd = open(abs, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
	if (fd < 0)
		fail(EXIT_OWN_ERROR, "--log %s: %s", log, strerror(errno));
	close(fd);
}

/* The shim's --deny and --log (change.h): set as given, and never inherited from the caller's environment. */
static void set_change_environment(int deny, const char *log_abs)
{
	if (deny)
		set_env("PAGESHADOW_DENY", "1");
	else
		unsetenv("PAGESHADOW_DENY");
	if (log_abs)
		set_env("PAGESHADOW_LOG", log_abs);
	else
		unsetenv("PAGESHADOW_LOG");
}

static void say_configuration(const struct ps_config *cfg, const char *lib, const char *cmd)
{
	const char *log = getenv("PAGESHADOW_LOG");

	fprintf(stderr, "pageshadow-run: shadow: %s\n", cfg->shadow);
	for (int i = 0; i < cfg->nprefix; i++)
		fprintf(stderr, "pageshadow-run: prefix: %s\n", cfg->prefix[i].path);
	fprintf(stderr, "pageshadow-run: library: %s\n", lib);
	fprintf(stderr, "pageshadow-run: command: %s\n", cmd);
	if (getenv("PAGESHADOW_DENY"))
		fprintf(stderr, "pageshadow-run: changes under the prefixes: denied\n");
	if (log)
		fprintf(stderr, "pageshadow-run: change log: %s\n", log);
}

/* The temporary directory, when it lies above a prefix, would be closed by the guard: use DIR/tmp instead. */
static void move_tmpdir(const struct ps_config *cfg, int verbose)
{
	const char *tmp = getenv("TMPDIR");
	char abs[PATH_MAX], dir[PATH_MAX];

	if (ps_config_resolve(tmp && *tmp ? tmp : "/tmp", abs, sizeof(abs)) < 0)
		return;
	for (int i = 0; i < cfg->nprefix; i++) {
		if (!ps_path_below(cfg->prefix[i].path, abs))
			continue;
		if ((size_t)snprintf(dir, sizeof(dir), "%s/tmp", cfg->shadow) >= sizeof(dir) ||
		    (mkdir(dir, 0700) < 0 && errno != EEXIST))
			return;
		set_env("TMPDIR", dir);
		if (verbose)
			fprintf(stderr, "pageshadow-run: TMPDIR: %s (%s lies above %s)\n", dir, abs, cfg->prefix[i].path);
		return;
	}
}

static void guard(const struct ps_config *cfg, int verbose, unsigned without)
{
	char why[PATH_MAX + 256] = "";
	int rc;

	move_tmpdir(cfg, verbose);
	rc = ps_guard_apply(cfg, without, why, sizeof(why));
	if (rc < 0)
		fail(EXIT_OWN_ERROR, "cannot set up the guard: %s (--no-guard runs without it)", why);
	if (rc > 0)
		fprintf(stderr, "pageshadow-run: %s\n", why);
}

static int readlink_self(char *out, size_t outsz)
{
	ssize_t n = readlink("/proc/self/exe", out, outsz - 1);

	if (n < 0)
		return -errno;
	out[n] = '\0';
	return 0;
}

/* The second stage for a command in a read-only tree: this process runs under the shim, so finding the command
 * and starting it see the merged tree. Exits with 126/127 and one line when it cannot. */
static void __attribute__((noreturn)) exec_shimmed(char **command)
{
	char cmd[PATH_MAX];
	struct ps_config none = { .nprefix = 0 };
	int e;

	find_command(&none, command[0], cmd, sizeof(cmd));
	check_shimmable(cmd, getenv("PAGESHADOW_ALLOW_UNSHIMMED") && strcmp(getenv("PAGESHADOW_ALLOW_UNSHIMMED"), "1") == 0);
	exec_command(cmd, command);
	e = errno;
	fail(e == ENOENT || e == ENOTDIR ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN, "%s: cannot run: %s", command[0],
	     strerror(e));
}

static char ephemeral_dir[PATH_MAX];
static int cleaner_fd = -1;
static pid_t cleaner_pid;

/* At exit, however it comes (the command's end, a refusal before it ran): the ephemeral shadow goes - the
 * cleaner sees its pipe close and removes it; waiting for it means the shadow is gone when pageshadow-run is -
 * or it is kept and said. */
static void ephemeral_at_exit(void)
{
	if (cleaner_fd < 0) {
		fprintf(stderr, "pageshadow-run: shadow kept: %s\n", ephemeral_dir);
		return;
	}
	close(cleaner_fd);
	while (waitpid(cleaner_pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Before the guard: the cleaner must not be under it. */
static void make_ephemeral(struct options *o)
{
	int rc = ephemeral_make(ephemeral_dir, sizeof(ephemeral_dir));

	if (rc < 0)
		fail(EXIT_OWN_ERROR, "cannot make a shadow in the temporary directory: %s", strerror(-rc));
	o->shadow = ephemeral_dir;
	if (!o->keep && (rc = ephemeral_cleaner(ephemeral_dir, &cleaner_fd, &cleaner_pid)) < 0) {
		rmdir(ephemeral_dir);
		fail(EXIT_OWN_ERROR, "cannot start the process that removes the shadow: %s", strerror(-rc));
	}
	atexit(ephemeral_at_exit);
}

int main(int argc, char **argv)
{
	static struct ps_config cfg; /* large: keep it off the stack */
	struct options o = { .nro = 0 };
	char lib[PATH_MAX], cmd[PATH_MAX], self[PATH_MAX], log_abs[PATH_MAX];
	char **argv_run;
	uint64_t flags;
	int via_shell, supervised = 0, status;

	ps_sys = ps_sys_guard(&ps_sys_libc); /* the shadow's paths never lead out of it (beneath.h) */
	if (argc > 2 && strcmp(argv[1], "--exec-shimmed") == 0)
		exec_shimmed(argv + 2);
	parse_args(argc, argv, &o);
	if (o.ephemeral)
		make_ephemeral(&o);
	configure(&o, &cfg);
	find_library(lib, sizeof(lib));
	via_shell = find_command(&cfg, o.command[0], cmd, sizeof(cmd));
	if (!via_shell && check_shimmable(cmd, o.allow_unshimmed))
		via_shell = supervised = 1; /* the shim's exec starts its supervisor */
	flags = open_shadow(&cfg);
	if (o.log)
		prepare_log(&cfg, o.log, log_abs, sizeof(log_abs));
	set_environment(&cfg, lib, o.allow_unshimmed);
	set_change_environment(o.deny, o.log ? log_abs : NULL);
	if (flags & PS_SHADOW_HAS_LIBRARIES)
		set_audit(lib);
	if (!o.no_guard)
		guard(&cfg, o.verbose, supervised ? PS_GUARD_WITHOUT_IO_URING_FILTER : 0);
	if (o.verbose)
		say_configuration(&cfg, lib, via_shell ? o.command[0] : cmd);
	if (!via_shell) {
		status = run_command(cmd, o.command);
	} else {
		for (argc = 0; o.command[argc]; argc++)
			;
		argv_run = calloc((size_t)argc + 3, sizeof(*argv_run));
		if (!argv_run || readlink_self(self, sizeof(self)) < 0)
			fail(EXIT_OWN_ERROR, "cannot find this program to start %s under the shim", o.command[0]);
		argv_run[0] = argv[0];
		argv_run[1] = (char *)"--exec-shimmed";
		memcpy(argv_run + 2, o.command, (size_t)argc * sizeof(*argv_run));
		status = run_command(self, argv_run);
	}
	if (o.report)
		report_shadow(cfg.shadow);
	return status; /* (the ephemeral shadow goes at exit) */
}
