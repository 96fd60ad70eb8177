/* arch_json.c: families loaded from JSON (see arch.h, --arch-file). */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pcre2.h>

#include "suture/arch.h"
#include "arch_int.h"
#include "common/util.h"
#include "common/checked.h"

/* ---- loading families from JSON ---- */

static const char *const FIELDS[] = {
    "name", "classes", "layer_pattern", "head_pattern", "embed_name",
    "head_name", "layer_count_key", "layer_arrays", "layer_lists",
    "post_norm_pattern", "tie_default", "sliding_period", "embed_pattern",
    "output_pattern", NULL
};

static bool known_field(const char *key)
{
    size_t i;

    for (i = 0; FIELDS[i]; i++)
        if (strcmp(FIELDS[i], key) == 0)
            return true;
    return false;
}

/* Reads string field key of obj into *out (a copy). Absent or null: *out
 * stays NULL, an error when required. 0, or -1 with err set. */
static int get_string(const cJSON *obj, const char *key, bool required,
                      char **out, sut_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!item || cJSON_IsNull(item)) {
        if (!required)
            return 0;
        sut_error_set(err, "field '%s': missing", key);
        return -1;
    }
    if (!cJSON_IsString(item) || !item->valuestring[0]) {
        sut_error_set(err, "field '%s': not a non-empty string", key);
        return -1;
    }
    if (!(*out = strdup(item->valuestring))) {
        sut_error_oom(err, NULL);
        return -1;
    }
    return 0;
}

/* Reads a list of non-empty strings (absent: empty list). */
static int get_list(const cJSON *obj, const char *key, char ***out,
                    sut_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key), *e;
    size_t n = 0;

    if (item && !cJSON_IsNull(item) && !cJSON_IsArray(item))
        goto bad;
    cJSON_ArrayForEach(e, item) {
        if (!cJSON_IsString(e) || !e->valuestring[0])
            goto bad;
        n++;
    }
    if (!(*out = calloc(n + 1, sizeof(**out))))
        goto oom;
    n = 0;
    cJSON_ArrayForEach(e, item)
        if (!((*out)[n++] = strdup(e->valuestring)))
            goto oom;
    return 0;
bad:
    sut_error_set(err, "field '%s': not a list of non-empty strings", key);
    return -1;
oom:
    sut_error_oom(err, NULL);
    return -1;
}

static int get_scalars(const cJSON *obj, arch_family *f, sut_error *err)
{
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(obj, "tie_default");
    const cJSON *period = cJSON_GetObjectItemCaseSensitive(obj, "sliding_period");
    uint64_t v = 0;

    f->tie_default = true;
    if (tie && !cJSON_IsNull(tie)) {
        if (!cJSON_IsBool(tie)) {
            sut_error_set(err, "field 'tie_default': not true or false");
            return -1;
        }
        f->tie_default = cJSON_IsTrue(tie);
    }
    if (period && !cJSON_IsNull(period) &&
        (sut_json_u64(period, &v) != 0 || v > PERIOD_MAX)) {
        sut_error_set(err, "field 'sliding_period': not a whole number "
                      "from 0 to %u", PERIOD_MAX);
        return -1;
    }
    f->sliding_period = (unsigned)v;
    return 0;
}

static int check_name(const char *name, sut_error *err)
{
    size_t i, n = strlen(name);

    if (n > NAME_MAX_LEN) {
        sut_error_set(err, "field 'name': longer than %d characters", NAME_MAX_LEN);
        return -1;
    }
    for (i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_.-", name[i])) {
            sut_error_set(err, "field 'name': only letters, digits, '_', '.' "
                          "and '-' are allowed");
            return -1;
        }
    if (strcmp(name, "inferred") == 0) {
        sut_error_set(err, "field 'name': 'inferred' is reserved");
        return -1;
    }
    return 0;
}

/* The fields of one family object (its name already read into f). */
static int parse_fields(const cJSON *obj, arch_family *f, sut_error *err)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, obj)
        if (!known_field(item->string)) {
            sut_error_set(err, "unknown field '%s'", item->string);
            return -1;
        }
    if (check_name(f->name, err) ||
        get_list(obj, "classes", &f->classes, err) ||
        get_string(obj, "layer_pattern", true, &f->layer_pattern, err) ||
        get_string(obj, "head_pattern", true, &f->head_pattern, err) ||
        get_string(obj, "embed_name", true, &f->embed_name, err) ||
        get_string(obj, "head_name", true, &f->head_name, err) ||
        get_string(obj, "layer_count_key", false, &f->layer_count_key, err) ||
        get_list(obj, "layer_arrays", &f->layer_arrays, err) ||
        get_list(obj, "layer_lists", &f->layer_lists, err) ||
        get_string(obj, "post_norm_pattern", false, &f->post_norm_pattern, err) ||
        get_string(obj, "embed_pattern", false, &f->embed_pattern, err) ||
        get_string(obj, "output_pattern", false, &f->output_pattern, err) ||
        get_scalars(obj, f, err))
        return -1;
    if (!f->layer_count_key && !(f->layer_count_key = strdup("num_hidden_layers"))) {
        sut_error_oom(err, NULL);
        return -1;
    }
    return arch_family_compile(f, err);
}

/* A new family from entry pos of "families", or NULL with err set
 * ("LABEL: family 'NAME': ..."). */
static arch_family *parse_family(const cJSON *obj, size_t pos,
                                 const char *label, sut_error *err)
{
    arch_family *f = NULL;

    if (!cJSON_IsObject(obj)) {
        sut_error_set(err, "%s: family #%zu: not an object", label, pos + 1);
        return NULL;
    }
    if (!(f = calloc(1, sizeof(*f)))) {
        sut_error_oom(err, label);
        return NULL;
    }
    if (get_string(obj, "name", true, &f->name, err) != 0) {
        sut_error_prefix(err, "%s: family #%zu", label, pos + 1);
        arch_family_free(f);
        return NULL;
    }
    if (parse_fields(obj, f, err) != 0) {
        sut_error_prefix(err, "%s: family '%s'", label, f->name);
        arch_family_free(f);
        return NULL;
    }
    return f;
}

/* Checks the top level: an object whose only key is "families", an array.
 * Returns the array, or NULL with err set. */
static const cJSON *families_of(const cJSON *root, const char *label,
                                sut_error *err)
{
    const cJSON *item;

    if (!cJSON_IsObject(root)) {
        sut_error_set(err, "%s: not a JSON object", label);
        return NULL;
    }
    cJSON_ArrayForEach(item, root)
        if (strcmp(item->string, "families") != 0) {
            sut_error_set(err, "%s: unknown key '%s'", label, item->string);
            return NULL;
        }
    item = cJSON_GetObjectItemCaseSensitive(root, "families");
    if (!cJSON_IsArray(item)) {
        sut_error_set(err, "%s: field 'families': missing or not a list", label);
        return NULL;
    }
    return item;
}

int arch_table_load_json(arch_table *t, const cJSON *root, const char *label,
                         sut_error *err)
{
    const cJSON *fams, *obj;
    arch_family **made = NULL;
    size_t n = 0, i, j;
    int rc = -1;

    label = label ? label : "families";
    if (!t || !(fams = families_of(root, label, err)))
        return -1;
    if (!(made = calloc((size_t)cJSON_GetArraySize(fams) + 1, sizeof(*made))))
        goto oom;
    cJSON_ArrayForEach(obj, fams) {
        if (!(made[n] = parse_family(obj, n, label, err)))
            goto out;
        for (j = 0; j < n; j++)
            if (strcmp(made[j]->name, made[n]->name) == 0) {
                sut_error_set(err, "%s: family '%s': defined twice", label,
                              made[n]->name);
                n++;
                goto out;
            }
        n++;
    }
    if (arch_reserve(t, n) != 0)
        goto oom;
    for (i = 0; i < n; i++)
        arch_commit(t, made[i]);
    n = 0;
    rc = 0;
    goto out;
oom:
    sut_error_oom(err, label);
out:
    for (i = 0; i < n; i++)
        arch_family_free(made[i]);
    free(made);
    return rc;
}

int arch_table_load(arch_table *t, const char *path, sut_error *err)
{
    cJSON *root = sut_json_read_file(path, FAMILY_FILE_MAX, err);
    int rc;

    if (!root)
        return -1;
    rc = arch_table_load_json(t, root, path, err);
    cJSON_Delete(root);
    return rc;
}

