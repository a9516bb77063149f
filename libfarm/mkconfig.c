#include "mkconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <openssl/crypto.h>

/* A machine.config is ~40 KiB; anything this large is not a config file. */
#define MKCONFIG_MAX_BYTES (16u * 1024u * 1024u)

/* The file is untrusted: no network, no DTD loading, no entity substitution (XML_PARSE_NOENT,
 * _DTDLOAD, _DTDATTR and _DTDVALID stay off, so external entities are never fetched), and
 * libxml2 prints nothing: its first error is turned into our own message. */
#define MKCONFIG_XML_OPTIONS                                                                       \
    (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_BIG_LINES)

#define MSG_UNRECOGNIZED_ATTR                                                                      \
    "Unrecognized attribute '%s'. Note that attribute names are case-sensitive."
#define MSG_UNRECOGNIZED_ATTR_HIDDEN                                                               \
    "Unrecognized attribute (its name is not shown: it looks like key text)."
#define MSG_TARGET_FRAMEWORK "The value of the property 'targetFramework' cannot be parsed."

/* Attributes that are valid but mean nothing to farmlab: <machineKey>'s dataProtectorType and
 * applicationName, and the lock* ones every .NET ConfigurationElement accepts
 * (ConfigurationElement.DeserializeElement). */
static const char *const ignored_attrs[] = {
    "dataProtectorType",     "applicationName",         "lockItem",
    "lockAttributes",        "lockAllAttributesExcept", "lockElements",
    "lockAllElementsExcept",
};

/* Read the whole file into a NUL-terminated buffer (*out, *len). The buffer holds key text:
 * it never goes through realloc, and is wiped before every free. */
static int read_whole(const char *path, char **out, size_t *len, struct errbuf *err)
{
    char *buf = NULL;
    size_t cap = 0, used = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errbuf_set(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (used == cap) {
            size_t ncap = cap == 0 ? 16384 : cap * 2;
            if (cap >= MKCONFIG_MAX_BYTES) {
                errbuf_set(err, "%s: file too large (more than %u bytes)", path,
                           MKCONFIG_MAX_BYTES);
                goto fail;
            }
            char *nbuf = malloc(ncap + 1);
            if (nbuf == NULL) {
                errbuf_set(err, "%s: out of memory", path);
                goto fail;
            }
            if (buf != NULL) {
                memcpy(nbuf, buf, used);
                OPENSSL_cleanse(buf, cap);
                free(buf);
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            errbuf_set(err, "%s: cannot read: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    *out = buf;
    *len = used;
    return 0;
fail:
    close(fd);
    if (buf != NULL) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
    }
    return -1;
}

/* Defence in depth: while we parse, every external resource libxml2 might ask for is refused,
 * whatever the options say. (The loader is process-wide; it is restored after the parse.) */
static xmlParserInputPtr refuse_entity_loader(const char *url, const char *id,
                                              xmlParserCtxtPtr ctxt)
{
    (void)url;
    (void)id;
    (void)ctxt;
    return NULL;
}

/* The first well-formedness error libxml2 reports (the ones after it are often knock-on
 * effects), kept through the context's structured error handler: its code and position only.
 * libxml2's text is never kept, because it quotes the input (an undefined entity's name, an
 * attribute's bytes), and in a <machineKey> the input is key text. */
struct first_error {
    xmlErrorLevel level; /* XML_ERR_NONE until one is seen */
    int code;            /* xmlParserErrors */
    int line;
    int column; /* 0 if libxml2 did not say */
};

static void record_error_cb(void *user, xmlErrorPtr e)
{
    xmlParserCtxtPtr ctxt = user;
    struct first_error *fe = ctxt != NULL ? ctxt->_private : NULL;
    if (fe == NULL || e == NULL || e->level < XML_ERR_ERROR || fe->level >= e->level)
        return;
    fe->level = e->level;
    fe->code = e->code;
    fe->line = e->line;
    fe->column = e->int2 > 0 ? e->int2 : 0;
}

/* A fixed description of a libxml2 error code. Never libxml2's own message: see
 * first_error. NULL for codes without one (the caller prints the number). */
static const char *xml_error_text(int code)
{
    static const struct {
        int code;
        const char *text;
    } texts[] = {
        {XML_ERR_NO_MEMORY, "out of memory"},
        {XML_ERR_DOCUMENT_START, "no root element"},
        {XML_ERR_DOCUMENT_EMPTY, "empty document"},
        {XML_ERR_DOCUMENT_END, "content after the root element"},
        {XML_ERR_EXTRA_CONTENT, "content after the root element"},
        {XML_ERR_INVALID_HEX_CHARREF, "invalid character reference"},
        {XML_ERR_INVALID_DEC_CHARREF, "invalid character reference"},
        {XML_ERR_INVALID_CHARREF, "invalid character reference"},
        {XML_ERR_INVALID_CHAR, "invalid character"},
        {XML_ERR_ENTITYREF_SEMICOL_MISSING, "entity reference without ';'"},
        {XML_ERR_UNDECLARED_ENTITY, "undefined entity"},
        {XML_WAR_UNDECLARED_ENTITY, "undefined entity"},
        {XML_ERR_UNPARSED_ENTITY, "reference to an unparsed entity"},
        {XML_ERR_ENTITY_IS_EXTERNAL, "reference to an external entity"},
        {XML_ERR_ENTITY_LOOP, "entity loop"},
        {XML_ERR_UNKNOWN_ENCODING, "unsupported encoding"},
        {XML_ERR_UNSUPPORTED_ENCODING, "unsupported encoding"},
        {XML_ERR_INVALID_ENCODING, "bytes invalid in the document's encoding"},
        {XML_ERR_STRING_NOT_STARTED, "quoted string expected"},
        {XML_ERR_STRING_NOT_CLOSED, "unterminated quoted string"},
        {XML_ERR_LT_IN_ATTRIBUTE, "'<' in an attribute value"},
        {XML_ERR_ATTRIBUTE_NOT_STARTED, "attribute value not quoted"},
        {XML_ERR_ATTRIBUTE_NOT_FINISHED, "unterminated attribute"},
        {XML_ERR_ATTRIBUTE_WITHOUT_VALUE, "attribute without a value"},
        {XML_ERR_ATTRIBUTE_REDEFINED, "attribute written twice"},
        {XML_ERR_COMMENT_NOT_FINISHED, "unterminated comment"},
        {XML_ERR_HYPHEN_IN_COMMENT, "'--' inside a comment"},
        {XML_ERR_PI_NOT_FINISHED, "unterminated processing instruction"},
        {XML_ERR_XMLDECL_NOT_FINISHED, "malformed XML declaration"},
        {XML_ERR_VERSION_MISSING, "malformed XML declaration"},
        {XML_ERR_RESERVED_XML_NAME, "XML declaration not at the start"},
        {XML_ERR_DOCTYPE_NOT_FINISHED, "unterminated DOCTYPE"},
        {XML_ERR_CDATA_NOT_FINISHED, "unterminated CDATA section"},
        {XML_ERR_MISPLACED_CDATA_END, "']]>' in text"},
        {XML_ERR_SPACE_REQUIRED, "white space expected"},
        {XML_ERR_NAME_REQUIRED, "name expected"},
        {XML_ERR_EQUAL_REQUIRED, "'=' expected after an attribute name"},
        {XML_ERR_GT_REQUIRED, "unterminated start tag"},
        {XML_ERR_LTSLASH_REQUIRED, "end tag expected"},
        {XML_ERR_TAG_NAME_MISMATCH, "end tag does not match the start tag"},
        {XML_ERR_TAG_NOT_FINISHED, "element not closed"},
        {XML_ERR_NOT_WELL_BALANCED, "unbalanced tags"},
        {XML_NS_ERR_UNDEFINED_NAMESPACE, "undefined namespace prefix"},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (texts[i].code == code)
            return texts[i].text;
    return NULL;
}

/* "path:line: not well-formed XML: <fixed description> (column N)". */
static void set_xml_error(struct errbuf *err, const char *path, const struct first_error *fe)
{
    char what[48];
    const char *text = xml_error_text(fe->code);
    if (text == NULL) {
        snprintf(what, sizeof what, "XML error %d", fe->code);
        text = what;
    }
    char col[32] = "";
    if (fe->column > 0)
        snprintf(col, sizeof col, " (column %d)", fe->column);
    errbuf_set(err, "%s:%d: not well-formed XML: %s%s", path, fe->line > 0 ? fe->line : 1, text,
               col);
}

/* The line of the '<' that opens the start tag just parsed. libxml2 gives an element the
 * line where its start tag ends (and its record_info start lines are garbage for non-empty
 * elements in 2.9), so count back: a start tag's text is still in the input buffer (the
 * attribute values handed to SAX point into it), and a raw '<' cannot occur inside it. */
static int start_tag_line(xmlParserCtxtPtr ctxt)
{
    xmlParserInputPtr in = ctxt->input;
    if (in == NULL || in->cur == NULL || in->base == NULL)
        return 0;
    int line = in->line;
    for (const xmlChar *p = in->cur; p > in->base;) {
        p--;
        if (*p == '<')
            return line;
        if (*p == '\n')
            line--;
    }
    return in->line; /* no longer buffered: the end of the tag will do */
}

/* SAX2 start of an element: build the node as usual, then note its start line in the node's
 * application field (see elem_line). */
static void start_element_cb(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                             const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                             int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    xmlParserCtxtPtr ctxt = ctx;
    int line = start_tag_line(ctxt);
    xmlNodePtr parent = ctxt->node;
    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                          nb_defaulted, attributes);
    if (ctxt->node != NULL && ctxt->node != parent && line > 0)
        ctxt->node->_private = (void *)(intptr_t)line;
}

/* 1-based line of the element's '<'. */
static int elem_line(const xmlNode *n)
{
    if (n->_private != NULL)
        return (int)(intptr_t)n->_private;
    long line = xmlGetLineNo(n);
    return line > 0 && line <= INT_MAX ? (int)line : 0;
}

/* Parse buf (len bytes). libxml2 parses from its own copy of buf and frees its transient
 * copies without wiping them (a zero-copy static input buffer would avoid one, but is broken in
 * libxml2 2.9: it re-reads input); the tree's attribute values are wiped by
 * wipe_attr_values(). */
static xmlDocPtr parse_xml(const char *path, const char *buf, size_t len, struct errbuf *err)
{
    xmlDocPtr doc = NULL;
    struct first_error fe = {.level = XML_ERR_NONE, .code = XML_ERR_INTERNAL_ERROR};

    if (len == 0) { /* xmlCreateMemoryParserCtxt refuses an empty buffer */
        fe.code = XML_ERR_DOCUMENT_EMPTY;
        set_xml_error(err, path, &fe);
        return NULL;
    }
    xmlInitParser();
    xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(buf, (int)len);
    if (ctxt == NULL) {
        errbuf_set(err, "%s: out of memory", path);
        return NULL;
    }
    xmlCtxtUseOptions(ctxt, MKCONFIG_XML_OPTIONS);
    ctxt->linenumbers = 1;
    ctxt->_private = &fe;
    ctxt->userData = ctxt;
    ctxt->sax->serror = record_error_cb;
    ctxt->sax->startElementNs = start_element_cb;

    xmlExternalEntityLoader saved = xmlGetExternalEntityLoader();
    xmlSetExternalEntityLoader(refuse_entity_loader);
    int rc = xmlParseDocument(ctxt);
    xmlSetExternalEntityLoader(saved);

    ctxt->_private = NULL;
    doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    if (rc != 0 || !ctxt->wellFormed || doc == NULL) {
        set_xml_error(err, path, &fe);
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    return doc;
}

/* The next element after n in document order, or NULL. */
static xmlNodePtr next_element(xmlNodePtr n)
{
    xmlNodePtr c = xmlFirstElementChild(n);
    if (c != NULL)
        return c;
    while (n != NULL && n->type == XML_ELEMENT_NODE) {
        xmlNodePtr s = xmlNextElementSibling(n);
        if (s != NULL)
            return s;
        n = n->parent;
    }
    return NULL;
}

/* Wipe every attribute value of the tree (they may hold keys) before it is freed. Values that
 * libxml2 interned in the document's dictionary (up to 3 characters, or blank) are shared:
 * left alone. */
static void wipe_attr_values(xmlDocPtr doc)
{
    for (xmlNodePtr n = xmlDocGetRootElement(doc); n != NULL; n = next_element(n))
        for (xmlAttrPtr a = n->properties; a != NULL; a = a->next)
            for (xmlNodePtr t = a->children; t != NULL; t = t->next)
                if (t->content != NULL &&
                    (doc->dict == NULL || !xmlDictOwns(doc->dict, t->content)))
                    OPENSSL_cleanse(t->content, strlen((const char *)t->content));
}

/* Element names in .NET config are case-sensitive and unprefixed (a default namespace, as in
 * old Visual Studio web.configs, is fine). */
static bool is_element(const xmlNode *n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && (n->ns == NULL || n->ns->prefix == NULL) &&
           xmlStrEqual(n->name, (const xmlChar *)name);
}

/* One component of .NET's Version(string): an Int32 in NumberStyles.Integer (surrounding
 * white space, a sign), which must not be negative. */
static bool parse_version_part(const char *s, size_t len, long *out)
{
    size_t i = 0;
    while (i < len && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')))
        i++;
    while (len > i && (s[len - 1] == ' ' || (s[len - 1] >= '\t' && s[len - 1] <= '\r')))
        len--;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == len)
        return false;
    long v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
        if (v > INT_MAX)
            return false;
    }
    if (neg && v != 0)
        return false;
    *out = v;
    return true;
}

/* targetFramework as .NET's Version: 2 to 4 dot-separated components. *fx45 tells >= 4.5. */
static int parse_target_framework(const char *s, bool *fx45)
{
    long part[4] = {0};
    int n = 0;
    for (;;) {
        size_t len = strcspn(s, ".");
        if (n == 4 || !parse_version_part(s, len, &part[n]))
            return -1;
        n++;
        if (s[len] == '\0')
            break;
        s += len + 1;
    }
    if (n < 2)
        return -1;
    *fx45 = part[0] > 4 || (part[0] == 4 && part[1] >= 5);
    return 0;
}

/* The <httpRuntime targetFramework> next to mk in the same <system.web>. Returns 0 (with
 * *fx45) or -1 with err set ("path:line: ..." at the httpRuntime element). */
static int sibling_target_framework(const char *path, xmlNodePtr mk, bool *fx45, struct errbuf *err)
{
    *fx45 = false;
    if (!is_element(mk->parent, "system.web"))
        return 0;
    for (xmlNodePtr c = xmlFirstElementChild(mk->parent); c != NULL; c = xmlNextElementSibling(c)) {
        if (!is_element(c, "httpRuntime"))
            continue;
        xmlChar *tf = xmlGetNoNsProp(c, (const xmlChar *)"targetFramework");
        if (tf == NULL)
            return 0;
        int rc = parse_target_framework((const char *)tf, fx45);
        xmlFree(tf);
        if (rc != 0)
            errbuf_set(err, "%s:%d: " MSG_TARGET_FRAMEWORK, path, elem_line(c));
        return rc;
    }
    return 0;
}

/* The enum mk_attr of a <machineKey> attribute; MK_ATTR_NONE for one that is accepted and
 * ignored; -1 for one ASP.NET does not know. */
static int classify_attr(const char *name)
{
    static const char *const known[] = {
        [MK_ATTR_VALIDATION_KEY] = "validationKey", [MK_ATTR_DECRYPTION_KEY] = "decryptionKey",
        [MK_ATTR_VALIDATION] = "validation",        [MK_ATTR_DECRYPTION] = "decryption",
        [MK_ATTR_COMPAT] = "compatibilityMode",
    };
    for (int i = MK_ATTR_VALIDATION_KEY; i <= MK_ATTR_COMPAT; i++)
        if (strcmp(name, known[i]) == 0)
            return i;
    for (size_t i = 0; i < sizeof ignored_attrs / sizeof ignored_attrs[0]; i++)
        if (strcmp(name, ignored_attrs[i]) == 0)
            return MK_ATTR_NONE;
    return -1;
}

/* The byte length of the white space character at s (n bytes available), or 0. White space
 * is what .NET's Char.IsWhiteSpace calls so: ASCII TAB..CR and space, and in UTF-8 U+0085,
 * U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F and U+3000. */
static size_t space_len(const unsigned char *s, size_t n)
{
    if (n >= 1 && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')))
        return 1;
    if (n >= 2 && s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0))
        return 2;
    if (n >= 3 && s[0] == 0xE1 && s[1] == 0x9A && s[2] == 0x80)
        return 3;
    if (n >= 3 && s[0] == 0xE2 && s[1] == 0x80 &&
        (s[2] <= 0x8A || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF))
        return 3;
    if (n >= 3 && s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0x9F)
        return 3;
    if (n >= 3 && s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80)
        return 3;
    return 0;
}

/* Trim leading and trailing white space in place, as .NET's WhiteSpaceTrimStringConverter
 * (String.Trim) does for validationKey, decryptionKey, validation and decryption. The bytes
 * freed at the end are wiped: they may be copies of key text. */
static void trim_value(xmlChar *v)
{
    unsigned char *s = v;
    size_t len = strlen((const char *)s), start = 0, end = len, k;
    while (start < end && (k = space_len(s + start, end - start)) > 0)
        start += k;
    while (end > start) {
        if (space_len(s + end - 1, 1) == 1)
            end -= 1;
        else if (end - start >= 2 && space_len(s + end - 2, 2) == 2)
            end -= 2;
        else if (end - start >= 3 && space_len(s + end - 3, 3) == 3)
            end -= 3;
        else
            break;
    }
    memmove(s, s + start, end - start);
    OPENSSL_cleanse(s + (end - start), len - (end - start));
    s[end - start] = '\0';
}

/* Whether an attribute name holds what may be key text (16 or more hex digits in a row): such a
 * name is not repeated in an error message. */
static bool looks_like_key_text(const char *s)
{
    size_t run = 0;
    for (; *s; s++) {
        bool hex = (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F');
        run = hex ? run + 1 : 0;
        if (run >= 16)
            return true;
    }
    return false;
}

static void free_value(xmlChar *v)
{
    if (v != NULL) {
        OPENSSL_cleanse(v, strlen((const char *)v));
        xmlFree(v);
    }
}

/* Fill e from one <machineKey> element. Only e->status / e->err report problems. */
static void read_elem(const char *path, const struct mkconfig_opts *opts, xmlDocPtr doc,
                      xmlNodePtr node, struct mkconfig_elem *e)
{
    xmlChar *val[MK_ATTR_COMPAT + 1] = {0};

    e->status = -1;
    e->line = elem_line(node);
    for (xmlNodePtr p = node->parent; p != NULL; p = p->parent) {
        if (is_element(p, "location")) {
            xmlChar *lp = xmlGetNoNsProp(p, (const xmlChar *)"path");
            if (lp != NULL)
                snprintf(e->location, sizeof e->location, "%s", (const char *)lp);
            xmlFree(lp);
            break;
        }
    }

    /* Every attribute first: .NET rejects unknown ones while reading the element, before the
     * values are checked. Names are compared exactly; a prefix makes a different name. */
    for (xmlAttrPtr a = node->properties; a != NULL; a = a->next) {
        char qname[128];
        if (a->ns != NULL && a->ns->prefix != NULL)
            snprintf(qname, sizeof qname, "%s:%s", (const char *)a->ns->prefix,
                     (const char *)a->name);
        else
            snprintf(qname, sizeof qname, "%s", (const char *)a->name);
        int which = a->ns != NULL && a->ns->prefix != NULL ? -1 : classify_attr(qname);
        if (which < 0) {
            if (looks_like_key_text(qname))
                errbuf_set(&e->err, "%s:%d: " MSG_UNRECOGNIZED_ATTR_HIDDEN, path, e->line);
            else
                errbuf_set(&e->err, "%s:%d: " MSG_UNRECOGNIZED_ATTR, path, e->line, qname);
            OPENSSL_cleanse(qname, sizeof qname);
            goto done;
        }
        if (which == MK_ATTR_NONE)
            continue;
        e->written[which] = true;
        val[which] = a->children != NULL ? xmlNodeListGetString(doc, a->children, 1)
                                         : xmlStrdup((const xmlChar *)"");
        if (val[which] == NULL) {
            errbuf_set(&e->err, "%s:%d: out of memory", path, e->line);
            goto done;
        }
        /* ASP.NET trims these four through WhiteSpaceTrimStringConverter; compatibilityMode
         * is an enum whose converter refuses surrounding white space instead. */
        if (which != MK_ATTR_COMPAT)
            trim_value(val[which]);
    }

    bool fx45 = false;
    if (sibling_target_framework(path, node, &fx45, &e->err) != 0)
        goto done;
    e->fx45_default = fx45 && !e->written[MK_ATTR_COMPAT];

    struct mk_params p = {
        .validation_key = (const char *)val[MK_ATTR_VALIDATION_KEY],
        .decryption_key = (const char *)val[MK_ATTR_DECRYPTION_KEY],
        .validation = (const char *)val[MK_ATTR_VALIDATION],
        .decryption = (const char *)val[MK_ATTR_DECRYPTION],
        .compat = (const char *)val[MK_ATTR_COMPAT],
        .fx45_default = e->fx45_default,
        .app_path = opts != NULL ? opts->app_path : NULL,
        .autogen_secret = opts != NULL ? opts->autogen_secret : NULL,
    };
    if (machinekey_init(&e->mk, &p, &e->err, NULL) != 0) {
        errbuf_prefix(&e->err, "%s:%d: ", path, e->line);
        goto done;
    }
    e->status = 0;
done:
    for (size_t i = 0; i < sizeof val / sizeof val[0]; i++)
        free_value(val[i]);
}

int mkconfig_read_all(const char *path, const struct mkconfig_opts *opts,
                      struct mkconfig_elem **out, size_t *count, struct errbuf *err)
{
    char *buf = NULL;
    size_t len = 0;
    xmlDocPtr doc = NULL;
    struct mkconfig_elem *elems = NULL;
    size_t n = 0;
    int rc = -1;

    *out = NULL;
    *count = 0;
    if (read_whole(path, &buf, &len, err) != 0)
        goto done;
    if (len > INT_MAX) {
        errbuf_set(err, "%s: file too large", path);
        goto done;
    }
    doc = parse_xml(path, buf, len, err);
    if (doc == NULL)
        goto done;

    xmlNodePtr root = xmlDocGetRootElement(doc);
    for (xmlNodePtr e = root; e != NULL; e = next_element(e))
        if (is_element(e, "machineKey"))
            n++;
    if (n == 0) {
        errbuf_set(err, "%s: no <machineKey> element", path);
        goto done;
    }
    /* Sized once: an array of keys must never be moved by realloc (the old block would keep
     * them). */
    elems = calloc(n, sizeof *elems);
    if (elems == NULL) {
        errbuf_set(err, "%s: out of memory", path);
        goto done;
    }
    size_t i = 0;
    for (xmlNodePtr e = root; e != NULL; e = next_element(e))
        if (is_element(e, "machineKey"))
            read_elem(path, opts, doc, e, &elems[i++]);
    *out = elems;
    *count = n;
    rc = 0;
done:
    if (doc != NULL) {
        wipe_attr_values(doc);
        xmlFreeDoc(doc);
    }
    if (buf != NULL) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
    return rc;
}

void mkconfig_free(struct mkconfig_elem *elems, size_t count)
{
    if (elems == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        machinekey_cleanup(&elems[i].mk);
    OPENSSL_cleanse(elems, count * sizeof *elems);
    free(elems);
}

int mkconfig_load(const char *path, const struct mkconfig_opts *opts, struct machinekey *mk,
                  int *line, struct errbuf *err)
{
    struct mkconfig_elem *elems = NULL;
    size_t n = 0;

    memset(mk, 0, sizeof *mk);
    if (line != NULL)
        *line = 0;
    if (mkconfig_read_all(path, opts, &elems, &n, err) != 0)
        return -1;
    size_t pick = 0;
    for (size_t i = 0; i < n; i++) {
        if (elems[i].location[0] == '\0') {
            pick = i;
            break;
        }
    }
    const struct mkconfig_elem *e = &elems[pick];
    if (line != NULL)
        *line = e->line;
    int rc = e->status;
    if (rc == 0)
        *mk = e->mk;
    else
        errbuf_set(err, "%s", e->err.msg);
    mkconfig_free(elems, n);
    return rc;
}
