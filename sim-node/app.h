/* app: the checks app.c makes on what a browser sends, and the way it shows a user name in
 * X-Farm-User. Pure functions, exposed so the unit tests can call them directly; the request
 * handler itself is declared in node.h. */
#ifndef SIMNODE_APP_H
#define SIMNODE_APP_H

#include <stdbool.h>
#include <stddef.h>

/* ASP.NET's session ids: 24 characters of SessionIDManager's base32 alphabet, a-z and 0-5. */
#define APP_SESSION_ID_LEN 24

/* X-Farm-User shows at most this many characters (code points) of the user name ... */
#define APP_USER_CHARS_MAX 127
/* ... each at most 4 UTF-8 bytes, each byte at most "%XX": room for any header value. */
#define APP_USER_HEADER_CAP (APP_USER_CHARS_MAX * 4 * 3 + 1)

/* Is url (len bytes, already percent-decoded) a path on this site, safe to redirect to?
 * It must start with exactly one '/' and hold no backslash and no control character
 * (< 0x20, 0x7f) anywhere: browsers drop tabs and newlines from URLs and read '\' as '/',
 * so "/\t/evil.example" or "/\\evil.example" would take the user to another host. */
bool app_return_url_is_local(const char *url, size_t len);

/* Is s (len bytes) a session id ASP.NET's SessionIDManager accepts: exactly 24 characters
 * of a-z0-5? Any other id the browser sends is replaced by a new one, never adopted. */
bool app_session_id_is_valid(const char *s, size_t len);

/* Draw a new session id, as SessionIDManager does: 15 random bytes in base32 (a-z0-5).
 * out gets APP_SESSION_ID_LEN characters and a NUL. */
int app_session_id_new(char out[APP_SESSION_ID_LEN + 1]); /* 0, or -1: no random bytes */

/* The user name (len bytes of UTF-8, which may hold NULs) as X-Farm-User shows it: every
 * byte outside visible ASCII (controls, space, DEL, non-ASCII) and '%' itself becomes %XX,
 * so the header is plain ASCII and decodes back to the name with any URL decoder. At most
 * APP_USER_CHARS_MAX characters of the name are shown, and a character is written whole or
 * not at all (never a partial UTF-8 sequence or a partial %XX). Writes a NUL-terminated
 * string into out (cap ≥ APP_USER_HEADER_CAP holds any name) and returns its length. */
size_t app_user_header(const char *name, size_t len, char *out, size_t cap);

#endif
