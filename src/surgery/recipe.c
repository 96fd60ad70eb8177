/* recipe.c: the recipe struct, scales, sizes, JSON output and loading a
 * file (the readers are in recipe_json.c, recipe_spec.c and
 * recipe_mergekit.c). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "recipe_int.h"
#include "common/checked.h"
#include "common/util.h"
#include "common/util.h"

/* Real recipes are kilobytes (a 60,000-slice one is 2 MB of JSON); parsed
 * trees cost about 40x (cJSON) and 80x (libyaml) the text. */
#define RECIPE_FILE_MAX (4u << 20)
#define RECIPE_YAML_MAX (2u << 20)
#define MATCH_LIMIT 1000000

/* Makes room for element n of *arr (elements of sz bytes): the array
 * doubles whenever n is zero or a power of two. 0, or -1. */
static int grow(void *arr, size_t n, size_t sz)
{
    void **p = arr;
    size_t cap, bytes;
    void *q;

    if (n != 0 && (n & (n - 1)) != 0)
        return 0;
    cap = n ? n * 2 : 1;
    if (ck_array(cap, sz, &bytes) != 0 || !(q = realloc(*p, bytes)))
        return -1;
    *p = q;
    return 0;
}

recipe *rc_new(recipe_format format)
{
    recipe *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->format = format;
    r->embed_from = r->head_from = r->config_from = r->tokenizer_from = -1;
    return r;
}

long rc_add_model(recipe *r, const char *name, const char *given,
                  const char *base_dir)
{
    recipe_model *m;

    if (grow(&r->models, r->nmodels, sizeof(*r->models)) != 0)
        return -1;
    m = &r->models[r->nmodels];
    m->name = strdup(name);
    m->given = strdup(given);
    if (given[0] == '/' || !base_dir)
        m->path = strdup(given);
    else
        m->path = sut_path_join(base_dir, given);
    if (!m->name || !m->given || !m->path) {
        free(m->name);
        free(m->given);
        free(m->path);
        return -1;
    }
    return (long)r->nmodels++;
}

long rc_find_given(const recipe *r, const char *given)
{
    size_t i;

    for (i = 0; i < r->nmodels; i++)
        if (strcmp(r->models[i].given, given) == 0)
            return (long)i;
    return -1;
}

long recipe_model_index(const recipe *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->nmodels; i++)
        if (strcmp(r->models[i].name, name) == 0)
            return (long)i;
    return -1;
}

recipe_slice *rc_add_slice(recipe *r, size_t model, unsigned start,
                           unsigned end)
{
    recipe_slice *s;

    if (grow(&r->slices, r->nslices, sizeof(*r->slices)) != 0)
        return NULL;
    s = &r->slices[r->nslices++];
    memset(s, 0, sizeof(*s));
    s->model = model;
    s->start = start;
    s->end = end;
    return s;
}

/* Compiles pattern. Returns the code, or NULL with err set. */
static pcre2_code *compile(const char *pattern, sut_error *err)
{
    int code;
    PCRE2_SIZE off;
    PCRE2_UCHAR msg[256];
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   0, &code, &off, NULL);

    if (!re) {
        pcre2_get_error_message(code, msg, sizeof(msg));
        sut_error_set(err, "invalid pattern at offset %zu: %s", (size_t)off,
                      (const char *)msg);
    }
    return re;
}

int rc_add_scale(recipe_slice *s, const char *match, const double *values,
                 size_t n, sut_error *err)
{
    recipe_scale sc = {0};
    size_t bytes;

    if (n == 0 || ck_array(n, sizeof(double), &bytes) != 0)
        goto oom;
    if (grow(&s->scales, s->nscales, sizeof(*s->scales)) != 0)
        goto oom;
    sc.values = malloc(bytes);
    if (!sc.values || (match && !(sc.match = strdup(match))))
        goto oom;
    memcpy(sc.values, values, bytes);
    sc.nvalues = n;
    if (match && !(sc.priv = compile(match, err)))
        goto fail;
    s->scales[s->nscales++] = sc;
    return 0;
oom:
    sut_error_set(err, "out of memory");
fail:
    free(sc.match);
    free(sc.values);
    return -1;
}

/* True when rule sc applies to name. */
static bool rule_matches(const recipe_scale *sc, const char *name)
{
    pcre2_match_data *md;
    pcre2_match_context *mc;
    int rc;

    if (!sc->priv)
        return true;
    md = pcre2_match_data_create_from_pattern(sc->priv, NULL);
    mc = pcre2_match_context_create(NULL);
    if (!md || !mc) {
        rc = -1;
    } else {
        pcre2_set_match_limit(mc, MATCH_LIMIT);
        rc = pcre2_match(sc->priv, (PCRE2_SPTR)name, strlen(name), 0, 0, md,
                         mc);
    }
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    return rc >= 0;
}

/* The value of rule sc at position t in [0, 1] (mergekit's gradient). */
static double rule_value(const recipe_scale *sc, double t)
{
    size_t m = sc->nvalues, i0, i1;
    double x, frac;

    if (m == 1)
        return sc->values[0];
    x = t * (double)(m - 1);
    i0 = x >= (double)(m - 1) ? m - 1 : (size_t)x;
    i1 = i0 + 1 < m ? i0 + 1 : m - 1;
    frac = x - (double)i0;
    return (1 - frac) * sc->values[i0] + frac * sc->values[i1];
}

/* The first rule of s matching name, or NULL. */
static const recipe_scale *first_match(const recipe_slice *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->nscales; i++)
        if (rule_matches(&s->scales[i], name))
            return &s->scales[i];
    return NULL;
}

double recipe_scale_for(const recipe_slice *s, const char *local,
                        unsigned k, unsigned n)
{
    const recipe_scale *sc = first_match(s, local);
    double t = n > 1 ? (double)k / (double)(n - 1) : 1.0;

    return sc ? rule_value(sc, t) : 1.0;
}

bool rc_scales(const recipe_slice *s, const char *name, double t)
{
    const recipe_scale *sc = first_match(s, name);

    return sc && rule_value(sc, t) != 1.0;
}

int rc_failv(sut_error *err, const char *label, const char *where,
             const char *fmt, va_list ap)
{
    char what[SUT_ERROR_MAX];

    vsnprintf(what, sizeof(what), fmt, ap);
    if (*where)
        sut_error_set(err, "%s: %s: %s", label, where, what);
    else
        sut_error_set(err, "%s: %s", label, what);
    return -1;
}

int rc_note(recipe *r, const char *fmt, ...)
{
    va_list ap;
    char *text;
    size_t n = 0;
    int rc;

    while (r->notes && r->notes[n])
        n++;
    va_start(ap, fmt);
    rc = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return -1;
    sut_one_line(text);
    /* room for n + 1 notes and the terminating NULL (index n + 1) */
    if (grow(&r->notes, n + 1, sizeof(*r->notes)) != 0) {
        free(text);
        return -1;
    }
    r->notes[n] = text;
    r->notes[n + 1] = NULL;
    return 0;
}

bool rc_valid_name(const char *name)
{
    const char *p;

    if (!*name)
        return false;
    for (p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
            return false;
    return true;
}

char *rc_name_from_path(const recipe *r, const char *path)
{
    size_t len = strlen(path), i, b;
    char *base, *name;
    unsigned k;

    while (len > 1 && path[len - 1] == '/')
        len--;
    for (b = len; b > 0 && path[b - 1] != '/'; b--)
        ;
    base = strndup(path + b, len - b);
    if (!base)
        return NULL;
    for (i = 0; base[i]; i++)
        if (!isalnum((unsigned char)base[i]) && !strchr("_.-", base[i]))
            base[i] = '_';
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        free(base);
        base = strdup("model");
        if (!base)
            return NULL;
    }
    if (recipe_model_index(r, base) < 0)
        return base;
    for (k = 2;; k++) {
        if (asprintf(&name, "%s-%u", base, k) < 0) {
            name = NULL;
            break;
        }
        if (recipe_model_index(r, name) < 0)
            break;
        free(name);
    }
    free(base);
    return name;
}

int rc_parse_dtype(const char *s, st_dtype *out)
{
    static const struct {
        const char *name;
        st_dtype dt;
    } names[] = {
        {"f32", ST_F32}, {"float32", ST_F32}, {"f16", ST_F16},
        {"float16", ST_F16}, {"bf16", ST_BF16}, {"bfloat16", ST_BF16},
    };
    size_t i;

    if (strncmp(s, "torch.", 6) == 0)
        s += 6;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].dt;
            return 0;
        }
    return -1;
}

int rc_check_total(const recipe *r, const char *where, sut_error *err)
{
    uint64_t total = 0;
    size_t i;

    for (i = 0; i < r->nslices; i++)
        if (ck_add(total, r->slices[i].end - r->slices[i].start, &total) != 0)
            break;
    if (i < r->nslices || total > RECIPE_LAYER_MAX) {
        sut_error_set(err, "%s: the output would have more than %u layers",
                      where, RECIPE_LAYER_MAX);
        return -1;
    }
    return 0;
}

int rc_note_unused(recipe *r)
{
    size_t i, j;
    long m;

    for (i = 0; i < r->nmodels; i++) {
        m = (long)i;
        for (j = 0; j < r->nslices && r->slices[j].model != i; j++)
            ;
        if (j < r->nslices || r->embed_from == m || r->head_from == m ||
            r->config_from == m || r->tokenizer_from == m)
            continue;
        if (rc_note(r, "model '%s' is not used by any slice or donor",
                    r->models[i].name) != 0)
            return -1;
    }
    return 0;
}

/* Sizes ------------------------------------------------------------------ */

static const struct size_unit {
    const char *name;
    uint64_t mult;
} size_units[] = {
    {"TB", 1000000000000ULL}, {"GB", 1000000000ULL}, {"MB", 1000000ULL},
    {"TiB", 1ULL << 40}, {"GiB", 1ULL << 30}, {"MiB", 1ULL << 20},
    {"KiB", 1ULL << 10}, {"kB", 1000ULL}, {"B", 1},
};

/* Reads decimal digits at *p into *out (at least one). 0, or -1. */
static int read_digits(const char **p, uint64_t *out, size_t *ndigits)
{
    uint64_t v = 0;
    size_t n = 0;

    while (isdigit((unsigned char)**p)) {
        if (ck_mul(v, 10, &v) != 0 || ck_add(v, (uint64_t)(**p - '0'), &v) != 0)
            return -1;
        (*p)++;
        n++;
    }
    *out = v;
    *ndigits = n;
    return n ? 0 : -1;
}

/* The multiplier of unit u ("" means bytes), or 0 when unknown. */
static uint64_t unit_mult(const char *u)
{
    size_t i;

    if (!*u)
        return 1;
    for (i = 0; i < sizeof(size_units) / sizeof(size_units[0]); i++)
        if (strcasecmp(u, size_units[i].name) == 0)
            return size_units[i].mult;
    return 0;
}

int recipe_parse_size(const char *s, uint64_t *out)
{
    uint64_t whole, frac = 0, mult, pow10 = 1, v, f;
    size_t nfrac = 0, i;
    const char *p = s;

    if (read_digits(&p, &whole, &i) != 0)
        return -1;
    if (*p == '.') {
        p++;
        if (read_digits(&p, &frac, &nfrac) != 0)
            return -1;
        for (; nfrac > 0 && frac % 10 == 0; nfrac--)
            frac /= 10;
    }
    if (*p == ' ')
        p++;
    if (!(mult = unit_mult(p)))
        return -1;
    for (i = 0; i < nfrac; i++)
        if (ck_mul(pow10, 10, &pow10) != 0)
            return -1;
    if (ck_mul(whole, mult, &v) != 0 || ck_mul(frac, mult, &f) != 0 ||
        f % pow10 != 0 || ck_add(v, f / pow10, &v) != 0)
        return -1;
    *out = v;
    return 0;
}

/* Formats a size in the largest unit that divides it ("5GB", "2GiB"). */
static void format_size(uint64_t v, char *buf, size_t size)
{
    size_t i;

    for (i = 0; i < sizeof(size_units) / sizeof(size_units[0]) - 1; i++)
        if (v % size_units[i].mult == 0) {
            snprintf(buf, size, "%llu%s",
                     (unsigned long long)(v / size_units[i].mult),
                     size_units[i].name);
            return;
        }
    snprintf(buf, size, "%llu", (unsigned long long)v);
}

/* JSON output --------------------------------------------------------- */

static const char *dtype_short(st_dtype dt)
{
    return dt == ST_F32 ? "f32" : dt == ST_F16 ? "f16" : dt == ST_BF16 ? "bf16"
                                                                         : "?";
}

static cJSON *scale_json(const recipe_scale *sc)
{
    cJSON *o = cJSON_CreateObject(), *v;
    size_t i;

    if (!o || (sc->match && !cJSON_AddStringToObject(o, "match", sc->match)))
        goto fail;
    if (sc->nvalues == 1) {
        if (!cJSON_AddNumberToObject(o, "value", sc->values[0]))
            goto fail;
        return o;
    }
    if (!(v = cJSON_AddArrayToObject(o, "value")))
        goto fail;
    for (i = 0; i < sc->nvalues; i++)
        if (!cJSON_AddItemToArray(v, cJSON_CreateNumber(sc->values[i])))
            goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static cJSON *slice_json(const recipe *r, const recipe_slice *s)
{
    cJSON *o = cJSON_CreateObject(), *a;
    size_t i;

    if (!o || !cJSON_AddStringToObject(o, "model", r->models[s->model].name) ||
        !(a = cJSON_AddArrayToObject(o, "layers")) ||
        !cJSON_AddItemToArray(a, cJSON_CreateNumber(s->start)) ||
        !cJSON_AddItemToArray(a, cJSON_CreateNumber(s->end)))
        goto fail;
    if (s->nscales && !(a = cJSON_AddArrayToObject(o, "scale")))
        goto fail;
    for (i = 0; i < s->nscales; i++)
        if (!cJSON_AddItemToArray(a, scale_json(&s->scales[i])))
            goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static bool add_donor(cJSON *o, const recipe *r, const char *key, long i)
{
    return i < 0 || (size_t)i >= r->nmodels ||
           cJSON_AddStringToObject(o, key, r->models[i].name);
}

static bool add_output(cJSON *root, const recipe *r)
{
    char buf[64];
    cJSON *o;

    if (!r->shard_size && !r->has_dtype)
        return true;
    if (!(o = cJSON_AddObjectToObject(root, "output")))
        return false;
    format_size(r->shard_size, buf, sizeof(buf));
    if (r->shard_size && !cJSON_AddStringToObject(o, "shard_size", buf))
        return false;
    return !r->has_dtype ||
           cJSON_AddStringToObject(o, "dtype", dtype_short(r->dtype));
}

cJSON *recipe_to_json(const recipe *r)
{
    cJSON *root = cJSON_CreateObject(), *o;
    size_t i;

    if (!root || (r->comment && !cJSON_AddStringToObject(root, "comment",
                                                          r->comment)))
        goto fail;
    if (!(o = cJSON_AddObjectToObject(root, "models")))
        goto fail;
    for (i = 0; i < r->nmodels; i++)
        if (!cJSON_AddStringToObject(o, r->models[i].name, r->models[i].given))
            goto fail;
    if (!(o = cJSON_AddArrayToObject(root, "slices")))
        goto fail;
    for (i = 0; i < r->nslices; i++)
        if (!cJSON_AddItemToArray(o, slice_json(r, &r->slices[i])))
            goto fail;
    if (!add_donor(root, r, "embed_from", r->embed_from) ||
        !add_donor(root, r, "head_from", r->head_from) ||
        !add_donor(root, r, "config_from", r->config_from) ||
        !add_donor(root, r, "tokenizer_from", r->tokenizer_from) ||
        !add_output(root, r))
        goto fail;
    return root;
fail:
    cJSON_Delete(root);
    return NULL;
}

/* Loading and freeing ------------------------------------------------- */

/* The folder part of path (new string), "/" for a file at the root, or
 * NULL with *oom false when path has no folder. */
static char *folder_of(const char *path, bool *oom)
{
    const char *slash = strrchr(path, '/');
    char *dir;

    *oom = false;
    if (!slash)
        return NULL;
    dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    *oom = !dir;
    return dir;
}

recipe *recipe_load(const char *path, sut_error *err)
{
    size_t len;
    bool oom;
    recipe *r = NULL;
    char *dir = NULL;
    char *text = sut_read_file(path, RECIPE_FILE_MAX, &len, err);
    const char *p = text;

    if (!text)
        return NULL;
    dir = folder_of(path, &oom);
    if (oom) {
        sut_error_set(err, "%s: out of memory", path);
        goto out;
    }
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    while (p < text + len && isspace((unsigned char)*p))
        p++;
    if (p < text + len && *p == '{')
        r = recipe_parse_json(text, len, path, dir, err);
    else if (len > RECIPE_YAML_MAX)
        sut_error_set(err, "%s: file is %zu bytes, over the limit of %u for a "
                      "mergekit YAML recipe", path, len, RECIPE_YAML_MAX);
    else
        r = recipe_parse_mergekit(text, len, path, dir, err);
    if (r && !(r->path = strdup(path))) {
        sut_error_set(err, "%s: out of memory", path);
        recipe_free(r);
        r = NULL;
    }
out:
    free(dir);
    free(text);
    return r;
}

static void free_slice(recipe_slice *s)
{
    size_t i;

    for (i = 0; i < s->nscales; i++) {
        free(s->scales[i].match);
        free(s->scales[i].values);
        pcre2_code_free(s->scales[i].priv);
    }
    free(s->scales);
}

void recipe_free(recipe *r)
{
    size_t i;

    if (!r)
        return;
    for (i = 0; i < r->nmodels; i++) {
        free(r->models[i].name);
        free(r->models[i].path);
        free(r->models[i].given);
    }
    for (i = 0; i < r->nslices; i++)
        free_slice(&r->slices[i]);
    for (i = 0; r->notes && r->notes[i]; i++)
        free(r->notes[i]);
    free(r->notes);
    free(r->models);
    free(r->slices);
    free(r->path);
    free(r->comment);
    free(r);
}
