/* path.h - lexical path handling: normalise, match a prefix, name the shadow's per-prefix directory.
 *
 * Pure string functions: no system calls, no allocation. Symlinks are resolved by the callers (they need the
 * kernel); here "a/./b//../c" becomes "a/c".
 */
#ifndef PS_PATH_H
#define PS_PATH_H

#include <stddef.h>

/* Join path onto base when path is relative (base must be absolute), and normalise ".", ".." and repeated
 * slashes. out holds outsz bytes. Returns the length, or -ENAMETOOLONG, -EINVAL (empty path, relative base). */
int ps_path_normalize(const char *base, const char *path, char *out, size_t outsz);

/* When abs (normalised) is prefix itself or lies below it, return the part after the prefix without its leading
 * slash ("" for the prefix itself); else NULL. */
const char *ps_path_below(const char *abs, const char *prefix);

/* The one directory name a prefix gets inside the shadow: its absolute path with '%' written "%25" and '/'
 * written "%2F" (so "/srv/ro" is "%2Fsrv%2Fro"). Returns the length, or -ENAMETOOLONG past NAME_MAX. */
int ps_path_encode_prefix(const char *prefix, char *out, size_t outsz);

/* execvp's candidates for file along a PATH list (search, NULL for glibc's default "/bin:/usr/bin", confstr _CS_PATH; an empty
 * entry is "."), one per call: 1 and out set, 0 at the end. *cursor starts at NULL. A candidate longer than
 * outsz is skipped. Pure: no system call. */
int ps_path_search_next(const char *search, const char **cursor, const char *file, char *out, size_t outsz);

/* Does the last component name a shared library (ends in ".so", or has ".so." in it: libfoo.so.1.2)? */
int ps_path_names_library(const char *path);

/* The inverse of ps_path_encode_prefix; returns the length or -EINVAL for a name it did not produce. */
int ps_path_decode_prefix(const char *name, char *out, size_t outsz);

#endif
