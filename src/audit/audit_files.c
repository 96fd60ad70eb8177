/* audit_files.c: the folder's files, checked when the model cannot be
 * opened, and the model's own lenient-mode issues as findings. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "suture/audit.h"
#include "suture/model.h"
#include "suture/safetensors.h"
#include "audit_int.h"
#include "common/util.h"
#include "common/checked.h"
#include "common/jscan.h"

#define INDEX_NAME "model.safetensors.index.json"

/* Opens one shard by the reader's rules; adds a finding when it is missing
 * or invalid. Returns the number of error findings added (0 or 1). */
static int check_shard(audit_report *r, const char *dir, const char *name)
{
    struct stat st;
    sut_error err;
    st_file *f;
    char *p = sut_path_join(dir, name);
    int found = 0;

    if (!p) {
        r->oom = true;
        return 1;
    }
    if (stat(p, &st) != 0) {
        audit_add(r, "missing-shard", AUDIT_ERROR, name,
                  "%s: shard named by the index: %s", name, strerror(errno));
        found = 1;
    } else if (!(f = st_open(p, &err))) {
        audit_add(r, "invalid-shard", AUDIT_ERROR, name, "%s", err.msg);
        found = 1;
    } else {
        st_free(f);
    }
    free(p);
    return found;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The index is walked without a JSON tree (it may be 100 MB): once for
 * its syntax, then for its top level, then through its weight_map. */

/* Puts js at the value of key in the top-level object. 1 found, else 0
 * (the text's syntax was checked before). */
static int find_top(jscan *js, const char *key)
{
    int first = 1;

    js->pos = 0;
    js->depth = 0;
    if (js_peek(js) != JS_OBJECT || js_open(js) != 0)
        return 0;
    while (js_next_key(js, &first) == 1) {
        if (strcmp(js->str, key) == 0)
            return 1;
        if (js_skip(js) != 0)
            return 0;
    }
    return 0;
}

/* metadata.total_size is absent or a whole number in [0, 2^53]. */
static bool total_ok(jscan *js)
{
    int first = 1;
    double d;

    if (js_open(js) != 0)
        return false;
    while (js_next_key(js, &first) == 1) {
        if (strcmp(js->str, "total_size") != 0) {
            js_skip(js);
            continue;
        }
        if (js_peek(js) != JS_NUMBER || js_number(js) != 0)
            return false;
        d = js->num;
        return d >= 0 && d <= (double)SUT_JSON_INT_MAX && d == (double)(uint64_t)d;
    }
    return true;
}

/* Checks one weight_map entry (its tensor name in key, js at its value):
 * the file name it gives in *shard (a new string), or NULL with a
 * finding. */
static char *check_entry(audit_report *r, jscan *js, const char *key)
{
    char *shard;

    if (js_peek(js) != JS_STRING) {
        js_skip(js);
        audit_add(r, "index-mismatch", AUDIT_ERROR, key,
                  "%s: weight_map: tensor '%s': not a file name string", INDEX_NAME, key);
        return NULL;
    }
    if (js_string(js) != 0)
        return NULL;
    if (!sut_plain_name(js->str)) {
        audit_add(r, "index-mismatch", AUDIT_ERROR, js->str,
                  "%s: weight_map: tensor '%s': shard '%s' leaves the folder",
                  INDEX_NAME, key, js->str);
        return NULL;
    }
    if (!(shard = strdup(js->str)))
        r->oom = true;
    return shard;
}

/* Keeps name in *names unless it is the last one kept. */
static void keep_name(audit_report *r, char ***names, size_t *n, size_t *cap,
                      char *name)
{
    if (*n && strcmp((*names)[*n - 1], name) == 0) {
        free(name);
        return;
    }
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        char **grown = realloc(*names, c * sizeof(*grown));
        if (!grown) {
            free(name);
            r->oom = true;
            return;
        }
        *names = grown;
        *cap = c;
    }
    (*names)[(*n)++] = name;
}

/* Checks the index's entries, then each distinct shard it names. */
static int check_weight_map(audit_report *r, const char *dir, jscan *js)
{
    char **names = NULL, *key = NULL, *shard;
    size_t n = 0, cap = 0, i;
    int first = 1, found = 0;

    find_top(js, "weight_map");
    if (js_open(js) != 0)
        return 1;
    while (js_next_key(js, &first) == 1) {
        free(key);
        if (!(key = strdup(js->str))) {
            r->oom = true;
            break;
        }
        if ((shard = check_entry(r, js, key)))
            keep_name(r, &names, &n, &cap, shard);
        else
            found++;
    }
    free(key);
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_str);
    for (i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i - 1], names[i]) != 0)
            found += check_shard(r, dir, names[i]);
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return found;
}

static int check_index(audit_report *r, const char *dir)
{
    sut_error err;
    char *p = sut_path_join(dir, INDEX_NAME), *text = NULL;
    size_t len;
    jscan js;
    js_kind meta = JS_NULL;
    int found = 1, wm;

    js_init(&js, "", 0, INDEX_NAME, &err);
    if (!p || !(text = sut_read_file(p, MODEL_INDEX_MAX, &len, &err))) {
        audit_add(r, "invalid-index", AUDIT_ERROR, INDEX_NAME, "%s",
                  p ? err.msg : "out of memory");
        goto out;
    }
    js_init(&js, text, len, p, &err);
    if (js_skip(&js) != 0 || js_finish(&js) != 0) {
        audit_add(r, "invalid-index", AUDIT_ERROR, INDEX_NAME, "%s", err.msg);
        goto out;
    }
    wm = find_top(&js, "weight_map") && js_peek(&js) == JS_OBJECT;
    if (find_top(&js, "metadata"))
        meta = js_peek(&js);
    if (!wm)
        audit_add(r, "invalid-index", AUDIT_ERROR, INDEX_NAME,
                  "%s: weight_map: missing or not an object", INDEX_NAME);
    else if (meta != JS_OBJECT && meta != JS_NULL)
        audit_add(r, "invalid-index", AUDIT_ERROR, INDEX_NAME,
                  "%s: metadata: not an object", INDEX_NAME);
    else if (meta == JS_OBJECT && find_top(&js, "metadata") && !total_ok(&js))
        audit_add(r, "invalid-index", AUDIT_ERROR, INDEX_NAME,
                  "%s: metadata.total_size: not a whole number", INDEX_NAME);
    else
        found = check_weight_map(r, dir, &js);
out:
    js_release(&js);
    free(text);
    free(p);
    return found;
}

static int check_config(audit_report *r, const char *dir)
{
    sut_error err;
    char *p;
    cJSON *cfg;
    int found = 0;

    if (!sut_is_file(dir, "config.json"))
        return 0;
    if (!(p = sut_path_join(dir, "config.json"))) {
        r->oom = true;
        return 1;
    }
    cfg = sut_json_read_file(p, MODEL_CONFIG_MAX, &err);
    if (!cfg || !cJSON_IsObject(cfg)) {
        audit_add(r, "invalid-config", AUDIT_ERROR, "config.json", "%s",
                  cfg ? "config.json: not a JSON object" : err.msg);
        found = 1;
    }
    cJSON_Delete(cfg);
    free(p);
    return found;
}

/* The .safetensors files of a folder without index or model.safetensors:
 * one is checked; none is no checkpoint (-1); several is a finding. */
static int check_lone(audit_report *r, const char *dir, sut_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char *first = NULL;
    int n = 0, found = 0;

    if (!d) {
        sut_error_set(err, "%s: cannot open folder: %s", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)))
        if (sut_ends_with(e->d_name, ".safetensors") && sut_is_file(dir, e->d_name) &&
            n++ == 0 && !(first = strdup(e->d_name)))
            r->oom = true;
    closedir(d);
    if (n == 0) {
        sut_error_set(err, "%s: no model.safetensors, no %s and no .safetensors file",
                      dir, INDEX_NAME);
        found = -1;
    } else if (n > 1) {
        audit_add(r, "missing-index", AUDIT_ERROR, NULL,
                  "%s: %d .safetensors files but no %s", dir, n, INDEX_NAME);
        found = 1;
    } else if (first) {
        found = check_shard(r, dir, first);
    }
    free(first);
    return found;
}

int audit_check_files(audit_report *r, const char *path, sut_error *err)
{
    struct stat st;
    int found;

    if (stat(path, &st) != 0) {
        sut_error_set(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode)) {
        sut_error err2;
        st_file *f = st_open(path, &err2);
        if (f) {
            st_free(f);
            return 0;
        }
        audit_add(r, "invalid-shard", AUDIT_ERROR, sut_basename(path), "%s", err2.msg);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        sut_error_set(err, "%s: not a file or folder", path);
        return -1;
    }
    if (sut_is_file(path, INDEX_NAME))
        found = check_index(r, path);
    else if (sut_is_file(path, "model.safetensors"))
        found = check_shard(r, path, "model.safetensors");
    else
        found = check_lone(r, path, err);
    if (found < 0)
        return -1;
    return found + check_config(r, path);
}

static audit_severity issue_severity(const char *code)
{
    if (strcmp(code, "index-mismatch") == 0)
        return AUDIT_ERROR;
    return AUDIT_WARNING;
}

void audit_check_issues(audit_report *r)
{
    struct stat st;
    size_t i;

    r->uncapped = true; /* the model counted its own past 10 */
    for (i = 0; i < model_issue_count(r->m); i++) {
        const model_issue *is = model_issue_at(r->m, i);
        const char *place = strcmp(is->code, "unknown-architecture") == 0
                            ? "config.json" : model_index_name(r->m);
        audit_add(r, is->code, issue_severity(is->code), place, "%s", is->message);
    }
    r->uncapped = false;
    if (!model_config(r->m) && stat(r->path, &st) == 0 && S_ISDIR(st.st_mode))
        audit_add(r, "missing-config", AUDIT_WARNING, "config.json",
                  "%s: no config.json: loaders cannot use the folder", r->path);
}
