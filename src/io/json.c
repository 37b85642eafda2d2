/* A strict, bounds-checked recursive-descent JSON parser (see json.h for the rules it
 * enforces), and JSON string quoting. Every read of the input goes through peek() or a
 * check against ps->len, so hostile input can only produce an error, never a read past
 * the end. Nesting is limited, so the recursion is too. */
#include "io/json.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *p;
    size_t len;
    size_t pos;
    mt_json_error *err;
} parser;

static bool fail_at(parser *ps, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail_at(parser *ps, size_t offset, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err->msg, sizeof ps->err->msg, fmt, ap);
    va_end(ap);
    ps->err->offset = offset;
    return false;
}

static bool fail_nomem(parser *ps) {
    ps->err->nomem = true;
    return fail_at(ps, ps->pos, "out of memory");
}

/* The byte at pos, or -1 at the end of the text. */
static int peek(const parser *ps) { return ps->pos < ps->len ? ps->p[ps->pos] : -1; }

/* Describes the byte at pos for messages: "'x'", "byte 0x07" or "the end of the text". */
static const char *found(const parser *ps, char *buf, size_t n) {
    int c = peek(ps);
    if (c < 0) snprintf(buf, n, "the end of the text");
    else if (c >= 0x20 && c < 0x7f) snprintf(buf, n, "'%c'", c);
    else snprintf(buf, n, "byte 0x%02x", (unsigned)c);
    return buf;
}

static bool fail_expected(parser *ps, const char *what) {
    char buf[32];
    return fail_at(ps, ps->pos, "expected %s, found %s", what, found(ps, buf, sizeof buf));
}

static void skip_ws(parser *ps) {
    while (ps->pos < ps->len) {
        unsigned char c = ps->p[ps->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        ps->pos++;
    }
}

static bool is_digit(int c) { return c >= '0' && c <= '9'; }

/* ---- UTF-8 ---------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (n bytes available), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

bool mt_json_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (!k) return false;
        i += k;
    }
    return true;
}

/* Encodes a code point (not a surrogate, <= 0x10FFFF) as UTF-8; returns the length. */
static size_t utf8_put(unsigned char *d, uint32_t cp) {
    if (cp < 0x80) {
        d[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (unsigned char)(0xC0 | (cp >> 6));
        d[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (unsigned char)(0xE0 | (cp >> 12));
        d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (unsigned char)(0xF0 | (cp >> 18));
    d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- strings -------------------------------------------------------------------- */

/* Reads the 4 hex digits of a \u escape whose backslash is at at; end bounds them. */
static bool read_hex4(parser *ps, size_t at, size_t end, uint32_t *cp) {
    if (at + 6 > end) return fail_at(ps, at, "truncated \\u escape in a string");
    uint32_t v = 0;
    for (size_t i = at + 2; i < at + 6; i++) {
        unsigned char c = ps->p[i];
        uint32_t d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return fail_at(ps, i, "invalid hex digit in a \\u escape");
        v = v * 16 + d;
    }
    *cp = v;
    return true;
}

/* Decodes one escape starting at the backslash at ps->pos (end: the closing quote) into
 * d; advances ps->pos and *n. */
static bool read_escape(parser *ps, size_t end, unsigned char *d, size_t *n) {
    size_t at = ps->pos;
    unsigned char e = ps->p[at + 1]; /* at + 1 < end: the closing quote is never escaped */
    const char *simple = strchr("\"\\/bfnrt", e);
    if (e && simple) {
        static const char out[] = "\"\\/\b\f\n\r\t";
        d[(*n)++] = (unsigned char)out[simple - "\"\\/bfnrt"];
        ps->pos += 2;
        return true;
    }
    if (e != 'u') return fail_at(ps, at, "invalid escape '\\%c' in a string", e >= 0x20 && e < 0x7f ? e : '?');
    uint32_t cp = 0;
    if (!read_hex4(ps, at, end, &cp)) return false;
    ps->pos += 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail_at(ps, at, "lone low surrogate in a \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t lo = 0;
        size_t at2 = ps->pos;
        if (at2 + 1 >= end || ps->p[at2] != '\\' || ps->p[at2 + 1] != 'u')
            return fail_at(ps, at, "high surrogate \\u%04X is not followed by a low one", (unsigned)cp);
        if (!read_hex4(ps, at2, end, &lo)) return false;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail_at(ps, at2, "\\u%04X is not a low surrogate", (unsigned)lo);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        ps->pos += 6;
    }
    if (cp == 0) return fail_at(ps, at, "\\u0000 in a string is not supported");
    *n += utf8_put(d + *n, cp);
    return true;
}

/* Parses the string whose opening quote is at ps->pos into a malloc'd C string that
 * the caller owns. */
static bool parse_string(parser *ps, char **out) {
    size_t start = ps->pos;
    size_t end = start + 1;
    while (end < ps->len && ps->p[end] != '"') end += ps->p[end] == '\\' ? 2 : 1;
    if (end >= ps->len) return fail_at(ps, start, "unterminated string");
    /* Escapes only shrink (\uXXXX is 6 bytes for at most 3), so the raw length bounds
     * the decoded one. */
    unsigned char *d = malloc(end - start);
    if (!d) return fail_nomem(ps);
    size_t n = 0;
    ps->pos = start + 1;
    while (ps->pos < end) {
        unsigned char c = ps->p[ps->pos];
        if (c == '\\') {
            if (!read_escape(ps, end, d, &n)) goto fail;
        } else if (c < 0x20) {
            fail_at(ps, ps->pos, "control byte 0x%02x inside a string (it must be escaped)", c);
            goto fail;
        } else {
            size_t k = utf8_seq(ps->p + ps->pos, end - ps->pos);
            if (!k) {
                fail_at(ps, ps->pos, "invalid UTF-8 in a string");
                goto fail;
            }
            memcpy(d + n, ps->p + ps->pos, k);
            n += k;
            ps->pos += k;
        }
    }
    d[n] = '\0';
    ps->pos = end + 1;
    *out = (char *)d;
    return true;
fail:
    free(d);
    return false;
}

/* ---- numbers and literals --------------------------------------------------------- */

static bool skip_digits(parser *ps, const char *where) {
    if (!is_digit(peek(ps))) return fail_expected(ps, where);
    while (is_digit(peek(ps))) ps->pos++;
    return true;
}

static bool parse_number(parser *ps, mt_json *v) {
    size_t start = ps->pos;
    bool neg = peek(ps) == '-';
    if (neg) ps->pos++;
    if (peek(ps) == '0') {
        ps->pos++;
        if (is_digit(peek(ps))) return fail_at(ps, start, "number with a leading zero");
    } else if (!skip_digits(ps, "a digit")) {
        return false;
    }
    size_t int_end = ps->pos;
    bool is_int = true;
    if (peek(ps) == '.') {
        ps->pos++;
        if (!skip_digits(ps, "a digit after '.'")) return false;
        is_int = false;
    }
    if (peek(ps) == 'e' || peek(ps) == 'E') {
        ps->pos++;
        if (peek(ps) == '+' || peek(ps) == '-') ps->pos++;
        if (!skip_digits(ps, "a digit in the exponent")) return false;
        is_int = false;
    }
    size_t n = ps->pos - start;
    if (is_int) {
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, mag = 0;
        for (size_t i = start + neg; i < int_end; i++) {
            uint64_t d = ps->p[i] - '0';
            if (mag > (limit - d) / 10)
                return fail_at(ps, start, "integer %.*s%s does not fit in int64", (int)(n < 40 ? n : 40),
                               (const char *)ps->p + start, n < 40 ? "" : "...");
            mag = mag * 10 + d;
        }
        v->kind = MT_JSON_INT;
        v->integer = !neg ? (int64_t)mag : mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag;
        return true;
    }
    char *copy = malloc(n + 1); /* strtod needs a NUL-terminated copy */
    if (!copy) return fail_nomem(ps);
    memcpy(copy, ps->p + start, n);
    copy[n] = '\0';
    v->kind = MT_JSON_NUMBER;
    v->number = strtod(copy, NULL);
    free(copy);
    return true;
}

static bool parse_literal(parser *ps, mt_json *v) {
    static const struct { const char *word; mt_json_kind kind; bool value; } lits[] = {
        {"true", MT_JSON_BOOL, true}, {"false", MT_JSON_BOOL, false}, {"null", MT_JSON_NULL, false}};
    for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) {
        size_t n = strlen(lits[i].word);
        if (ps->len - ps->pos >= n && memcmp(ps->p + ps->pos, lits[i].word, n) == 0) {
            v->kind = lits[i].kind;
            v->boolean = lits[i].value;
            ps->pos += n;
            return true;
        }
    }
    return fail_expected(ps, "a value");
}

/* ---- containers ----------------------------------------------------------------- */

/* Grows *arr (of elem-sized items, *cap of them) so that one more fits. */
static bool grow(parser *ps, void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t new_cap = *cap ? *cap * 2 : 4;
    if (new_cap > SIZE_MAX / elem) return fail_nomem(ps);
    void *p = realloc(*arr, new_cap * elem);
    if (!p) return fail_nomem(ps);
    *arr = p;
    *cap = new_cap;
    return true;
}

static bool parse_value(parser *ps, mt_json *v, int depth);

/* Children are counted before they are parsed, so a failure deep inside leaves a tree
 * that mt_json_free() releases completely. */
static bool parse_array(parser *ps, mt_json *v, int depth) {
    v->kind = MT_JSON_ARRAY;
    v->items = NULL;
    v->n_items = 0;
    ps->pos++;
    skip_ws(ps);
    if (peek(ps) == ']') {
        ps->pos++;
        return true;
    }
    for (size_t cap = 0;;) {
        if (!grow(ps, (void **)&v->items, &cap, v->n_items, sizeof *v->items)) return false;
        mt_json *item = &v->items[v->n_items++];
        *item = (mt_json){.kind = MT_JSON_NULL};
        if (!parse_value(ps, item, depth + 1)) return false;
        skip_ws(ps);
        if (peek(ps) == ',') {
            ps->pos++;
            skip_ws(ps);
        } else if (peek(ps) == ']') {
            ps->pos++;
            return true;
        } else {
            return fail_expected(ps, "',' or ']' after an array item");
        }
    }
}

static bool check_duplicate_keys(parser *ps, const mt_json *v) {
    if (v->n_members < 2) return true;
    const char **keys = malloc(v->n_members * sizeof *keys);
    if (!keys) return fail_nomem(ps);
    for (size_t i = 0; i < v->n_members; i++) keys[i] = v->members[i].key;
    size_t dup = 0;
    int r = mt_json_find_duplicate(keys, v->n_members, &dup);
    free(keys);
    if (r < 0) return fail_nomem(ps);
    if (r > 0) return fail_at(ps, v->members[dup].offset, "duplicate key \"%s\"", v->members[dup].key);
    return true;
}

static bool parse_object(parser *ps, mt_json *v, int depth) {
    v->kind = MT_JSON_OBJECT;
    v->members = NULL;
    v->n_members = 0;
    ps->pos++;
    skip_ws(ps);
    if (peek(ps) == '}') {
        ps->pos++;
        return true;
    }
    for (size_t cap = 0;;) {
        if (peek(ps) != '"') return fail_expected(ps, "a string key");
        if (!grow(ps, (void **)&v->members, &cap, v->n_members, sizeof *v->members)) return false;
        mt_json_member *m = &v->members[v->n_members++];
        *m = (mt_json_member){.key = NULL, .offset = ps->pos, .value = {.kind = MT_JSON_NULL}};
        if (!parse_string(ps, &m->key)) return false;
        skip_ws(ps);
        if (peek(ps) != ':') return fail_expected(ps, "':' after an object key");
        ps->pos++;
        skip_ws(ps);
        if (!parse_value(ps, &m->value, depth + 1)) return false;
        skip_ws(ps);
        if (peek(ps) == ',') {
            ps->pos++;
            skip_ws(ps);
        } else if (peek(ps) == '}') {
            ps->pos++;
            return check_duplicate_keys(ps, v);
        } else {
            return fail_expected(ps, "',' or '}' after an object member");
        }
    }
}

static bool parse_value(parser *ps, mt_json *v, int depth) {
    v->offset = ps->pos;
    int c = peek(ps);
    if ((c == '[' || c == '{') && depth >= MT_JSON_MAX_DEPTH)
        return fail_at(ps, ps->pos, "nesting deeper than %d levels", MT_JSON_MAX_DEPTH);
    if (c == '{') return parse_object(ps, v, depth);
    if (c == '[') return parse_array(ps, v, depth);
    if (c == '"') {
        char *s;
        if (!parse_string(ps, &s)) return false;
        v->kind = MT_JSON_STRING;
        v->string = s;
        return true;
    }
    if (c == '-' || is_digit(c)) return parse_number(ps, v);
    return parse_literal(ps, v);
}

/* ---- public API ----------------------------------------------------------------- */

bool mt_json_parse(const char *text, size_t len, mt_json *out, mt_json_error *err) {
    mt_json_error local;
    if (!err) err = &local;
    *err = (mt_json_error){.offset = 0};
    *out = (mt_json){.kind = MT_JSON_NULL};
    parser ps = {.p = (const unsigned char *)text, .len = len, .pos = 0, .err = err};
    skip_ws(&ps);
    bool ok = parse_value(&ps, out, 0);
    if (ok) {
        skip_ws(&ps);
        if (ps.pos != ps.len) ok = fail_expected(&ps, "the end of the text after the JSON value");
    }
    if (!ok) mt_json_free(out);
    return ok;
}

void mt_json_free(mt_json *v) {
    if (!v) return;
    switch (v->kind) {
    case MT_JSON_STRING:
        free(v->string);
        break;
    case MT_JSON_ARRAY:
        for (size_t i = 0; i < v->n_items; i++) mt_json_free(&v->items[i]);
        free(v->items);
        break;
    case MT_JSON_OBJECT:
        for (size_t i = 0; i < v->n_members; i++) {
            free(v->members[i].key);
            mt_json_free(&v->members[i].value);
        }
        free(v->members);
        break;
    default:
        break;
    }
    *v = (mt_json){.kind = MT_JSON_NULL};
}

const mt_json *mt_json_get(const mt_json *obj, const char *key) {
    if (!obj || obj->kind != MT_JSON_OBJECT) return NULL;
    for (size_t i = 0; i < obj->n_members; i++)
        if (strcmp(obj->members[i].key, key) == 0) return &obj->members[i].value;
    return NULL;
}

const char *mt_json_kind_name(mt_json_kind kind) {
    switch (kind) {
    case MT_JSON_NULL: return "null";
    case MT_JSON_BOOL: return "a boolean";
    case MT_JSON_INT: return "an integer";
    case MT_JSON_NUMBER: return "a non-integer number";
    case MT_JSON_STRING: return "a string";
    case MT_JSON_ARRAY: return "an array";
    case MT_JSON_OBJECT: return "an object";
    }
    return "an unknown value";
}

static int cmp_key_ptr(const void *a, const void *b) {
    return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

int mt_json_find_duplicate(const char *const *keys, size_t n, size_t *dup) {
    if (n < 2) return 0;
    /* Sort pointers into keys, so each one still knows its index. */
    const char *const **sorted = malloc(n * sizeof *sorted);
    if (!sorted) return -1;
    for (size_t i = 0; i < n; i++) sorted[i] = &keys[i];
    qsort(sorted, n, sizeof *sorted, cmp_key_ptr);
    int found_dup = 0;
    for (size_t i = 1; i < n && !found_dup; i++) {
        if (strcmp(*sorted[i - 1], *sorted[i]) != 0) continue;
        size_t a = (size_t)(sorted[i - 1] - keys), b = (size_t)(sorted[i] - keys);
        *dup = a > b ? a : b;
        found_dup = 1;
    }
    free(sorted);
    return found_dup;
}

size_t mt_json_quote(char *dst, size_t cap, const char *s) {
    size_t n = 0;
#define PUT(ch)                                                                    \
    do {                                                                           \
        if (n + 1 < cap) dst[n] = (char)(ch);                                      \
        n++;                                                                       \
    } while (0)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *esc = NULL;
        switch (*p) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default: break;
        }
        char hex[8];
        if (!esc && *p < 0x20) {
            snprintf(hex, sizeof hex, "\\u%04x", *p);
            esc = hex;
        }
        if (esc) {
            for (; *esc; esc++) PUT(*esc);
        } else {
            PUT(*p);
        }
    }
    PUT('"');
#undef PUT
    if (cap) dst[n < cap ? n : cap - 1] = '\0';
    return n;
}
