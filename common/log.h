/* log.h - the one logger: PAGESHADOW_DEBUG decisions and one-line errors.
 *
 * Lines are formatted on the stack and written with ps_sys->write to a private fd chosen at start-up (a dup of
 * stderr, or a file), never to whatever the program later puts at fd 2. No malloc, no stdio.
 */
#ifndef PS_LOG_H
#define PS_LOG_H

/* PS_LOG_REFUSAL: an error the program's user must see where it happens (a program refused at exec): with no
 * private log fd it goes to the current fd 2 even when that changed since start-up (a shell's 2>&1 | tee), as
 * long as fd 2 is something a person reads - a terminal, a pipe, a socket, a file opened for appending. */
enum ps_log_level { PS_LOG_ERROR = 0, PS_LOG_DEBUG = 1, PS_LOG_REFUSAL = 2 };

/* Point the log at fd, or with -1 at fd 2 for as long as fd 2 stays the file it is now (checked before each
 * line: a daemon that closes stderr and reuses 2 never gets a log line in its file), and set whether debug lines
 * are written. */
void ps_log_init(int fd, int debug, const char *progname);
int ps_log_fd(void);
void ps_log_renumber_fd(int from, int to); /* the private fd moved (ps_sys_renumbered) */
int ps_log_debug_enabled(void);

/* One line, prefixed "pageshadow[pid]: ". Errors always go out; debug lines only with PAGESHADOW_DEBUG. */
void ps_log(enum ps_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ps_debug(...) do { if (ps_log_debug_enabled()) ps_log(PS_LOG_DEBUG, __VA_ARGS__); } while (0)
#define ps_error(...) ps_log(PS_LOG_ERROR, __VA_ARGS__)
#define ps_refusal(...) ps_log(PS_LOG_REFUSAL, __VA_ARGS__)

#endif
