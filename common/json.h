/* json.h - JSON strings from file names: names are bytes, JSON text is Unicode.
 *
 * Valid UTF-8 is copied; any other byte is written as the code point of the same value (\u0080-\u00ff), so that
 * every file name gives valid JSON that reads as the name a Latin-1 terminal would show. (Not one to one: the byte
 * 0xe9 and the UTF-8 "\xc3\xa9" both read as U+00E9 - for names that are not UTF-8 there is no better JSON.)
 * No malloc: the shim formats log lines with it (change.h) inside any call.
 */
#ifndef PS_JSON_H
#define PS_JSON_H

#include <stddef.h>

/* s as a JSON string, quotes included, into out (NUL-terminated when outsz > 0, cut short when it does not fit).
 * Returns the length the whole string needs, without the NUL, as snprintf does. */
size_t ps_json_string(char *out, size_t outsz, const char *s);

#endif
