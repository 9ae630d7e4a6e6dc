/* json.c - JSON strings from file names (json.h). */
#include "json.h"

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when the byte there does not start one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0; /* overlong, a surrogate, past Unicode */
	return n;
}

/* Appends bytes to out while they fit (one byte kept for the NUL); counts them all. */
struct sink {
	char *out;
	size_t size, len;
};

static void put(struct sink *k, const char *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++, k->len++)
		if (k->len + 1 < k->size)
			k->out[k->len] = bytes[i];
}

size_t ps_json_string(char *out, size_t outsz, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	struct sink k = { out, outsz, 0 };
	const unsigned char *p = (const unsigned char *)s;

	put(&k, "\"", 1);
	while (*p) {
		size_t n = utf8_len(p);

		if (*p == '"' || *p == '\\') {
			char esc[2] = { '\\', (char)*p };
			put(&k, esc, 2);
		} else if (*p < 0x20 || n == 0) {
			char esc[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 0xf] };
			put(&k, esc, 6);
			n = 1;
		} else {
			put(&k, (const char *)p, n);
		}
		p += n;
	}
	put(&k, "\"", 1);
	if (outsz > 0)
		out[k.len < outsz ? k.len : outsz - 1] = '\0';
	return k.len;
}
