/* path.c - lexical normalisation and prefix matching (see path.h). */
#include "path.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Append component [s, s+len) to out (which holds *olen bytes), treating "." and ".." lexically. */
static int push_component(char *out, size_t outsz, size_t *olen, const char *s, size_t len)
{
	if (len == 1 && s[0] == '.')
		return 0;
	if (len == 2 && s[0] == '.' && s[1] == '.') {
		while (*olen > 1 && out[*olen - 1] != '/')
			(*olen)--;
		if (*olen > 1)
			(*olen)--; /* drop the slash too, but keep the root "/" */
		out[*olen] = '\0';
		return 0;
	}
	if (*olen + (*olen > 1) + len + 1 > outsz)
		return -ENAMETOOLONG;
	if (*olen > 1)
		out[(*olen)++] = '/';
	memcpy(out + *olen, s, len);
	*olen += len;
	out[*olen] = '\0';
	return 0;
}

static int push_path(char *out, size_t outsz, size_t *olen, const char *p)
{
	while (*p) {
		const char *end;
		int rc;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		end = strchrnul(p, '/');
		rc = push_component(out, outsz, olen, p, (size_t)(end - p));
		if (rc < 0)
			return rc;
		p = end;
	}
	return 0;
}

int ps_path_normalize(const char *base, const char *path, char *out, size_t outsz)
{
	size_t olen = 1;
	int rc;

	if (!path || !*path || outsz < 2)
		return -EINVAL;
	out[0] = '/';
	out[1] = '\0';
	if (path[0] != '/') {
		if (!base || base[0] != '/')
			return -EINVAL;
		rc = push_path(out, outsz, &olen, base);
		if (rc < 0)
			return rc;
	}
	rc = push_path(out, outsz, &olen, path);
	return rc < 0 ? rc : (int)olen;
}

const char *ps_path_below(const char *abs, const char *prefix)
{
	size_t n = strlen(prefix);

	if (n == 1 && prefix[0] == '/')
		return abs + 1;
	if (strncmp(abs, prefix, n) != 0)
		return NULL;
	if (abs[n] == '\0')
		return abs + n;
	if (abs[n] == '/')
		return abs + n + 1;
	return NULL;
}

int ps_path_encode_prefix(const char *prefix, char *out, size_t outsz)
{
	size_t o = 0;

	for (const char *p = prefix; *p; p++) {
		const char *esc = *p == '/' ? "%2F" : *p == '%' ? "%25" : NULL;
		size_t need = esc ? 3 : 1;

		if (o + need + 1 > outsz || o + need > NAME_MAX)
			return -ENAMETOOLONG;
		if (esc)
			memcpy(out + o, esc, 3);
		else
			out[o] = *p;
		o += need;
	}
	out[o] = '\0';
	return (int)o;
}

int ps_path_decode_prefix(const char *name, char *out, size_t outsz)
{
	size_t o = 0;

	for (const char *p = name; *p; p++) {
		char c = *p;

		if (c == '%') {
			if (strncmp(p, "%2F", 3) == 0)
				c = '/';
			else if (strncmp(p, "%25", 3) == 0)
				c = '%';
			else
				return -EINVAL;
			p += 2;
		} else if (c == '/') {
			return -EINVAL;
		}
		if (o + 2 > outsz)
			return -ENAMETOOLONG;
		out[o++] = c;
	}
	out[o] = '\0';
	return (int)o;
}

int ps_path_names_library(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	return (n > 3 && strcmp(base + n - 3, ".so") == 0) || strstr(base, ".so.") != NULL;
}

static const char search_end[] = ""; /* the cursor after the last entry (an empty entry is "" too, but not this) */

int ps_path_search_next(const char *search, const char **cursor, const char *file, char *out, size_t outsz)
{
	const char *p = *cursor, *end;

	if (p == search_end)
		return 0;
	if (!p)
		p = search ? search : "/bin:/usr/bin";
	for (; p; p = *end ? end + 1 : NULL) {
		size_t dlen;

		end = strchrnul(p, ':');
		dlen = (size_t)(end - p);
		if ((size_t)snprintf(out, outsz, "%.*s/%s", dlen ? (int)dlen : 1, dlen ? p : ".", file) < outsz) {
			*cursor = *end ? end + 1 : search_end;
			return 1;
		}
	}
	*cursor = search_end;
	return 0;
}
