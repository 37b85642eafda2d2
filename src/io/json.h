/* A small, strict JSON parser for file headers (safetensors), and string quoting for
 * the files mytorch writes (safetensors headers, metrics.jsonl).
 *
 * Strict means: RFC 8259 syntax only (no comments, no trailing commas, no NaN), text
 * must be valid UTF-8, no raw control bytes inside strings, no duplicate keys in an
 * object, integers must fit in int64, nesting at most MT_JSON_MAX_DEPTH deep, and
 * "\u0000" is refused so every string is a plain NUL-terminated C string.
 * Every byte is read through a bounds check; the input need not be NUL-terminated. */
#ifndef MT_IO_JSON_H
#define MT_IO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MT_JSON_MAX_DEPTH 64

typedef enum {
    MT_JSON_NULL,
    MT_JSON_BOOL,
    MT_JSON_INT,    /* a number without fraction or exponent that fits in int64 */
    MT_JSON_NUMBER, /* any other number (has a fraction or an exponent) */
    MT_JSON_STRING,
    MT_JSON_ARRAY,
    MT_JSON_OBJECT,
} mt_json_kind;

typedef struct mt_json mt_json;
typedef struct mt_json_member mt_json_member;

/* One parsed value. Children and strings are owned by the value: mt_json_free(). */
struct mt_json {
    mt_json_kind kind;
    size_t offset; /* byte offset of the value's first character in the parsed text */
    union {
        bool boolean;   /* MT_JSON_BOOL */
        int64_t integer; /* MT_JSON_INT */
        double number;  /* MT_JSON_NUMBER */
        char *string;   /* MT_JSON_STRING: UTF-8, NUL-terminated */
        struct {        /* MT_JSON_ARRAY */
            mt_json *items;
            size_t n_items;
        };
        struct {        /* MT_JSON_OBJECT, members in file order */
            mt_json_member *members;
            size_t n_members;
        };
    };
};

struct mt_json_member {
    char *key;     /* UTF-8, NUL-terminated, unique within its object */
    size_t offset; /* byte offset of the key's opening quote */
    mt_json value;
};

/* Why a parse failed: a message ("expected ':' after an object key, found '}'") and
 * the byte offset in the text where it went wrong. */
typedef struct {
    char msg[160];
    size_t offset;
    bool nomem; /* true when the failure was an allocation, not the text */
} mt_json_error;

/* Parses len bytes of text into *out. On success the caller owns *out (mt_json_free).
 * On failure returns false, fills *err (may be NULL) and leaves *out a freed null. */
bool mt_json_parse(const char *text, size_t len, mt_json *out, mt_json_error *err);
/* Frees everything a parsed value owns and makes it null; null values are a no-op. */
void mt_json_free(mt_json *v);
/* The value of key in an object, or NULL (also when obj is not an object). */
const mt_json *mt_json_get(const mt_json *obj, const char *key);
/* "an integer", "a string", ... for messages such as "expected a string, found %s". */
const char *mt_json_kind_name(mt_json_kind kind);

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
bool mt_json_utf8_valid(const char *s, size_t n);
/* Finds a repeated string in keys[0..n). Returns 1 and sets *dup to the index of the
 * later copy, 0 when all differ, -1 when memory runs out. */
int mt_json_find_duplicate(const char *const *keys, size_t n, size_t *dup);

/* Writes s as a quoted JSON string ("a\"b\n") into dst, snprintf-style: at most cap
 * bytes including the NUL, and returns the full length (without the NUL), so a call
 * with cap 0 measures. Bytes >= 0x80 pass through unchanged. */
size_t mt_json_quote(char *dst, size_t cap, const char *s);

#endif
