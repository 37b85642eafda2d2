/* safetensors: round trips, the reference LeNet checkpoint, hostile files, and the
 * strict JSON parser underneath. */
#include "test.h"

#include "io/json.h"
#include "mytorch/checkpoint.h"
#include "mytorch/io.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh folder under /tmp; the test that makes it removes it (rmdir fails loudly
 * through CHECK if a file was left behind). */
static bool make_tmpdir(char *dir, size_t n) {
    snprintf(dir, n, "/tmp/mt_safetensors_XXXXXX");
    return mkdtemp(dir) != NULL;
}

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static bool write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(bytes, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* Writes a safetensors file by hand: header length, header text, data_len zero bytes. */
static bool write_st(const char *path, uint64_t header_len, const char *header, size_t data_len) {
    size_t h = strlen(header), n = 8 + h + data_len;
    unsigned char *buf = calloc(1, n);
    if (!buf) return false;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(header_len >> (8 * i));
    memcpy(buf + 8, header, h);
    bool ok = write_bytes(path, buf, n);
    free(buf);
    return ok;
}

static bool is_empty(const mt_safetensors *st) {
    return !st->tensors && !st->n_tensors && !st->meta_keys && !st->meta_values && !st->n_meta;
}

/* Reads path, which must be rejected with a message that contains expect. */
static void check_rejected(const char *path, const char *what, const char *expect) {
    mt_safetensors st;
    memset(&st, 0xAB, sizeof st); /* the reader must clear it even on failure */
    mt_error err = {0};
    mt_status s = mt_safetensors_read(path, &st, &err);
    CHECK_MSG(s != MT_OK, "%s: was accepted", what);
    CHECK_MSG(s == err.code, "%s: returned %d but err.code is %d", what, (int)s, (int)err.code);
    CHECK_MSG(err.msg[0] != '\0', "%s: empty message", what);
    CHECK_MSG(strstr(err.msg, expect) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err.msg, expect);
    CHECK_MSG(is_empty(&st), "%s: *out not left empty", what);
    if (s == MT_OK) mt_safetensors_free(&st);
}

MT_TEST(safetensors_round_trip) {
    char dir[64], path[128], tmp[160];
    REQUIRE(make_tmpdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);

    float weight[6] = {1.5f, -2.25f, 0.0f, 3e-8f, -1e30f, 42.0f};
    int64_t steps[2] = {INT64_MIN, 1234567890123LL};
    float scale = 0.5f;
    mt_st_tensor tensors[] = {
        {.name = "layer.weight", .dtype = MT_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .numel = 6, .data = weight},
        {.name = "steps", .dtype = MT_DTYPE_I64, .ndim = 1, .shape = {2}, .numel = 2, .data = steps},
        {.name = "scale", .dtype = MT_DTYPE_F32, .ndim = 0, .numel = 1, .data = &scale}, /* 0-dim */
        {.name = "empty \"quoted\"", .dtype = MT_DTYPE_F32, .ndim = 2, .shape = {0, 3}, .numel = 0},
    };
    const char *keys[] = {"model", "note"};
    const char *values[] = {"tiny", "quote \" backslash \\ newline \n tab \t bell \x07 caf\xc3\xa9 \xe2\x9c\x93"};
    mt_error err = {0};
    REQUIRE(mt_safetensors_write(path, tensors, 4, keys, values, 2, &err) == MT_OK);
    CHECK(!exists(tmp));

    /* The data starts at a multiple of 8 bytes, as the official writer pads it. */
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    unsigned char len8[8];
    CHECK(fread(len8, 1, 8, f) == 8);
    fclose(f);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | len8[i];
    CHECK((8 + header_len) % 8 == 0);

    mt_safetensors st;
    REQUIRE(mt_safetensors_read(path, &st, &err) == MT_OK);
    CHECK(st.n_tensors == 4);
    CHECK(st.n_meta == 2);
    REQUIRE(st.n_tensors == 4);
    for (int i = 0; i < 4; i++) CHECK(strcmp(st.tensors[i].name, tensors[i].name) == 0); /* order kept */

    const mt_st_tensor *w = mt_safetensors_get(&st, "layer.weight");
    REQUIRE(w && w->dtype == MT_DTYPE_F32);
    CHECK(w->ndim == 2 && w->shape[0] == 2 && w->shape[1] == 3 && w->numel == 6);
    CHECK(memcmp(w->data, weight, sizeof weight) == 0);
    CHECK((uintptr_t)w->data % 64 == 0);

    const mt_st_tensor *s = mt_safetensors_get(&st, "steps");
    REQUIRE(s && s->dtype == MT_DTYPE_I64 && s->numel == 2);
    CHECK(((int64_t *)s->data)[0] == INT64_MIN);
    CHECK(((int64_t *)s->data)[1] == 1234567890123LL);

    const mt_st_tensor *c = mt_safetensors_get(&st, "scale");
    REQUIRE(c);
    CHECK(c->ndim == 0 && c->numel == 1);
    CHECK_NEAR(((float *)c->data)[0], 0.5, 0);

    const mt_st_tensor *e = mt_safetensors_get(&st, "empty \"quoted\"");
    REQUIRE(e);
    CHECK(e->numel == 0 && e->ndim == 2 && e->shape[0] == 0 && e->data != NULL);

    CHECK(mt_safetensors_get(&st, "missing") == NULL);
    CHECK(mt_safetensors_meta(&st, "model") && strcmp(mt_safetensors_meta(&st, "model"), "tiny") == 0);
    CHECK(mt_safetensors_meta(&st, "note") && strcmp(mt_safetensors_meta(&st, "note"), values[1]) == 0);
    CHECK(mt_safetensors_meta(&st, "missing") == NULL);

    /* Writing over an existing file replaces it. */
    REQUIRE(mt_safetensors_write(path, tensors, 1, NULL, NULL, 0, &err) == MT_OK);
    mt_safetensors_free(&st);
    CHECK(is_empty(&st));
    REQUIRE(mt_safetensors_read(path, &st, &err) == MT_OK);
    CHECK(st.n_tensors == 1 && st.n_meta == 0);
    mt_safetensors_free(&st);

    CHECK(unlink(path) == 0);
    CHECK(rmdir(dir) == 0);
}

MT_TEST(safetensors_reads_lenet_reference) {
    const char *path = MT_SOURCE_DIR "/../shared/reference-weights/lenet-reference.safetensors";
    if (!exists(path)) {
        mt_test_skip("lenet-reference.safetensors not found");
        return;
    }
    mt_safetensors st;
    mt_error err = {0};
    REQUIRE(mt_safetensors_read(path, &st, &err) == MT_OK);
    CHECK(st.n_tensors == 20);
    const mt_st_tensor *w = mt_safetensors_get(&st, "conv1.weight");
    REQUIRE(w);
    CHECK(w->dtype == MT_DTYPE_F32 && w->ndim == 4);
    CHECK(w->shape[0] == 6 && w->shape[1] == 1 && w->shape[2] == 5 && w->shape[3] == 5);
    CHECK(w->numel == 150);
    CHECK_NEAR(((float *)w->data)[0], -0.2950858771800995, 1e-7);
    CHECK_NEAR(((float *)w->data)[2], -0.7412077784538269, 1e-7);
    const mt_st_tensor *nb = mt_safetensors_get(&st, "norm1.num_batches_tracked");
    REQUIRE(nb);
    CHECK(nb->dtype == MT_DTYPE_I64 && nb->ndim == 1 && nb->numel == 1);
    const char *model = mt_safetensors_meta(&st, "model");
    const char *mean = mt_safetensors_meta(&st, "normalize_mean");
    CHECK(model && strcmp(model, "lenet") == 0);
    CHECK(mean && strcmp(mean, "0.12735") == 0);
    mt_safetensors_free(&st);
}

typedef struct {
    const char *what;
    const char *header;
    size_t data_len;
    const char *expect; /* a piece of the error message */
} hostile_header;

static const hostile_header HOSTILE[] = {
    {"invalid JSON", "{\"w\": {\"dtype\": \"F32\" \"shape\": [1]}}", 0, "invalid JSON header"},
    {"truncated JSON", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1]", 0, "invalid JSON header"},
    {"trailing garbage", "{} x", 0, "end of the text"},
    {"not an object", "[]", 0, "must be a JSON object"},
    {"wrong dtype", "{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "\"F16\""},
    {"shape/offset size mismatch", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24,
     "needs 6 x 4 bytes"},
    {"offsets past end", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "past the end"},
    {"begin after end", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, "end before"},
    {"overlapping tensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, "overlap"},
    {"gap between tensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
     12, "4 unused bytes before tensor 'b' [8, 12]"},
    {"data not starting at 0", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
     "4 unused bytes before tensor 'w'"},
    {"bytes after the last tensor", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12,
     "8 bytes after the last tensor"},
    {"empty tensor inside another",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
     8, "'a' [0, 8] and 'e' [4, 4] overlap"},
    {"negative dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "negative"},
    {"fractional dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, "non-negative integer"},
    {"too many dims", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
     "9 dims"},
    {"numel overflow",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
     "too many elements"},
    {"offset overflows int64",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}", 4, "int64"},
    {"missing data_offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "no \"data_offsets\""},
    {"one offset", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "[begin, end]"},
    {"tensor not an object", "{\"w\":3}", 0, "must be an object"},
    {"duplicate keys",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8, "duplicate key \"w\""},
    {"metadata value not a string", "{\"__metadata__\":{\"epoch\":1}}", 0, "must be a string"},
    {"metadata not an object", "{\"__metadata__\":\"x\"}", 0, "must be an object"},
    {"invalid UTF-8 key", "{\"\xff\":1}", 0, "UTF-8"},
    {"lone surrogate", "{\"\\ud800\":1}", 0, "surrogate"},
    {"NUL escape", "{\"a\\u0000b\":1}", 0, "\\u0000"},
    {"raw control byte", "{\"a\nb\":1}", 0, "control byte"},
};

MT_TEST(safetensors_rejects_hostile_files) {
    char dir[64], path[128];
    REQUIRE(make_tmpdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/hostile.safetensors", dir);

    for (size_t i = 0; i < sizeof HOSTILE / sizeof HOSTILE[0]; i++) {
        const hostile_header *h = &HOSTILE[i];
        REQUIRE(write_st(path, strlen(h->header), h->header, h->data_len));
        check_rejected(path, h->what, h->expect);
    }

    REQUIRE(write_bytes(path, "", 0));
    check_rejected(path, "empty file", "too short");
    REQUIRE(write_bytes(path, "\x10\0\0", 3));
    check_rejected(path, "truncated header length", "too short");
    REQUIRE(write_st(path, 1000, "{}", 0));
    check_rejected(path, "header length past the file", "header length 1000 exceeds file size 10 (offset 0)");
    REQUIRE(write_st(path, (uint64_t)1 << 40, "{}", 0));
    check_rejected(path, "header length huge", "limit");
    REQUIRE(write_st(path, 0, "", 0));
    check_rejected(path, "header length 0", "invalid JSON header");
    /* A header over the 100 MB cap in a file large enough to hold it (sparse, so cheap). */
    REQUIRE(write_st(path, 150u << 20, "{}", 0));
    REQUIRE(truncate(path, 200 << 20) == 0);
    check_rejected(path, "header length over 100 MB", "limit");
    CHECK(unlink(path) == 0);

    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.safetensors", dir);
    check_rejected(missing, "missing file", "cannot open");
    check_rejected(dir, "a folder", "not a regular file");
    CHECK(rmdir(dir) == 0);
}

MT_TEST(safetensors_accepts_any_header_order) {
    char dir[64], path[128];
    REQUIRE(make_tmpdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/order.safetensors", dir);
    /* The header lists tensors out of data order (the official writer sorts them by name),
     * with an empty tensor between two others and a field mytorch does not know. */
    const char *header = "{\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16],\"x\":[]},"
                         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}";
    REQUIRE(write_st(path, strlen(header), header, 16));
    mt_safetensors st;
    mt_error err = {0};
    CHECK_MSG(mt_safetensors_read(path, &st, &err) == MT_OK, "%s", err.msg);
    CHECK(st.n_tensors == 3);
    mt_safetensors_free(&st);
    CHECK(unlink(path) == 0);
    CHECK(rmdir(dir) == 0);
}

MT_TEST(safetensors_state_dict_mismatch_lists_each_problem) {
    mt_rng rng;
    mt_rng_seed(&rng, 0);
    mt_module *m = mt_linear_new(3, 2, true, &rng); /* weight (2, 3), bias (2) */
    REQUIRE(m);
    float w[6] = {0}, x[1] = {0};
    int64_t steps = 3;
    mt_st_tensor t[] = {
        {.name = "weight", .dtype = MT_DTYPE_F32, .ndim = 2, .shape = {3, 2}, .numel = 6, .data = w},
        {.name = "extra", .dtype = MT_DTYPE_F32, .ndim = 1, .shape = {1}, .numel = 1, .data = x},
        {.name = "bias", .dtype = MT_DTYPE_I64, .ndim = 1, .shape = {1}, .numel = 1, .data = &steps},
    };
    mt_safetensors st = {.tensors = t, .n_tensors = 2}; /* no bias */
    mt_error err = {0};
    float before = m->params[0].tensor->data[0];
    CHECK(mt_module_load_state_dict(m, &st, true, &err) == MT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "(3 problems)") && strstr(err.msg, "'weight' is (3, 2) in the file but (2, 3) in the model") &&
                  strstr(err.msg, "missing key 'bias'") && strstr(err.msg, "unexpected key 'extra'"),
              "%s", err.msg);
    CHECK(m->params[0].tensor->data[0] == before); /* nothing copied */

    st.n_tensors = 3; /* bias present, but int64 */
    mt_error_clear(&err);
    CHECK(mt_module_load_state_dict(m, &st, true, &err) == MT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "'bias' is int64 (1,) in the file but (2,) in the model"), "%s", err.msg);

    mt_error_clear(&err); /* not strict: missing and unexpected keys pass, shapes still count */
    CHECK(mt_module_load_state_dict(m, &st, false, &err) == MT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "(2 problems)") && !strstr(err.msg, "unexpected"), "%s", err.msg);
    mt_module_free(m);
}

MT_TEST(safetensors_writer_rejects_bad_arguments) {
    char dir[64], path[128], tmp[160];
    REQUIRE(make_tmpdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    float x[2] = {1, 2};
    mt_st_tensor two[] = {
        {.name = "x", .dtype = MT_DTYPE_F32, .ndim = 1, .shape = {2}, .numel = 2, .data = x},
        {.name = "x", .dtype = MT_DTYPE_F32, .ndim = 1, .shape = {2}, .numel = 2, .data = x},
    };
    mt_error err = {0};
    CHECK(mt_safetensors_write(path, two, 2, NULL, NULL, 0, &err) == MT_ERR_ARG);
    CHECK(strstr(err.msg, "duplicate tensor name 'x'") != NULL);

    two[1].name = "y";
    two[1].data = NULL;
    mt_error_clear(&err);
    CHECK(mt_safetensors_write(path, two, 2, NULL, NULL, 0, &err) == MT_ERR_ARG);
    CHECK(strstr(err.msg, "NULL data") != NULL);

    two[1].data = x;
    two[1].numel = 3;
    mt_error_clear(&err);
    CHECK(mt_safetensors_write(path, two, 2, NULL, NULL, 0, &err) == MT_ERR_ARG);
    CHECK(strstr(err.msg, "numel 3") != NULL);

    const char *keys[] = {"k", "k"}, *values[] = {"1", "2"};
    mt_error_clear(&err);
    CHECK(mt_safetensors_write(path, two, 1, keys, values, 2, &err) == MT_ERR_ARG);
    CHECK(strstr(err.msg, "duplicate metadata key") != NULL);
    CHECK(!exists(path) && !exists(tmp));
    CHECK(rmdir(dir) == 0);
}

MT_TEST(safetensors_writer_fails_cleanly) {
    char dir[64], path[160], tmp[200];
    REQUIRE(make_tmpdir(dir, sizeof dir));
    float x = 1;
    mt_st_tensor t = {.name = "x", .dtype = MT_DTYPE_F32, .ndim = 0, .numel = 1, .data = &x};

    snprintf(path, sizeof path, "%s/no/such/dir/w.safetensors", dir);
    mt_error err = {0};
    CHECK(mt_safetensors_write(path, &t, 1, NULL, NULL, 0, &err) == MT_ERR_IO);
    CHECK(strstr(err.msg, "cannot create") != NULL);

    /* The rename fails when path is a folder: the temp file must not stay behind. */
    snprintf(path, sizeof path, "%s/taken", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    REQUIRE(mkdir(path, 0700) == 0);
    mt_error_clear(&err);
    CHECK(mt_safetensors_write(path, &t, 1, NULL, NULL, 0, &err) == MT_ERR_IO);
    CHECK(strstr(err.msg, "rename") != NULL);
    CHECK(!exists(tmp));
    CHECK(rmdir(path) == 0);
    CHECK(rmdir(dir) == 0);
}

MT_TEST(json_parses_escapes_and_integers) {
    const char *text = " {\"s\": \"a\\\"b\\\\c\\/\\n\\u00e9\\u2713\\ud83d\\ude00\", \"i\": [0, -0, "
                       "9223372036854775807, -9223372036854775808], \"f\": 1.5e3, \"t\": true, \"n\": null} ";
    mt_json v;
    mt_json_error jerr;
    bool parsed = mt_json_parse(text, strlen(text), &v, &jerr);
    CHECK_MSG(parsed, "%s at offset %zu", jerr.msg, jerr.offset);
    REQUIRE(parsed);
    const mt_json *s = mt_json_get(&v, "s");
    REQUIRE(s && s->kind == MT_JSON_STRING);
    CHECK(strcmp(s->string, "a\"b\\c/\n\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80") == 0);
    const mt_json *i = mt_json_get(&v, "i");
    REQUIRE(i && i->kind == MT_JSON_ARRAY && i->n_items == 4);
    CHECK(i->items[0].kind == MT_JSON_INT && i->items[0].integer == 0);
    CHECK(i->items[2].integer == INT64_MAX);
    CHECK(i->items[3].integer == INT64_MIN);
    const mt_json *f = mt_json_get(&v, "f");
    REQUIRE(f && f->kind == MT_JSON_NUMBER);
    CHECK_NEAR(f->number, 1500, 0);
    CHECK(mt_json_get(&v, "t")->boolean);
    CHECK(mt_json_get(&v, "n")->kind == MT_JSON_NULL);
    mt_json_free(&v);

    CHECK(!mt_json_parse("9223372036854775808", 19, &v, &jerr));
    CHECK(strstr(jerr.msg, "int64") != NULL);
    CHECK(!mt_json_parse("[1,]", 4, &v, &jerr));
    CHECK(!mt_json_parse("01", 2, &v, &jerr));
    CHECK(!mt_json_parse("\"abc", 4, &v, &jerr) && jerr.offset == 0);
    CHECK(!mt_json_parse("[1] ", 2, &v, &jerr)); /* len cuts the text: ']' is out of bounds */
}

MT_TEST(json_limits_nesting_depth) {
    char deep[2 * (MT_JSON_MAX_DEPTH + 1)];
    size_t n = MT_JSON_MAX_DEPTH + 1;
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    mt_json v;
    mt_json_error jerr;
    CHECK(!mt_json_parse(deep, 2 * n, &v, &jerr));
    CHECK(strstr(jerr.msg, "nesting") != NULL && jerr.offset == MT_JSON_MAX_DEPTH);
    CHECK(mt_json_parse(deep + 1, 2 * n - 2, &v, &jerr)); /* exactly the limit is fine */
    mt_json_free(&v);
}

MT_TEST(json_quote_escapes) {
    char buf[64];
    size_t n = mt_json_quote(buf, sizeof buf, "a\"b\\c\nd\x01\xc3\xa9");
    CHECK(strcmp(buf, "\"a\\\"b\\\\c\\nd\\u0001\xc3\xa9\"") == 0);
    CHECK(n == strlen(buf));
    char small[4];
    CHECK(mt_json_quote(small, sizeof small, "abcdef") == 8); /* measures even when cut */
    CHECK(strcmp(small, "\"ab") == 0);
    /* What mt_json_quote writes, mt_json_parse reads back. */
    const char *nasty = "tab\t cr\r ff\f bs\b \x1f end";
    char q[64];
    mt_json_quote(q, sizeof q, nasty);
    mt_json v;
    REQUIRE(mt_json_parse(q, strlen(q), &v, NULL));
    CHECK(v.kind == MT_JSON_STRING && strcmp(v.string, nasty) == 0);
    mt_json_free(&v);
}
