/* app: what a sim-node serves — login, who am I, a protected page, a cart in session state,
 * a ViewState form, health and the /_farm endpoints — and the X-Farm-* headers that say on
 * every answer whether this node could validate what the browser sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "app.h"
#include "base64.h"
#include "node.h"
#include "stateclient.h"
#include "ticks.h"

#define SID_LEN   APP_SESSION_ID_LEN
#define PARAM_MAX 512

/* What one request found out about its caller; the X-Farm-* headers report it. */
struct visit {
    enum fa_status ticket;
    struct ticket t;
    const char *session; /* found, new, lost, off, error */
    char sid[SID_LEN + 1];
    bool new_sid;
    struct buf items; /* session items: one cart item per line */
    bool html;
};

static const char *const explain[FA_STATUS_COUNT] = {
    [FA_VALID] = "Your forms-authentication ticket is valid on this node.",
    [FA_EXPIRED] = "Your ticket was protected with this node's keys, but it has expired: log in "
                   "again. If it expires sooner than you expect, compare the servers' clocks "
                   "and the forms timeout.",
    [FA_MAC_MISMATCH] =
        "This node could not verify your ticket's signature (MAC): it was issued by a server "
        "with another validationKey, validation algorithm or compatibilityMode — or a server "
        "left on AutoGenerate. ASP.NET drops such a ticket silently, so you look logged out. "
        "Check that every server has the same <machineKey> (farmctl key compare).",
    [FA_BAD_TICKET] =
        "The signature verified but the ticket did not decrypt: the issuing server shares this "
        "node's validationKey but has another decryptionKey or decryption algorithm. Copy the "
        "whole <machineKey> element, not just the validationKey.",
    [FA_MALFORMED] = "The cookie is not a protected ticket at all (not hex, or cut short).",
    [FA_ABSENT] = "You are not logged in: the browser sent no forms-authentication cookie.",
};

static int64_t unix_seconds(int64_t ticks)
{
    return (ticks - TICKS_UNIX_EPOCH) / TICKS_PER_SECOND;
}

/* ASP.NET's cookie date: "Tue, 24-Nov-2026 22:30:00 GMT". */
static void cookie_date(int64_t ticks, char *out, size_t cap)
{
    time_t t = (time_t)unix_seconds(ticks);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%a, %d-%b-%Y %H:%M:%S GMT", &tm);
}

/* SessionIDManager's base32 alphabet: what it writes, and all it accepts. */
static const char sid_alphabet[] = "abcdefghijklmnopqrstuvwxyz012345";

int app_session_id_new(char out[APP_SESSION_ID_LEN + 1])
{
    uint8_t raw[15];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1; /* never a guessable id */
    uint32_t acc = 0;
    int bits = 0, o = 0;
    for (size_t i = 0; i < sizeof raw; i++) {
        acc = acc << 8 | raw[i];
        bits += 8;
        while (bits >= 5 && o < SID_LEN) {
            out[o++] = sid_alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    out[SID_LEN] = '\0';
    return 0;
}

bool app_session_id_is_valid(const char *s, size_t n)
{
    if (n != SID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0' || strchr(sid_alphabet, s[i]) == NULL)
            return false;
    return true;
}

static const char *cookie_value(const struct request_ctx *rq, const char *name, size_t *len)
{
    size_t hlen;
    const char *h = http_header_get(rq->req, rq->buf, "Cookie", &hlen);
    return h ? http_cookie(h, hlen, name, len) : NULL;
}

static double now_seconds(const struct node *n)
{
    return (double)node_now(n) / TICKS_PER_SECOND;
}

static void check_ticket(struct node *n, const struct request_ctx *rq, struct visit *v)
{
    size_t len;
    const char *c = cookie_value(rq, n->cfg.cookie_name, &len);
    if (c == NULL || len == 0) {
        v->ticket = FA_ABSENT;
        return;
    }
    v->ticket = formsauth_decode(&n->fa, c, len, node_now(n), &v->t);
}

/* Add the Set-Cookie for t. Returns 0, or -1 (and adds nothing) when the ticket cannot be
 * protected into a cookie of at most 4096 characters. */
static int set_ticket_cookie(struct node *n, struct response *rs, const struct ticket *t)
{
    char cookie[FORMSAUTH_COOKIE_MAX + 1];
    long len = formsauth_issue(&n->fa, t, cookie, sizeof cookie);
    if (len < 0)
        return -1;
    buf_printf(rs->head, "Set-Cookie: %s=%s; path=/; HttpOnly", n->cfg.cookie_name, cookie);
    if (t->persistent) {
        char date[64];
        cookie_date(t->expiration_ticks, date, sizeof date);
        buf_printf(rs->head, "; expires=%s", date);
    }
    buf_puts(rs->head, "\r\n");
    return 0;
}

/* Sliding expiration, as FormsAuthentication.RenewTicketIfOld: renew past half-time. */
static void maybe_renew(struct node *n, struct response *rs, struct visit *v)
{
    if (!n->cfg.sliding || v->ticket != FA_VALID)
        return;
    int64_t now = node_now(n);
    int64_t life = v->t.expiration_ticks - v->t.issue_ticks;
    if (now - v->t.issue_ticks <= life / 2)
        return;
    struct ticket renewed = v->t;
    renewed.issue_ticks = now;
    renewed.expiration_ticks = now + life;
    /* The same fields fitted when the ticket was issued; if renewal fails, the old cookie
     * simply stays, as it would on a server that did not renew. */
    (void)set_ticket_cookie(n, rs, &renewed);
}

/* Log the session store going away and coming back (once each, not per request). */
static void note_store(struct node *n, bool ok, const struct errbuf *err)
{
    if (ok && n->store_down) {
        n->store_down = false;
        fprintf(stderr, "node=%s event=session-store-back\n", n->cfg.name);
    } else if (!ok && !n->store_down) {
        n->store_down = true;
        fprintf(stderr, "node=%s event=session-store-error error=\"%s\"\n", n->cfg.name, err->msg);
    }
}

/* Load (or start) the caller's session. Returns -1 when the state server is unreachable,
 * -2 when no session id could be drawn (the random source failed). */
static int open_session(struct node *n, const struct request_ctx *rq, struct response *rs,
                        struct visit *v, struct errbuf *err)
{
    if (n->cfg.session == SESSION_OFF) {
        v->session = "off";
        return 0;
    }
    size_t len;
    const char *c = cookie_value(rq, "ASP.NET_SessionId", &len);
    if (c && app_session_id_is_valid(c, len)) {
        memcpy(v->sid, c, len);
        v->sid[len] = '\0';
        int found = sessions_load(n->sessions, now_seconds(n), v->sid, &v->items, err);
        note_store(n, found >= 0, err);
        if (found < 0) {
            v->session = "error";
            n->counters.session_errors++;
            return -1;
        }
        if (found) {
            v->session = "found";
            n->counters.sessions_found++;
            return 0;
        }
        /* An id this store does not know: ASP.NET starts a new, empty session under it. */
        v->session = "lost";
        n->counters.sessions_lost++;
    } else {
        if (app_session_id_new(v->sid) != 0) {
            v->session = "error";
            n->counters.session_errors++;
            return -2;
        }
        v->new_sid = true;
        v->session = "new";
        n->counters.sessions_new++;
        buf_printf(rs->head, "Set-Cookie: ASP.NET_SessionId=%s; path=/; HttpOnly\r\n", v->sid);
    }
    buf_clear(&v->items);
    int rc = sessions_save(n->sessions, now_seconds(n), v->sid, "", 0, err);
    note_store(n, rc == 0, err);
    if (rc != 0) {
        v->session = "error";
        n->counters.session_errors++;
        return -1;
    }
    return 0;
}

/* The length of the UTF-8 sequence at s (left > 0 bytes remain); 1 for a byte that does not
 * begin a well-formed sequence, so that every byte belongs to exactly one character. */
static size_t utf8_seq_len(const unsigned char *s, size_t left)
{
    size_t n = 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    if (n > left)
        return 1;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 1;
    return n;
}

/* X-Farm-User writes visible ASCII as itself and every other byte, and '%', as %XX. */
static bool user_byte_is_plain(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '%';
}

size_t app_user_header(const char *name, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)name;
    size_t o = 0, i = 0;
    if (cap == 0)
        return 0;
    for (int chars = 0; i < len && chars < APP_USER_CHARS_MAX; chars++) {
        size_t n = utf8_seq_len(s + i, len - i), need = 0;
        for (size_t k = 0; k < n; k++)
            need += user_byte_is_plain(s[i + k]) ? 1 : 3;
        if (o + need + 1 > cap)
            break; /* a character is shown whole or not at all */
        for (size_t end = i + n; i < end; i++) {
            if (user_byte_is_plain(s[i])) {
                out[o++] = (char)s[i];
            } else {
                out[o++] = '%';
                out[o++] = hex[s[i] >> 4];
                out[o++] = hex[s[i] & 15];
            }
        }
    }
    out[o] = '\0';
    return o;
}

static void farm_headers(struct node *n, struct response *rs, const struct visit *v)
{
    response_header(rs, "X-Farm-Node", n->cfg.name);
    response_header(rs, "X-Farm-Ticket", fa_status_name(v->ticket));
    response_header(rs, "X-Farm-Key", n->fp.text);
    response_header(rs, "X-Farm-Session", v->session ? v->session : "off");
    if (v->ticket == FA_VALID || v->ticket == FA_EXPIRED) {
        size_t len;
        const char *name = ticket_get(&v->t, TICKET_NAME, &len);
        char safe[APP_USER_HEADER_CAP];
        app_user_header(name, len, safe, sizeof safe);
        response_header(rs, "X-Farm-User", safe);
    }
}

static void json_str(struct buf *b, const char *key, const char *s, size_t n, bool comma)
{
    buf_printf(b, "%s\"%s\":\"", comma ? "," : "", key);
    buf_json(b, s, n);
    buf_puts(b, "\"");
}

static void json_ticket(struct buf *b, const struct visit *v)
{
    buf_printf(b, "{\"status\":\"%s\"", fa_status_name(v->ticket));
    if (v->ticket == FA_VALID || v->ticket == FA_EXPIRED) {
        size_t n;
        const char *s;
        char a[TICKS_ISO_MAX], e[TICKS_ISO_MAX];
        s = ticket_get(&v->t, TICKET_NAME, &n);
        json_str(b, "name", s, n, true);
        s = ticket_get(&v->t, TICKET_USER_DATA, &n);
        json_str(b, "user_data", s, n, true);
        s = ticket_get(&v->t, TICKET_COOKIE_PATH, &n);
        json_str(b, "cookie_path", s, n, true);
        ticks_format_iso(v->t.issue_ticks, a);
        ticks_format_iso(v->t.expiration_ticks, e);
        buf_printf(b,
                   ",\"format\":\"%s\",\"version\":%u,\"persistent\":%s,\"issue_utc\":\"%s\","
                   "\"expiration_utc\":\"%s\"",
                   ticket_format_name(v->t.format), v->t.version,
                   v->t.persistent ? "true" : "false", a, e);
    }
    buf_puts(b, "}");
}

static void json_items(struct buf *b, const struct visit *v)
{
    buf_puts(b, "[");
    const char *p = v->items.data;
    size_t left = v->items.len;
    bool first = true;
    while (p && left > 0) {
        const char *nl = memchr(p, '\n', left);
        size_t n = nl ? (size_t)(nl - p) : left;
        if (n > 0) {
            buf_puts(b, first ? "\"" : ",\"");
            buf_json(b, p, n);
            buf_puts(b, "\"");
            first = false;
        }
        if (!nl)
            break;
        left -= n + 1;
        p = nl + 1;
    }
    buf_puts(b, "]");
}

static void json_keys(struct node *n, struct buf *b)
{
    buf_printf(b,
               "{\"fingerprint\":\"%s\",\"validation\":\"%s\",\"decryption\":\"%s\","
               "\"cipher\":\"%s-%zu\",\"mode\":\"%s\",\"autogenerate\":%s,\"isolate_apps\":%s}",
               n->fp.text, mk_validation_name(n->mk.validation),
               mk_decryption_name(n->mk.decryption), mk_cipher_name(n->mk.cipher),
               8 * machinekey_cipher_key_len(&n->mk), mk_compat_name(n->mk.compat),
               n->mk.vkey.autogen || n->mk.dkey.autogen ? "true" : "false",
               n->mk.vkey.isolate_apps || n->mk.dkey.isolate_apps ? "true" : "false");
}

static void html_begin(struct response *rs, const char *title)
{
    response_header(rs, "Content-Type", "text/html; charset=utf-8");
    buf_puts(rs->body, "<!doctype html><html><head><meta charset=\"utf-8\"><title>");
    buf_html(rs->body, title, strlen(title));
    buf_puts(rs->body, "</title><style>body{font-family:sans-serif;max-width:46em;margin:2em "
                       "auto}code{background:#eee;padding:0 .2em}.bad{color:#a00}.ok{color:#070}"
                       "</style></head><body>");
}

static void html_end(struct response *rs)
{
    buf_puts(rs->body, "</body></html>\n");
}

static void page_whoami(struct node *n, struct response *rs, struct visit *v)
{
    if (!v->html) {
        response_header(rs, "Content-Type", "application/json");
        struct buf *b = rs->body;
        buf_puts(b, "{\"node\":\"");
        buf_json(b, n->cfg.name, strlen(n->cfg.name));
        buf_puts(b, "\",\"ticket\":");
        json_ticket(b, v);
        buf_puts(b, ",\"keys\":");
        json_keys(n, b);
        buf_printf(b, ",\"session\":{\"mode\":\"%s\",\"status\":\"%s\"",
                   session_mode_name(n->cfg.session), v->session);
        if (n->cfg.session != SESSION_OFF) {
            buf_printf(b, ",\"id\":\"%s\",\"cart\":", v->sid);
            json_items(b, v);
        }
        buf_puts(b, "},\"explain\":\"");
        buf_json(b, explain[v->ticket], strlen(explain[v->ticket]));
        buf_puts(b, "\"}\n");
        return;
    }
    char title[128];
    snprintf(title, sizeof title, "%s: who am I", n->cfg.name);
    html_begin(rs, title);
    struct buf *b = rs->body;
    buf_puts(b, "<h1>Served by <code>");
    buf_html(b, n->cfg.name, strlen(n->cfg.name));
    buf_puts(b, "</code></h1>");
    bool ok = v->ticket == FA_VALID;
    buf_printf(b, "<p class=\"%s\">Ticket: <b>%s</b>", ok ? "ok" : "bad",
               fa_status_name(v->ticket));
    if (v->ticket == FA_VALID || v->ticket == FA_EXPIRED) {
        size_t len;
        const char *name = ticket_get(&v->t, TICKET_NAME, &len);
        buf_puts(b, " — user <code>");
        buf_html(b, name, len);
        buf_puts(b, "</code>");
    }
    buf_puts(b, "</p><p>");
    buf_html(b, explain[v->ticket], strlen(explain[v->ticket]));
    buf_printf(b, "</p><p>This node's keys: <code>%s</code> (%s, %s-%zu, %s)%s</p>", n->fp.text,
               mk_validation_name(n->mk.validation), mk_cipher_name(n->mk.cipher),
               8 * machinekey_cipher_key_len(&n->mk), mk_compat_name(n->mk.compat),
               n->mk.vkey.autogen ? " — <b class=\"bad\">AutoGenerate: no other server can read "
                                    "what this one issues</b>"
                                  : "");
    buf_printf(b, "<p>Session (%s): <b>%s</b>", session_mode_name(n->cfg.session), v->session);
    if (strcmp(v->session, "lost") == 0)
        buf_puts(b, " — the browser sent a session id this node's store does not know: "
                    "InProc sessions live in one server's memory; use a state server shared "
                    "by all nodes, with the same application path (site ID) on each.");
    buf_puts(b, "</p>");
    html_end(rs);
}

static void page_error(struct node *n, struct response *rs, int status, const char *text, bool html)
{
    rs->status = status;
    if (html) {
        html_begin(rs, http_reason(status));
        buf_printf(rs->body, "<h1>Server Error in '/' Application.</h1><h2><i>");
        buf_html(rs->body, text, strlen(text));
        buf_printf(rs->body, "</i></h2><p>Node: <code>");
        buf_html(rs->body, n->cfg.name, strlen(n->cfg.name));
        buf_puts(rs->body, "</code></p>");
        html_end(rs);
    } else {
        response_header(rs, "Content-Type", "application/json");
        buf_puts(rs->body, "{\"node\":\"");
        buf_json(rs->body, n->cfg.name, strlen(n->cfg.name));
        buf_printf(rs->body, "\",\"status\":%d,\"error\":\"", status);
        buf_json(rs->body, text, strlen(text));
        buf_puts(rs->body, "\"}\n");
    }
}

bool app_return_url_is_local(const char *u, size_t len)
{
    if (len == 0 || u[0] != '/' || (len > 1 && u[1] == '/'))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return false;
    }
    return true;
}

static void page_login(struct node *n, const struct request_ctx *rq, struct response *rs,
                       struct visit *v, const char *query, size_t qlen)
{
    char user[PARAM_MAX], data[PARAM_MAX], persist[8], ret[PARAM_MAX];
    long ulen = http_param(query, qlen, "user", user, sizeof user);
    long dlen = http_param(query, qlen, "data", data, sizeof data);
    bool persistent = http_param(query, qlen, "persistent", persist, sizeof persist) > 0 &&
                      strcmp(persist, "0") != 0;
    long rlen = http_param(query, qlen, "ReturnUrl", ret, sizeof ret);
    bool has_ret = rlen > 0;
    (void)rq;
    if (ulen <= 0) {
        /* The login page, where ASP.NET sends anonymous visitors. */
        if (v->html) {
            html_begin(rs, "Log in");
            buf_puts(rs->body, "<h1>Log in</h1><form method=\"get\" action=\"/login\">"
                               "<input name=\"user\" placeholder=\"user name\">");
            if (has_ret) {
                buf_puts(rs->body, "<input type=\"hidden\" name=\"ReturnUrl\" value=\"");
                buf_html(rs->body, ret, strlen(ret));
                buf_puts(rs->body, "\">");
            }
            buf_puts(rs->body, "<button>Log in</button></form>");
            html_end(rs);
        } else {
            response_header(rs, "Content-Type", "application/json");
            buf_puts(rs->body, "{\"login\":\"give ?user=NAME[&persistent=1][&data=S]\"}\n");
        }
        return;
    }
    struct ticket t;
    ticket_init(&t);
    t.version = 2;
    t.persistent = persistent;
    t.issue_ticks = node_now(n);
    t.expiration_ticks = t.issue_ticks + (int64_t)(n->cfg.ticket_timeout * TICKS_PER_SECOND);
    if (ticket_set(&t, TICKET_NAME, user, (size_t)ulen) != 0 ||
        ticket_set(&t, TICKET_USER_DATA, dlen > 0 ? data : "", dlen > 0 ? (size_t)dlen : 0) != 0 ||
        ticket_set(&t, TICKET_COOKIE_PATH, "/", 1) != 0) {
        page_error(n, rs, 400, "The user name or data is not valid UTF-8.", v->html);
        return;
    }
    if (set_ticket_cookie(n, rs, &t) != 0) {
        /* No cookie, so no login: the verdict headers keep describing what was sent. */
        uint8_t plain[2 * TICKET_TEXT_MAX + 64];
        bool serializable = ticket_serialize(&t, plain, sizeof plain) >= 0;
        if (serializable)
            page_error(n, rs, 400,
                       "The user name and data are too long: the protected ticket would exceed "
                       "the browser's 4096-byte cookie limit, so no cookie was issued.",
                       v->html);
        else
            page_error(n, rs, 500,
                       "The ticket cannot be issued: its expiry (this node's clock plus the "
                       "ticket timeout) is past the year 9999, beyond a .NET DateTime.",
                       v->html);
        return;
    }
    n->counters.logins++;
    v->ticket = FA_VALID;
    v->t = t;
    if (has_ret && app_return_url_is_local(ret, (size_t)rlen)) {
        rs->status = 302;
        response_header(rs, "Location", ret);
        return;
    }
    response_header(rs, "Content-Type", "application/json");
    buf_puts(rs->body, "{\"node\":\"");
    buf_json(rs->body, n->cfg.name, strlen(n->cfg.name));
    buf_puts(rs->body, "\",\"logged_in\":\"");
    buf_json(rs->body, user, (size_t)ulen);
    buf_printf(rs->body, "\",\"persistent\":%s}\n", persistent ? "true" : "false");
}

static void page_logout(struct node *n, struct response *rs, struct visit *v)
{
    buf_printf(rs->head,
               "Set-Cookie: %s=; expires=Mon, 11-Oct-1999 00:00:00 GMT; path=/; HttpOnly\r\n",
               n->cfg.cookie_name);
    response_header(rs, "Content-Type", "application/json");
    buf_puts(rs->body, "{\"logged_out\":true}\n");
    (void)v;
}

static void page_account(struct node *n, struct response *rs, struct visit *v)
{
    (void)n;
    if (v->ticket != FA_VALID) {
        /* As ASP.NET: the bad ticket was dropped silently; anonymous → the login page. */
        rs->status = 302;
        response_header(rs, "Location", "/login?ReturnUrl=%2faccount");
        if (v->html) {
            html_begin(rs, "Object moved");
            buf_puts(rs->body, "<h2>Object moved to <a href=\"/login?ReturnUrl=%2faccount\">"
                               "here</a>.</h2>");
            html_end(rs);
        }
        return;
    }
    size_t len;
    const char *name = ticket_get(&v->t, TICKET_NAME, &len);
    if (v->html) {
        html_begin(rs, "Your account");
        buf_puts(rs->body, "<h1>Your account</h1><p>Welcome, <code>");
        buf_html(rs->body, name, len);
        buf_puts(rs->body, "</code>.</p>");
        html_end(rs);
        return;
    }
    response_header(rs, "Content-Type", "application/json");
    buf_puts(rs->body, "{\"account\":\"");
    buf_json(rs->body, name, len);
    buf_puts(rs->body, "\"}\n");
}

static void page_cart(struct node *n, struct response *rs, struct visit *v, const char *add)
{
    struct errbuf err = {{0}};
    if (n->cfg.session == SESSION_OFF) {
        page_error(n, rs, 500,
                   "Session state can only be used when enableSessionState is set to true.",
                   v->html);
        return;
    }
    if (add) {
        buf_puts(&v->items, add);
        buf_puts(&v->items, "\n");
        int rc =
            sessions_save(n->sessions, now_seconds(n), v->sid, v->items.data, v->items.len, &err);
        note_store(n, rc == 0, &err);
        if (rc != 0) {
            v->session = "error";
            n->counters.session_errors++;
            page_error(n, rs, 500, STATECLIENT_UNREACHABLE_TEXT, v->html);
            return;
        }
    }
    response_header(rs, "Content-Type", "application/json");
    buf_printf(rs->body, "{\"session\":\"%s\",\"cart\":", v->session);
    json_items(rs->body, v);
    buf_puts(rs->body, "}\n");
}

const struct viewstate_page NODE_FORM_PAGE = {
    .template_dir = "/",
    .type_name = "form_aspx",
    .generator = 0xCA0B0334u,
};

static void page_form_get(struct node *n, struct response *rs)
{
    char payload[200];
    int plen = snprintf(payload, sizeof payload,
                        "\xff\x01"
                        "farmlab:node=%s;issued=%lld",
                        n->cfg.name, (long long)node_now(n));
    char vs[1024], gen[9];
    if (plen < 0 ||
        viewstate_protect(&n->vs, (const uint8_t *)payload,
                          (size_t)plen < sizeof payload ? (size_t)plen : sizeof payload - 1, vs,
                          sizeof vs) < 0) {
        page_error(n, rs, 500, "Cannot protect ViewState.", true);
        return;
    }
    viewstate_generator_text(NODE_FORM_PAGE.generator, gen);
    html_begin(rs, "A form with ViewState");
    buf_puts(rs->body, "<h1>Post back</h1><form method=\"post\" action=\"/form\">"
                       "<input type=\"hidden\" name=\"__VIEWSTATE\" id=\"__VIEWSTATE\" value=\"");
    buf_html(rs->body, vs, strlen(vs));
    buf_printf(rs->body,
               "\"><input type=\"hidden\" name=\"__VIEWSTATEGENERATOR\" "
               "id=\"__VIEWSTATEGENERATOR\" value=\"%s\"><button>Post back</button></form>",
               gen);
    html_end(rs);
}

static void page_form_post(struct node *n, const struct request_ctx *rq, struct response *rs,
                           struct visit *v)
{
    const struct buf *body = &rq->req->body;
    char *vs = malloc(body->len + 1);
    long len =
        vs ? http_param(body->data ? body->data : "", body->len, "__VIEWSTATE", vs, body->len + 1)
           : -1;
    if (len <= 0) {
        free(vs);
        page_error(n, rs, 400, "No __VIEWSTATE field was posted.", v->html);
        return;
    }
    uint8_t payload[4096];
    size_t plen = 0;
    enum vs_status st =
        viewstate_unprotect(&n->vs, vs, (size_t)len, payload, sizeof payload, &plen);
    free(vs);
    response_header(rs, "X-Farm-ViewState", vs_status_name(st));
    if (st == VS_VALID) {
        n->counters.viewstate_ok++;
        response_header(rs, "Content-Type", "application/json");
        const char *issuer = NULL;
        size_t ilen = 0;
        const char *mark = NULL;
        for (size_t i = 0; i + 5 <= plen && !mark; i++)
            if (memcmp(payload + i, "node=", 5) == 0)
                mark = (const char *)payload + i;
        if (mark) {
            issuer = mark + 5;
            const char *semi = memchr(issuer, ';', plen - (size_t)(issuer - (char *)payload));
            ilen = semi ? (size_t)(semi - issuer) : 0;
        }
        buf_puts(rs->body, "{\"viewstate\":\"valid\",\"issued_by\":\"");
        if (issuer)
            buf_json(rs->body, issuer, ilen);
        buf_puts(rs->body, "\"}\n");
        return;
    }
    n->counters.viewstate_failed++;
    page_error(n, rs, 500,
               st == VS_MALFORMED
                   ? "The state information is invalid for this page and might be corrupted."
                   : VIEWSTATE_MAC_FAILED_TEXT,
               v->html);
}

static void page_info(struct node *n, struct response *rs)
{
    struct buf *b = rs->body;
    const struct node_counters *c = &n->counters;
    char faults[256], now[TICKS_ISO_MAX];
    faults_describe(&n->faults, faults, sizeof faults);
    ticks_format_iso(node_now(n), now);
    response_header(rs, "Content-Type", "application/json");
    buf_puts(b, "{\"name\":\"");
    buf_json(b, n->cfg.name, strlen(n->cfg.name));
    buf_printf(b, "\",\"role\":\"node\",\"listen\":\"%s\",\"keys\":", httpd_address(n->srv));
    json_keys(n, b);
    buf_puts(b, ",\"app_path\":\"");
    buf_json(b, n->cfg.app_path, strlen(n->cfg.app_path));
    buf_printf(b, "\",\"session\":\"%s\",\"cookie_name\":\"", session_mode_name(n->cfg.session));
    buf_json(b, n->cfg.cookie_name, strlen(n->cfg.cookie_name));
    buf_printf(b, "\",\"clock\":\"%s\",\"clock_pinned\":%s,\"faults\":\"%s\",", now,
               n->cfg.clock_pinned ? "true" : "false", faults);
    buf_printf(b, "\"counters\":{\"requests\":%llu,\"logins\":%llu,\"tickets\":{", c->requests,
               c->logins);
    for (int i = 0; i < FA_STATUS_COUNT; i++)
        buf_printf(b, "%s\"%s\":%llu", i ? "," : "", fa_status_name((enum fa_status)i),
                   c->tickets[i]);
    buf_printf(b,
               "},\"sessions\":{\"found\":%llu,\"new\":%llu,\"lost\":%llu,\"errors\":%llu},"
               "\"viewstate\":{\"valid\":%llu,\"failed\":%llu},\"faults_injected\":%llu}}\n",
               c->sessions_found, c->sessions_new, c->sessions_lost, c->session_errors,
               c->viewstate_ok, c->viewstate_failed, c->faults_injected);
}

/* The fault and clock endpoints: a loopback peer, and not a browser page on this machine
 * (which could reach loopback too, under its own site's name or Origin). */
static bool control_allowed(const struct request_ctx *rq)
{
    return rq->peer_is_loopback && http_request_is_local(rq->req, rq->buf);
}

static void page_fault(struct node *n, const struct request_ctx *rq, struct response *rs,
                       const char *query, size_t qlen)
{
    char spec[PARAM_MAX], desc[256];
    struct errbuf err = {{0}};
    response_header(rs, "Content-Type", "application/json");
    if (!control_allowed(rq)) {
        rs->status = 403;
        buf_puts(rs->body, "{\"error\":\"fault control is for loopback clients that name the "
                           "node by address (Host an IP or localhost, no foreign Origin)\"}\n");
        return;
    }
    if (rq->req->method == HTTP_POST) {
        long len = http_param(query, qlen, "spec", spec, sizeof spec);
        if (len <= 0 && rq->req->body.len > 0 && rq->req->body.len < sizeof spec) {
            memcpy(spec, rq->req->body.data, rq->req->body.len);
            spec[rq->req->body.len] = '\0';
            len = (long)rq->req->body.len;
        }
        if (len <= 0 || faults_apply(&n->faults, spec, &err) != 0) {
            rs->status = 400;
            buf_puts(rs->body, "{\"error\":\"");
            buf_json(rs->body, len <= 0 ? "give ?spec=..." : err.msg,
                     strlen(len <= 0 ? "give ?spec=..." : err.msg));
            buf_puts(rs->body, "\"}\n");
            return;
        }
        faults_describe(&n->faults, desc, sizeof desc);
        fprintf(stderr, "node=%s event=fault faults=%s\n", n->cfg.name, desc);
        if (n->faults.crash) {
            fprintf(stderr, "node=%s event=crash exit=3\n", n->cfg.name);
            fflush(stderr);
            _exit(3);
        }
    } else if (rq->req->method != HTTP_GET) {
        rs->status = 405;
    }
    faults_describe(&n->faults, desc, sizeof desc);
    buf_printf(rs->body, "{\"node\":\"%s\",\"faults\":\"%s\"}\n", n->cfg.name, desc);
}

static void page_clock(struct node *n, const struct request_ctx *rq, struct response *rs,
                       const char *query, size_t qlen)
{
    char arg[64], now[TICKS_ISO_MAX];
    response_header(rs, "Content-Type", "application/json");
    if (!control_allowed(rq)) {
        rs->status = 403;
        buf_puts(rs->body, "{\"error\":\"clock control is for loopback clients that name the "
                           "node by address (Host an IP or localhost, no foreign Origin)\"}\n");
        return;
    }
    if (rq->req->method == HTTP_POST) {
        int64_t t;
        if (http_param(query, qlen, "set", arg, sizeof arg) > 0 && ticks_parse_iso(arg, &t) == 0) {
            n->clock_offset = t - (n->cfg.clock_pinned ? n->cfg.clock : ticks_now());
        } else if (http_param(query, qlen, "advance", arg, sizeof arg) > 0 &&
                   ticks_parse_duration(arg, &t) == 0) {
            n->clock_offset += t;
        } else {
            rs->status = 400;
            buf_puts(rs->body, "{\"error\":\"give ?set=ISO8601 or ?advance=DURATION\"}\n");
            return;
        }
    }
    ticks_format_iso(node_now(n), now);
    buf_printf(rs->body, "{\"node\":\"%s\",\"clock\":\"%s\"}\n", n->cfg.name, now);
}

static bool path_is(const char *p, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(p, want, n) == 0;
}

void node_handle(void *app, const struct request_ctx *rq, struct response *rs)
{
    struct node *n = app;
    const char *path, *query;
    size_t plen, qlen;
    http_url_split(rq->req, rq->buf, &path, &plen, &query, &qlen);
    int method = rq->req->method;
    n->counters.requests++;

    /* Farm endpoints and health: never faulted (except health's own faults), and, like an
     * ASP.NET handler that does not ask for session state, they leave the session alone. */
    if (path_is(path, plen, "/health") || (plen > 7 && memcmp(path, "/_farm/", 7) == 0)) {
        struct visit hv = {.session = "off"};
        check_ticket(n, rq, &hv);
        farm_headers(n, rs, &hv);
    }
    if (path_is(path, plen, "/health")) {
        response_header(rs, "Content-Type", "text/plain");
        if (n->faults.health_down) {
            rs->status = 503;
            buf_puts(rs->body, "down\n");
        } else {
            buf_puts(rs->body, "ok\n");
        }
        return;
    }
    if (plen > 7 && memcmp(path, "/_farm/", 7) == 0) {
        response_header(rs, "Cache-Control", "no-store");
        if (path_is(path, plen, "/_farm/info"))
            page_info(n, rs);
        else if (path_is(path, plen, "/_farm/fault"))
            page_fault(n, rq, rs, query, qlen);
        else if (path_is(path, plen, "/_farm/clock"))
            page_clock(n, rq, rs, query, qlen);
        else
            rs->status = 404;
        return;
    }

    struct visit v = {.session = "off"};
    buf_init(&v.items);
    v.html = http_prefers_html(rq->req, rq->buf);
    response_header(rs, "Cache-Control", "private");

    struct fault_decision fd;
    faults_decide(&n->faults, &fd);
    rs->delay = fd.delay;
    rs->hang = fd.hang;
    rs->reset = fd.reset;
    rs->slow_bps = fd.slow_bps;
    if (fd.hang || fd.reset || fd.delay > 0 || fd.error_status || fd.slow_bps)
        n->counters.faults_injected++;

    check_ticket(n, rq, &v);
    n->counters.tickets[v.ticket]++;
    struct errbuf err = {{0}};

    if (fd.error_status) {
        /* Answered before the session was looked at: nothing created, no cookie, so "off". */
        v.session = "off";
        page_error(n, rs, fd.error_status, "Injected fault.", v.html);
        goto done;
    }
    bool uses_session = !path_is(path, plen, "/logout");
    int sess_rc = uses_session ? open_session(n, rq, rs, &v, &err) : 0;
    if (sess_rc != 0) {
        page_error(n, rs, 500,
                   sess_rc == -2 ? "Cannot create a session id: no random bytes."
                                 : STATECLIENT_UNREACHABLE_TEXT,
                   v.html);
        goto done;
    }
    maybe_renew(n, rs, &v);

    if ((path_is(path, plen, "/whoami") || path_is(path, plen, "/")) &&
        (method == HTTP_GET || method == HTTP_HEAD))
        page_whoami(n, rs, &v);
    else if (path_is(path, plen, "/login") && method == HTTP_GET)
        page_login(n, rq, rs, &v, query, qlen);
    else if (path_is(path, plen, "/logout"))
        page_logout(n, rs, &v);
    else if (path_is(path, plen, "/account") && (method == HTTP_GET || method == HTTP_HEAD))
        page_account(n, rs, &v);
    else if (path_is(path, plen, "/cart") && method == HTTP_GET)
        page_cart(n, rs, &v, NULL);
    else if (path_is(path, plen, "/cart/add") && method == HTTP_POST) {
        char item[PARAM_MAX];
        if (http_param(query, qlen, "item", item, sizeof item) <= 0)
            page_error(n, rs, 400, "give ?item=NAME", v.html);
        else
            page_cart(n, rs, &v, item);
    } else if (path_is(path, plen, "/form") && method == HTTP_GET)
        page_form_get(n, rs);
    else if (path_is(path, plen, "/form") && method == HTTP_POST)
        page_form_post(n, rq, rs, &v);
    else {
        bool known = path_is(path, plen, "/whoami") || path_is(path, plen, "/") ||
                     path_is(path, plen, "/login") || path_is(path, plen, "/account") ||
                     path_is(path, plen, "/cart") || path_is(path, plen, "/cart/add") ||
                     path_is(path, plen, "/form");
        page_error(n, rs, known ? 405 : 404, known ? "Method not allowed." : "Not found.", v.html);
    }
done:
    farm_headers(n, rs, &v);
    buf_cleanup(&v.items);
}
