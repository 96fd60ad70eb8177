/* model.c: Hugging Face model folders (see model.h). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "suture/model.h"
#include "common/checked.h"
#include "common/util.h"
#include "common/jscan.h"

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"
#define LAYER_MAX 65536
/* Issues of one code past this many are counted, not kept (an index of a
 * million wrong entries must not make a million messages). */
#define ISSUE_LIST_MAX 10
#define ISSUE_CODES 8

struct model {
    char *path;
    char *dir;
    cJSON *config;
    const arch_family *arch;
    char *index_name;
    uint64_t index_total;
    char **shard_names;
    st_file **shards;
    size_t nshards;
    model_tensor *tensors;
    size_t ntensors;
    size_t *by_name;        /* tensor indices sorted by name */
    size_t *layer_list;     /* tensor indices grouped by layer */
    size_t *layer_start;    /* nlayers + 1 offsets into layer_list */
    unsigned nlayers;
    model_issue *issues;
    size_t nissues;
    struct {
        const char *code;
        size_t count;
    } unlisted[ISSUE_CODES];  /* issues past ISSUE_LIST_MAX of one code */
    bool summing;             /* adding the lines that count them */
};

static int add_issue(model *m, const char *code, sut_error *err,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* True when code already has ISSUE_LIST_MAX issues: this one is counted in
 * m->unlisted instead. */
static bool count_unlisted(model *m, const char *code)
{
    size_t i, n = 0;

    if (m->summing)
        return false;
    for (i = 0; i < m->nissues; i++)
        n += strcmp(m->issues[i].code, code) == 0;
    if (n < ISSUE_LIST_MAX)
        return false;
    for (i = 0; i < ISSUE_CODES; i++) {
        if (!m->unlisted[i].code || strcmp(m->unlisted[i].code, code) == 0) {
            m->unlisted[i].code = code;
            m->unlisted[i].count++;
            return true;
        }
    }
    return false;
}

/* One issue per code that had more than ISSUE_LIST_MAX: how many more. */
static int add_unlisted(model *m, sut_error *err)
{
    size_t i;

    m->summing = true;
    for (i = 0; i < ISSUE_CODES && m->unlisted[i].code; i++)
        if (add_issue(m, m->unlisted[i].code, err, "%zu more issues like the %d "
                      "above are not listed", m->unlisted[i].count,
                      ISSUE_LIST_MAX) != 0)
            return -1;
    return 0;
}

static int add_issue(model *m, const char *code, sut_error *err,
                     const char *fmt, ...)
{
    char buf[SUT_ERROR_MAX];
    model_issue *grown;
    va_list ap;

    if (count_unlisted(m, code))
        return 0;
    va_start(ap, fmt);
    sut_vline(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    grown = realloc(m->issues, (m->nissues + 1) * sizeof(*grown));
    if (!grown || !(grown[m->nissues].message = strdup(buf))) {
        if (grown)
            m->issues = grown;
        sut_error_oom(err, m->path);
        return -1;
    }
    grown[m->nissues].code = code;
    m->issues = grown;
    m->nissues++;
    return 0;
}

void model_free(model *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->nshards; i++) {
        if (m->shards)
            st_free(m->shards[i]);
        free(m->shard_names[i]);
    }
    for (i = 0; i < m->nissues; i++)
        free(m->issues[i].message);
    free(m->issues);
    free(m->shards);
    free(m->shard_names);
    free(m->tensors);
    free(m->by_name);
    free(m->layer_list);
    free(m->layer_start);
    free(m->index_name);
    cJSON_Delete(m->config);
    free(m->dir);
    free(m->path);
    free(m);
}

static int push_shard(model *m, const char *name, sut_error *err)
{
    char **names = realloc(m->shard_names, (m->nshards + 1) * sizeof(*names));

    if (names)
        m->shard_names = names;
    if (!names || !(names[m->nshards] = strdup(name))) {
        sut_error_oom(err, m->path);
        return -1;
    }
    m->nshards++;
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lone .safetensors file of a folder without model.safetensors. */
static int find_lone_file(model *m, sut_error *err)
{
    DIR *d = opendir(m->dir);
    struct dirent *e;
    char *found = NULL;
    int n = 0, rc = -1;

    if (!d) {
        sut_error_set(err, "%s: cannot open folder: %s", m->dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d))) {
        int kind = sut_ends_with(e->d_name, ".safetensors")
                   ? sut_file_kind(m->dir, e->d_name, err) : 0;
        if (kind < 0) {
            closedir(d);
            free(found);
            return -1;
        }
        if (kind > 0 && n++ == 0)
            found = strdup(e->d_name);
    }
    closedir(d);
    if (n == 0)
        sut_error_set(err, "%s: no model.safetensors, no %s and no .safetensors file",
                      m->dir, INDEX_NAME);
    else if (n > 1)
        sut_error_set(err, "%s: %d .safetensors files but no %s", m->dir, n,
                      INDEX_NAME);
    else if (found)
        rc = push_shard(m, found, err);
    else
        sut_error_oom(err, m->dir);
    free(found);
    return rc;
}

/* One weight_map entry. */
struct map_entry {
    const char *name;
    const char *shard;
};

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct map_entry *)a)->name,
                  ((const struct map_entry *)b)->name);
}

static const struct map_entry *map_find(const struct map_entry *map, size_t n,
                                        const char *name)
{
    struct map_entry key = {name, NULL};

    return bsearch(&key, map, n, sizeof(*map), cmp_entry);
}

/* The distinct shard names of the map, sorted, into m->shard_names. */
static int collect_shards(model *m, const struct map_entry *map, size_t n,
                          sut_error *err)
{
    const char **names = malloc((n ? n : 1) * sizeof(*names));
    size_t i;
    int rc = 0;

    if (!names) {
        sut_error_oom(err, INDEX_NAME);
        return -1;
    }
    for (i = 0; i < n; i++)
        names[i] = map[i].shard;
    qsort(names, n, sizeof(*names), cmp_str_ptr);
    for (i = 0; i < n && rc == 0; i++)
        if (i == 0 || strcmp(names[i - 1], names[i]) != 0)
            rc = push_shard(m, names[i], err);
    free(names);
    return rc;
}

/* The weight_map as read: names and shard names in one arena, the map's
 * entries as arena offsets (name at 2i, shard at 2i + 1). */
struct index_read {
    char *arena;
    size_t len, cap;
    size_t *off;
    size_t n, off_cap;
};

static void index_read_free(struct index_read *ix)
{
    free(ix->arena);
    free(ix->off);
}

/* Appends s (and a NUL) to the arena; its offset in *at. 0 or -1. */
static int ix_put(struct index_read *ix, const char *s, size_t len, size_t *at)
{
    if (len + 1 > ix->cap - ix->len) {
        size_t cap = ix->cap ? ix->cap : 4096;
        char *grown;
        while (cap - ix->len < len + 1) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        if (!(grown = realloc(ix->arena, cap)))
            return -1;
        /* zeroed: word-wise readers (PCRE2's JIT) may look past a name */
        memset(grown + ix->len, 0, cap - ix->len);
        ix->arena = grown;
        ix->cap = cap;
    }
    memcpy(ix->arena + ix->len, s, len + 1);
    *at = ix->len;
    ix->len += len + 1;
    return 0;
}

/* Adds one weight_map entry whose tensor name is in js->str and whose
 * value comes next. 0 or -1. */
static int ix_entry(struct index_read *ix, jscan *js, sut_error *err)
{
    size_t name, shard, bytes;

    if (ix_put(ix, js->str, js->str_len, &name) != 0)
        goto oom;
    if (js_peek(js) != JS_STRING) {
        if (js_skip(js) == 0)
            sut_error_set(err, "%s: weight_map: tensor '%.*s': not a file name "
                          "string", INDEX_NAME, SUT_CUT(ix->arena + name));
        return -1;
    }
    if (js_string(js) != 0)
        return -1;
    if (!sut_plain_name(js->str)) {
        sut_error_set(err, "%s: weight_map: tensor '%.*s': shard '%.*s' is not "
                      "a plain file name in the folder", INDEX_NAME,
                      SUT_CUT(ix->arena + name), SUT_CUT(js->str));
        return -1;
    }
    if (ix_put(ix, js->str, js->str_len, &shard) != 0)
        goto oom;
    if (2 * ix->n + 2 > ix->off_cap) {
        size_t cap = ix->off_cap ? ix->off_cap * 2 : 256;
        size_t *grown;
        if (ck_array(cap, sizeof(size_t), &bytes) != 0 ||
            !(grown = realloc(ix->off, bytes)))
            goto oom;
        ix->off = grown;
        ix->off_cap = cap;
    }
    ix->off[2 * ix->n] = name;
    ix->off[2 * ix->n + 1] = shard;
    ix->n++;
    return 0;
oom:
    sut_error_oom(err, INDEX_NAME);
    return -1;
}

static int read_weight_map(struct index_read *ix, jscan *js, sut_error *err)
{
    int first = 1, r;

    if (js_peek(js) != JS_OBJECT) {
        if (js_skip(js) == 0)
            sut_error_set(err, "%s: weight_map: not an object", INDEX_NAME);
        return -1;
    }
    if (js_open(js) != 0)
        return -1;
    while ((r = js_next_key(js, &first)) == 1)
        if (ix_entry(ix, js, err) != 0)
            return -1;
    return r;
}

/* "metadata": null, or an object whose total_size (when present) is a
 * whole number; its other keys are skipped. */
static int read_index_meta(model *m, jscan *js, sut_error *err)
{
    int first = 1, r, seen = 0;
    js_kind k = js_peek(js);

    if (k == JS_NULL)
        return js_literal(js);
    if (k != JS_OBJECT) {
        if (js_skip(js) == 0)
            sut_error_set(err, "%s: metadata: not an object", INDEX_NAME);
        return -1;
    }
    if (js_open(js) != 0)
        return -1;
    while ((r = js_next_key(js, &first)) == 1) {
        cJSON num = {0};
        if (strcmp(js->str, "total_size") != 0) {
            if (js_skip(js) != 0)
                return -1;
            continue;
        }
        if (seen++) {
            sut_error_set(err, "%s: duplicate key 'total_size'", js->label);
            return -1;
        }
        if (js_peek(js) != JS_NUMBER) {
            if (js_skip(js) == 0)
                sut_error_set(err, "%s: metadata.total_size: not a whole number",
                              INDEX_NAME);
            return -1;
        }
        if (js_number(js) != 0)
            return -1;
        num.type = cJSON_Number;
        num.valuedouble = js->num;
        if (sut_json_u64(&num, &m->index_total) != 0) {
            sut_error_set(err, "%s: metadata.total_size: not a whole number",
                          INDEX_NAME);
            return -1;
        }
    }
    return r;
}

/* Walks the index object: metadata and weight_map (each at most once);
 * other keys are skipped. 0 or -1. */
static int walk_index(model *m, struct index_read *ix, jscan *js,
                      sut_error *err)
{
    int first = 1, r, meta = 0, wm = 0;

    if (js_peek(js) != JS_OBJECT) {
        if (js_skip(js) == 0 && js_finish(js) == 0)
            sut_error_set(err, "%s: not a JSON object", INDEX_NAME);
        return -1;
    }
    if (js_open(js) != 0)
        return -1;
    while ((r = js_next_key(js, &first)) == 1) {
        int *seen = strcmp(js->str, "metadata") == 0 ? &meta
                    : strcmp(js->str, "weight_map") == 0 ? &wm : NULL;
        if (seen && (*seen)++) {
            sut_error_set(err, "%s: duplicate key '%s'", js->label, js->str);
            return -1;
        }
        r = seen == &meta ? read_index_meta(m, js, err)
            : seen == &wm ? read_weight_map(ix, js, err) : js_skip(js);
        if (r != 0)
            return -1;
    }
    if (r != 0 || js_finish(js) != 0)
        return -1;
    if (!wm) {
        sut_error_set(err, "%s: weight_map: missing", INDEX_NAME);
        return -1;
    }
    if (ix->n == 0) {
        sut_error_set(err, "%s: weight_map: empty (no tensor is named)", INDEX_NAME);
        return -1;
    }
    return 0;
}

/* The map's entries as pointers into the arena, sorted by name; a name
 * given twice is an error. 0 or -1. */
static int index_map(const struct index_read *ix, const char *label,
                     struct map_entry **map, sut_error *err)
{
    size_t i, bytes;

    if (ck_array(ix->n, sizeof(**map), &bytes) != 0 || !(*map = malloc(bytes))) {
        sut_error_oom(err, INDEX_NAME);
        return -1;
    }
    for (i = 0; i < ix->n; i++) {
        (*map)[i].name = ix->arena + ix->off[2 * i];
        (*map)[i].shard = ix->arena + ix->off[2 * i + 1];
    }
    qsort(*map, ix->n, sizeof(**map), cmp_entry);
    for (i = 1; i < ix->n; i++) {
        if (strcmp((*map)[i - 1].name, (*map)[i].name) == 0) {
            sut_error_set(err, "%s: duplicate key '%.*s'", label, SUT_CUT((*map)[i].name));
            return -1;
        }
    }
    return 0;
}

/* Reads the index without holding a JSON tree of it: its total_size, its
 * weight_map as a sorted array (*map, pointing into ix's arena) and the
 * distinct shard names, sorted. 0 or -1 with err set. */
static int read_index(model *m, struct index_read *ix, struct map_entry **map,
                      size_t *nmap, sut_error *err)
{
    char *path = sut_path_join(m->dir, INDEX_NAME), *text = NULL;
    size_t len;
    jscan js;
    int rc = -1;

    js_init(&js, "", 0, path, err);
    if (!path) {
        sut_error_oom(err, INDEX_NAME);
        return -1;
    }
    if (!(text = sut_read_file(path, MODEL_INDEX_MAX, &len, err)))
        goto out;
    js_init(&js, text, len, path, err);
    if (walk_index(m, ix, &js, err) != 0)
        goto out;
    /* the text is no longer needed: free it before the map is built */
    free(text);
    text = NULL;
    if (index_map(ix, path, map, err) != 0)
        goto out;
    *nmap = ix->n;
    rc = collect_shards(m, *map, ix->n, err);
out:
    js_release(&js);
    free(text);
    free(path);
    return rc;
}

static int open_shards(model *m, sut_error *err)
{
    size_t i;

    if (!(m->shards = calloc(m->nshards ? m->nshards : 1, sizeof(*m->shards)))) {
        sut_error_oom(err, m->path);
        return -1;
    }
    for (i = 0; i < m->nshards; i++) {
        char *p = sut_path_join(m->dir, m->shard_names[i]);
        struct stat st;

        if (!p) {
            sut_error_oom(err, m->path);
            return -1;
        }
        if (stat(p, &st) != 0) {
            sut_error_set(err, "%s: shard '%s' named by %s: %s", m->dir,
                          m->shard_names[i], INDEX_NAME, strerror(errno));
            free(p);
            return -1;
        }
        m->shards[i] = st_open(p, err);
        free(p);
        if (!m->shards[i])
            return -1;
    }
    return 0;
}

/* Reports an index disagreement: an error in strict mode, else an issue. */
static int mismatch(model *m, int flags, sut_error *err, const char *msg)
{
    if (!(flags & MODEL_LENIENT)) {
        sut_error_set(err, "%s: %s", INDEX_NAME, msg);
        return -1;
    }
    return add_issue(m, "index-mismatch", err, "%s: %s", INDEX_NAME, msg);
}

static int cmp_tensor_name(const void *a, const void *b, void *ctx)
{
    const model_tensor *t = ctx;

    return strcmp(t[*(const size_t *)a].t->name, t[*(const size_t *)b].t->name);
}

/* Lists every tensor of every shard and sorts a by-name index; a tensor
 * stored in two shards is an error. */
static int list_tensors(model *m, sut_error *err)
{
    size_t i, j, n = 0;

    for (i = 0; i < m->nshards; i++)
        n += st_count(m->shards[i]);
    m->tensors = calloc(n ? n : 1, sizeof(*m->tensors));
    m->by_name = malloc((n ? n : 1) * sizeof(*m->by_name));
    if (!m->tensors || !m->by_name) {
        sut_error_oom(err, m->path);
        return -1;
    }
    for (i = 0; i < m->nshards; i++)
        for (j = 0; j < st_count(m->shards[i]); j++) {
            m->tensors[m->ntensors].t = st_at(m->shards[i], j);
            m->tensors[m->ntensors].shard = i;
            m->by_name[m->ntensors] = m->ntensors;
            m->ntensors++;
        }
    if (m->nshards == 1) /* the shard's own name order: no second sort */
        for (i = 0; i < n; i++)
            m->by_name[i] = st_name_order(m->shards[0], i);
    else
        qsort_r(m->by_name, n, sizeof(*m->by_name), cmp_tensor_name, m->tensors);
    for (i = 1; i < n; i++) {
        const model_tensor *a = &m->tensors[m->by_name[i - 1]];
        const model_tensor *b = &m->tensors[m->by_name[i]];
        if (strcmp(a->t->name, b->t->name) == 0) {
            sut_error_set(err, "%s: tensor '%s' is stored in both '%s' and '%s'",
                          m->dir, a->t->name, m->shard_names[a->shard],
                          m->shard_names[b->shard]);
            return -1;
        }
    }
    return 0;
}

/* Checks the weight_map against what the shards hold. */
static int check_index(model *m, const struct map_entry *map, size_t nmap,
                       int flags, sut_error *err)
{
    char msg[SUT_ERROR_MAX];
    size_t i;

    for (i = 0; i < m->ntensors; i++) {
        const model_tensor *t = &m->tensors[i];
        const struct map_entry *e = map_find(map, nmap, t->t->name);
        const char *in = m->shard_names[t->shard];

        if (!e)
            snprintf(msg, sizeof(msg), "tensor '%s' is in '%s' but not in the weight_map",
                     t->t->name, in);
        else if (strcmp(e->shard, in) != 0)
            snprintf(msg, sizeof(msg), "weight_map puts tensor '%s' in '%s' but it is in '%s'",
                     t->t->name, e->shard, in);
        else
            continue;
        if (mismatch(m, flags, err, msg) != 0)
            return -1;
    }
    for (i = 0; i < nmap; i++) {
        if (model_find(m, map[i].name))
            continue;
        snprintf(msg, sizeof(msg), "weight_map names tensor '%s' in '%s', which does not hold it",
                 map[i].name, map[i].shard);
        if (mismatch(m, flags, err, msg) != 0)
            return -1;
    }
    return 0;
}

/* Files named *.safetensors in the folder that the index does not name. */
static int check_unreferenced(model *m, sut_error *err)
{
    DIR *d = opendir(m->dir);
    struct dirent *e;
    int rc = 0;

    if (!d)
        return 0;
    while (rc == 0 && (e = readdir(d))) {
        char *key = e->d_name;
        if (!sut_ends_with(e->d_name, ".safetensors") ||
            (m->nshards &&
             bsearch(&key, m->shard_names, m->nshards, sizeof(char *), cmp_str_ptr)))
            continue;
        rc = add_issue(m, "index-mismatch", err,
                       "%s: shard '%s' is in the folder but the index does not reference it",
                       INDEX_NAME, e->d_name);
    }
    closedir(d);
    return rc;
}

static int check_total(model *m, sut_error *err)
{
    uint64_t sum = model_data_bytes(m);

    if (!m->index_name || m->index_total == sum)
        return 0;
    return add_issue(m, "total-size-mismatch", err,
                     "%s: metadata.total_size is %llu but the tensors hold %llu bytes",
                     INDEX_NAME, (unsigned long long)m->index_total,
                     (unsigned long long)sum);
}

static int choose_arch(model *m, arch_table *arches, sut_error *err)
{
    sut_error why = {""};
    const char **names;
    size_t i;

    if ((m->arch = arch_for_config(arches, m->config)))
        return 0;
    if (!(names = malloc((m->ntensors ? m->ntensors : 1) * sizeof(*names)))) {
        sut_error_oom(err, m->path);
        return -1;
    }
    for (i = 0; i < m->ntensors; i++)
        names[i] = m->tensors[i].t->name;
    m->arch = arch_infer(arches, names, m->ntensors, &why);
    free(names);
    if (!m->arch && strstr(why.msg, "no tensor name has a layer index")) {
        if (!(m->arch = arch_none(arches, err))) {
            sut_error_prefix(err, "%s", m->path);
            return -1;
        }
        return add_issue(m, "no-layer-stack", err, "%s: no layer stack (no tensor "
                         "is in a numbered layer \"<prefix>.N.<name>\")", m->path);
    }
    if (!m->arch) {
        sut_error_set(err, "%s: %s", m->path, why.msg);
        return -1;
    }
    return add_issue(m, "unknown-architecture", err,
                     "%s: architecture not in the table; layers inferred from tensor names (%s)",
                     m->config ? "config.json" : m->path, m->arch->layer_pattern);
}

/* Sets each tensor's role and layer, and groups layer tensors by layer. */
static int classify(model *m, sut_error *err)
{
    size_t i, *fill = NULL;
    long top = -1;

    for (i = 0; i < m->ntensors; i++) {
        model_tensor *t = &m->tensors[i];
        size_t local;
        long layer = arch_layer_of(m->arch, t->t->name, NULL, NULL, &local);

        if (layer < -1 || layer >= LAYER_MAX) {
            sut_error_set(err, "%s: tensor '%s': layer index over the limit of %d",
                          m->shard_names[t->shard], t->t->name, LAYER_MAX - 1);
            return -1;
        }
        t->layer = layer;
        t->role = layer >= 0 ? MODEL_LAYER
                  : arch_is_head(m->arch, t->t->name) ? MODEL_POST : MODEL_PRE;
        t->local = layer >= 0 ? t->t->name + local : NULL;
        if (layer > top)
            top = layer;
    }
    m->nlayers = (unsigned)(top + 1);
    m->layer_start = calloc(m->nlayers + 2, sizeof(size_t));
    m->layer_list = malloc((m->ntensors ? m->ntensors : 1) * sizeof(size_t));
    fill = calloc(m->nlayers + 1, sizeof(size_t));
    if (!m->layer_start || !m->layer_list || !fill) {
        free(fill);
        sut_error_oom(err, m->path);
        return -1;
    }
    for (i = 0; i < m->ntensors; i++)
        if (m->tensors[i].layer >= 0)
            m->layer_start[m->tensors[i].layer + 1]++;
    for (i = 0; i < m->nlayers; i++)
        m->layer_start[i + 1] += m->layer_start[i];
    for (i = 0; i < m->ntensors; i++) {
        long l = m->tensors[i].layer;
        if (l >= 0)
            m->layer_list[m->layer_start[l] + fill[l]++] = i;
    }
    free(fill);
    return 0;
}

static int read_config(model *m, sut_error *err)
{
    char *cfg = sut_path_join(m->dir, "config.json");

    if (!cfg) {
        sut_error_oom(err, m->path);
        return -1;
    }
    m->config = sut_json_read_file(cfg, MODEL_CONFIG_MAX, err);
    free(cfg);
    if (!m->config)
        return -1;
    if (!cJSON_IsObject(m->config)) {
        sut_error_set(err, "%s/config.json: not a JSON object", m->dir);
        return -1;
    }
    return 0;
}

/* The files of a folder: the index, else model.safetensors, else the lone
 * .safetensors file. */
static int locate_in_dir(model *m, struct index_read *ix, struct map_entry **map,
                         size_t *nmap, sut_error *err)
{
    int kind;

    if (!(m->dir = strdup(m->path))) {
        sut_error_oom(err, m->path);
        return -1;
    }
    if ((kind = sut_file_kind(m->dir, INDEX_NAME, err)) < 0)
        return -1;
    if (kind > 0) {
        if (!(m->index_name = strdup(INDEX_NAME))) {
            sut_error_oom(err, m->path);
            return -1;
        }
        return read_index(m, ix, map, nmap, err);
    }
    if ((kind = sut_file_kind(m->dir, SINGLE_NAME, err)) < 0)
        return -1;
    return kind > 0 ? push_shard(m, SINGLE_NAME, err) : find_lone_file(m, err);
}

/* Where the model's files are: sets dir, config and the shard names. */
static int locate(model *m, struct index_read *ix, struct map_entry **map,
                  size_t *nmap, sut_error *err)
{
    struct stat st;
    int kind;

    if (stat(m->path, &st) != 0) {
        sut_error_set(err, "%s: %s", m->path, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode)) {
        const char *slash = strrchr(m->path, '/');
        m->dir = slash ? strndup(m->path, (size_t)(slash - m->path + (slash == m->path)))
                       : strdup(".");
        if (!m->dir) {
            sut_error_oom(err, m->path);
            return -1;
        }
        if (push_shard(m, sut_basename(m->path), err) != 0)
            return -1;
    } else if (S_ISDIR(st.st_mode)) {
        if (locate_in_dir(m, ix, map, nmap, err) != 0)
            return -1;
    } else {
        sut_error_set(err, "%s: not a file or folder", m->path);
        return -1;
    }
    if ((kind = sut_file_kind(m->dir, "config.json", err)) <= 0)
        return kind;
    return read_config(m, err);
}

/* A model without a layer stack, for commands that need one. */
static int need_layers(const model *m, int flags, sut_error *err)
{
    if (!(flags & MODEL_NEED_LAYERS) || m->nlayers > 0)
        return 0;
    sut_error_set(err, "%s: no layer stack (no tensor is in a numbered layer "
                  "\"<prefix>.N.<name>\"): plan and build need one", m->path);
    return -1;
}

model *model_open(const char *path, arch_table *arches, int flags,
                  sut_error *err)
{
    model *m = calloc(1, sizeof(*m));
    struct index_read ix = {0};
    struct map_entry *map = NULL;
    size_t nmap = 0;
    int rc = -1;

    if (!m || !(m->path = strdup(path))) {
        sut_error_oom(err, path);
        goto out;
    }
    if (locate(m, &ix, &map, &nmap, err) != 0 || open_shards(m, err) != 0 ||
        list_tensors(m, err) != 0)
        goto out;
    if (m->index_name && (check_index(m, map, nmap, flags, err) != 0 ||
                          check_unreferenced(m, err) != 0 || check_total(m, err) != 0))
        goto out;
    if (choose_arch(m, arches, err) != 0 || classify(m, err) != 0 ||
        need_layers(m, flags, err) != 0 || add_unlisted(m, err) != 0)
        goto out;
    rc = 0;
out:
    free(map);
    index_read_free(&ix);
    if (rc != 0) {
        model_free(m);
        return NULL;
    }
    return m;
}

const char *model_path(const model *m) { return m->path; }
const char *model_dir(const model *m) { return m->dir; }
const cJSON *model_config(const model *m) { return m->config; }
const arch_family *model_arch(const model *m) { return m->arch; }
bool model_tied(const model *m) { return arch_tied(m->arch, m->config); }
size_t model_shard_count(const model *m) { return m->nshards; }
const st_file *model_shard(const model *m, size_t i) { return m->shards[i]; }
const char *model_shard_name(const model *m, size_t i) { return m->shard_names[i]; }
const char *model_index_name(const model *m) { return m->index_name; }
uint64_t model_index_total_size(const model *m) { return m->index_total; }
size_t model_tensor_count(const model *m) { return m->ntensors; }
const model_tensor *model_tensor_at(const model *m, size_t i) { return &m->tensors[i]; }
unsigned model_layer_count(const model *m) { return m->nlayers; }
size_t model_issue_count(const model *m) { return m->nissues; }
const model_issue *model_issue_at(const model *m, size_t i) { return &m->issues[i]; }

static int cmp_find(const void *key, const void *elem, void *ctx)
{
    const model_tensor *t = ctx;

    return strcmp(key, t[*(const size_t *)elem].t->name);
}

const model_tensor *model_find(const model *m, const char *name)
{
    size_t lo = 0, hi = m->ntensors;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_find(name, &m->by_name[mid], m->tensors);
        if (c == 0)
            return &m->tensors[m->by_name[mid]];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const size_t *model_layer_tensors(const model *m, unsigned i, size_t *n)
{
    if (i >= m->nlayers) {
        *n = 0;
        return NULL;
    }
    *n = m->layer_start[i + 1] - m->layer_start[i];
    return m->layer_list + m->layer_start[i];
}

uint64_t model_parameter_count(const model *m)
{
    uint64_t sum = 0;
    size_t i;

    for (i = 0; i < m->ntensors; i++)
        sum += m->tensors[i].t->elements;
    return sum;
}

uint64_t model_data_bytes(const model *m)
{
    uint64_t sum = 0;
    size_t i;

    for (i = 0; i < m->ntensors; i++)
        sum += st_tensor_bytes(m->tensors[i].t);
    return sum;
}

const model_tensor *model_find_role(const model *m, bool output)
{
    const arch_family *f = model_arch(m);
    size_t i;

    for (i = 0; i < model_tensor_count(m); i++) {
        const char *name = model_tensor_at(m, i)->t->name;
        if (output ? arch_is_output(f, name) : arch_is_embed(f, name))
            return model_tensor_at(m, i);
    }
    return NULL;
}
