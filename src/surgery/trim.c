/* trim.c: removes the redundant lm_head of a tied model (see trim.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suture/trim.h"
#include "suture/build.h"
#include "suture/model.h"
#include "suture/safetensors.h"
#include "suture/staging.h"
#include "suture/work.h"
#include "suture/xfer.h"
#include "common/checked.h"
#include "common/util.h"
#include "layout.h"

#define INDEX_NAME "model.safetensors.index.json"
#define JSON_MAX (100u << 20)
#define LINK_MIN (1 << 20)

struct trim {
    model *m;
    const model_tensor *head, *emb;
    bool drop;               /* the head's shard holds nothing else */
    int lock;                /* the folder's lock (in place), or -1 */
    sut_progress_fn progress;
    void *progress_ctx;
    xfer_stats *stats;       /* bytes shared with the input, and written */
};

/* ---- deciding ---- */

/* The issues of an in-place trim cut short between its renames: the head
 * left in its shard but gone from the index, and total_size. */
static bool resumable(const model *m, const char *head)
{
    char needle[300];
    size_t i;

    snprintf(needle, sizeof(needle), "tensor '%s' is in '", head);
    for (i = 0; i < model_issue_count(m); i++) {
        const model_issue *is = model_issue_at(m, i);
        if (strcmp(is->code, "total-size-mismatch") != 0 &&
            !(strcmp(is->code, "index-mismatch") == 0 && strstr(is->message, needle)))
            return false;
    }
    return true;
}

static int open_model(struct trim *t, const char *path, arch_table *arches,
                      bool in_place, sut_error *err)
{
    struct stat st;
    const arch_family *f;

    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        sut_error_set(err, "%s: not a model folder", path);
        return -1;
    }
    if (in_place && (t->lock = stage_lock_dir(path, "trimming", err)) < 0)
        return -1;
    if (!(t->m = model_open(path, arches, MODEL_LENIENT, err)))
        return -1;
    f = model_arch(t->m);
    if (!model_config(t->m) || f->inferred) {
        sut_error_set(err, "%s: %s: cannot tell whether the head is tied", path,
                      model_config(t->m) ? "config.json names no known architecture"
                                         : "no config.json");
        return -1;
    }
    t->head = model_find_role(t->m, true);
    t->emb = model_find_role(t->m, false);
    if (model_issue_count(t->m) > 0 && (!t->head || !resumable(t->m, t->head->t->name))) {
        sut_error_set(err, "%s (see suture audit)", model_issue_at(t->m, 0)->message);
        return -1;
    }
    return 0;
}

static int hash_tensor(const model *m, const model_tensor *t, xfer_hash *h,
                       sut_error *err)
{
    const st_file *f = model_shard(m, t->shard);
    int fd = open(st_path(f), O_RDONLY | O_CLOEXEC);
    int rc;

    if (fd < 0) {
        sut_error_set(err, "%s: cannot open: %s", st_path(f), strerror(errno));
        return -1;
    }
    rc = xfer_hash_range(fd, st_data_start(f) + t->t->begin, st_tensor_bytes(t->t), h, err);
    close(fd);
    if (rc != 0)
        sut_error_prefix(err, "%s: tensor '%s'", model_shard_name(m, t->shard), t->t->name);
    return rc;
}

static int same_as_embeddings(const struct trim *t, bool *same, sut_error *err)
{
    const st_tensor *a = t->head->t, *b = t->emb->t;
    xfer_hash x, y;

    *same = false;
    if (a->dtype != b->dtype || a->ndim != b->ndim ||
        (a->ndim && memcmp(a->shape, b->shape, a->ndim * sizeof(uint64_t)) != 0))
        return 0;
    if (hash_tensor(t->m, t->head, &x, err) != 0 || hash_tensor(t->m, t->emb, &y, err) != 0)
        return -1;
    *same = x.lo == y.lo && x.hi == y.hi;
    return 0;
}

/* 1: trim; 0: nothing to trim (res->reason set); -1: refused. */
static int decide(struct trim *t, const trim_options *opt, trim_result *res,
                  sut_error *err)
{
    const char *path = model_path(t->m);

    if (!t->head) {
        snprintf(res->reason, sizeof(res->reason), "%s: no '%s' is stored", path,
                 model_arch(t->m)->head_name);
        return 0;
    }
    if (!model_tied(t->m)) {
        snprintf(res->reason, sizeof(res->reason), "%s: config.json does not tie '%s' "
                 "to the embeddings: loaders use it", path, t->head->t->name);
        return 0;
    }
    if (!t->emb) {
        sut_error_set(err, "%s: the model ties its head to embeddings it does not store", path);
        return -1;
    }
    if (same_as_embeddings(t, &res->identical, err) != 0)
        return -1;
    if (!res->identical && !opt->force) {
        sut_error_set(err, "%s: '%s' differs from '%s' (tied-head-conflict): loaders use "
                      "the embeddings; --force drops the head anyway", path,
                      t->head->t->name, t->emb->t->name);
        return -1;
    }
    t->drop = model_index_name(t->m) && st_count(model_shard(t->m, t->head->shard)) == 1;
    res->parameters = t->head->t->elements;
    res->bytes = st_tensor_bytes(t->head->t);
    snprintf(res->tensor, sizeof(res->tensor), "%s", t->head->t->name);
    snprintf(res->shard, sizeof(res->shard), "%s", model_shard_name(t->m, t->head->shard));
    res->shard_dropped = t->drop;
    return 1;
}

/* ---- the new shard ---- */

static int cmp_begin(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;

    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* "suture.sources" without the head's entry (a new string), or NULL to
 * keep the value as it is. */
static char *sources_without(const char *value, const char *head)
{
    cJSON *root = sut_json_parse(value, strlen(value), "suture.sources", NULL);
    char *text = NULL;

    if (cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, head)) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, head);
        text = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(root);
    return text;
}

static int copy_meta(st_writer *w, const st_file *f, const char *head, sut_error *err)
{
    size_t i;

    for (i = 0; i < st_meta_count(f); i++) {
        const char *key = st_meta_key(f, i);
        char *fixed;
        int rc;
        if (strcmp(key, "format") == 0)
            continue;
        fixed = strcmp(key, "suture.sources") == 0
                ? sources_without(st_meta_value(f, i), head) : NULL;
        rc = st_writer_meta(w, key, fixed ? fixed : st_meta_value(f, i), err);
        free(fixed);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Copies the tensors' data in runs of adjacent ranges. */
static int copy_data(const struct trim *t, st_writer *w, const st_file *f,
                     const st_tensor **ts, size_t n, sut_error *err)
{
    int fd = open(st_path(f), O_RDONLY | O_CLOEXEC);
    work_meter meter;
    uint64_t total = 0;
    size_t i = 0, j;
    int rc;

    if (fd < 0) {
        sut_error_set(err, "%s: cannot open: %s", st_path(f), strerror(errno));
        return -1;
    }
    for (j = 0; j < n; j++)
        total += ts[j]->end - ts[j]->begin;
    rc = work_meter_init(&meter, total, t->progress, t->progress_ctx, err);
    while (rc == 0 && i < n) {
        for (j = i; j + 1 < n && ts[j + 1]->begin == ts[j]->end; j++)
            ;
        rc = build_copy_range(w, fd, st_data_start(f) + ts[i]->begin,
                              ts[j]->end - ts[i]->begin, &meter, err);
        i = j + 1;
    }
    work_meter_destroy(&meter);
    close(fd);
    return rc;
}

/* Puts the kept tensors ts (sorted by offset) in the order that lets the
 * new shard share the old one's blocks, and pads the header to match.
 * 0, or -1 when out of memory. */
static int lay_out(st_writer *w, const st_file *f, const st_tensor **ts, size_t n)
{
    layout_item *items = calloc(n + 1, sizeof(*items));
    const st_tensor **sorted = calloc(n + 1, sizeof(*sorted));
    size_t *order = calloc(n + 1, sizeof(*order)), i;
    layout_result res;
    int rc = -1;

    if (!items || !sorted || !order)
        goto out;
    for (i = 0; i < n; i++) {
        items[i].key = 0;
        items[i].off = st_data_start(f) + ts[i]->begin;
        items[i].bytes = ts[i]->end - ts[i]->begin;
    }
    if (layout_order(items, n, order, &res) != 0)
        goto out;
    for (i = 0; i < n; i++)
        sorted[i] = ts[order[i]];
    memcpy(ts, sorted, n * sizeof(*ts));
    if (res.aligned)
        st_writer_align(w, res.phase, XFER_BLOCK);
    rc = 0;
out:
    free(items);
    free(sorted);
    free(order);
    return rc;
}

static void add_writer_stats(const struct trim *t, const st_writer *w)
{
    uint64_t shared, copied;

    st_writer_stats(w, &shared, &copied);
    t->stats->shared += shared;
    t->stats->copied += copied;
}

/* Writes the head's shard without the head to dst. */
static int write_shard(const struct trim *t, const char *dst, sut_error *err)
{
    const st_file *f = model_shard(t->m, t->head->shard);
    size_t i, n = 0, count = st_count(f);
    const st_tensor **ts = malloc((count ? count : 1) * sizeof(*ts));
    st_writer *w = NULL;
    int rc = -1;

    if (!ts) {
        sut_error_oom(err, dst);
        goto out;
    }
    for (i = 0; i < count; i++)
        if (st_at(f, i) != t->head->t)
            ts[n++] = st_at(f, i);
    qsort(ts, n, sizeof(*ts), cmp_begin);
    if (!(w = st_writer_create(dst, err)) || copy_meta(w, f, t->head->t->name, err) != 0)
        goto out;
    if (lay_out(w, f, ts, n) != 0) {
        sut_error_oom(err, dst);
        goto out;
    }
    for (i = 0; i < n; i++)
        if (st_writer_add(w, ts[i]->name, ts[i]->dtype, ts[i]->ndim, ts[i]->shape, err) != 0)
            goto out;
    if (st_writer_begin(w, err) != 0 || copy_data(t, w, f, ts, n, err) != 0 ||
        st_writer_finish(w, err) != 0)
        goto out;
    add_writer_stats(t, w);
    rc = 0;
out:
    if (rc != 0)
        sut_error_prefix(err, "%s", model_shard_name(t->m, t->head->shard));
    st_writer_free(w);
    free(ts);
    return rc;
}

/* ---- the new index ---- */

/* cJSON's tabs as the two-space indent Hugging Face writes: a raw tab in
 * cJSON's output is always layout (tabs in strings are escaped). */
static char *hf_layout(const char *text)
{
    size_t i, o = 0, len = strlen(text);
    char *out = malloc(2 * len + 2);
    bool line_start = true;

    if (!out)
        return NULL;
    for (i = 0; i < len; i++) {
        if (text[i] == '\t') {
            memcpy(out + o, line_start ? "  " : " ", line_start ? 2 : 1);
            o += line_start ? 2 : 1;
            continue;
        }
        line_start = text[i] == '\n';
        out[o++] = text[i];
    }
    out[o++] = '\n';
    out[o] = '\0';
    return out;
}

static int set_total(cJSON *root, uint64_t total)
{
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    cJSON *num = cJSON_CreateNumber((double)total);

    if (!num)
        return -1;
    if (!cJSON_IsObject(meta)) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "metadata");
        if (!(meta = cJSON_AddObjectToObject(root, "metadata"))) {
            cJSON_Delete(num);
            return -1;
        }
    }
    if (cJSON_GetObjectItemCaseSensitive(meta, "total_size"))
        return cJSON_ReplaceItemInObjectCaseSensitive(meta, "total_size", num) ? 0 : -1;
    return cJSON_AddItemToObject(meta, "total_size", num) ? 0 : -1;
}

/* Writes the index without the head, with the right total_size, to dst. */
static int write_index(const struct trim *t, const char *dst, sut_error *err)
{
    char *src = sut_path_join(model_dir(t->m), INDEX_NAME);
    cJSON *root = src ? sut_json_read_file(src, JSON_MAX, err) : NULL;
    char *text = NULL, *out = NULL;
    uint64_t total = model_data_bytes(t->m) - st_tensor_bytes(t->head->t);
    int rc = -1;

    if (!root)
        goto out;
    cJSON_DeleteItemFromObjectCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "weight_map"), t->head->t->name);
    if (set_total(root, total) != 0 || !(text = cJSON_Print(root)) || !(out = hf_layout(text))) {
        sut_error_oom(err, INDEX_NAME);
        goto out;
    }
    rc = sut_write_file(dst, out, strlen(out), err);
out:
    if (!src)
        sut_error_oom(err, INDEX_NAME);
    cJSON_Delete(root);
    free(text);
    free(out);
    free(src);
    return rc;
}

/* ---- in place ---- */

static int rename_in(const char *from, const char *to, sut_error *err)
{
    if (rename(from, to) == 0)
        return 0;
    sut_error_set(err, "%s: cannot rename into place: %s", to, strerror(errno));
    return -1;
}

static int commit_in_place(const struct trim *t, const char *tmp_shard,
                           const char *tmp_index, sut_error *err)
{
    const char *dir = model_dir(t->m);
    char *shard = sut_path_join(dir, model_shard_name(t->m, t->head->shard));
    char *index = sut_path_join(dir, INDEX_NAME);
    int rc = -1;

    if (!shard || !index) {
        sut_error_oom(err, dir);
        goto out;
    }
    if (tmp_index && (rename_in(tmp_index, index, err) != 0 || sut_fsync_dir(dir, err) != 0))
        goto out;
    if (t->drop ? unlink(shard) != 0 : rename_in(tmp_shard, shard, err) != 0) {
        if (t->drop)
            sut_error_set(err, "%s: cannot remove: %s", shard, strerror(errno));
        goto out;
    }
    rc = sut_fsync_dir(dir, err);
out:
    free(shard);
    free(index);
    return rc;
}

static int trim_in_place(const struct trim *t, trim_result *res, sut_error *err)
{
    const char *dir = model_dir(t->m);
    char *tmp_shard = stage_tmp_name(dir, model_shard_name(t->m, t->head->shard));
    char *tmp_index = model_index_name(t->m) ? stage_tmp_name(dir, INDEX_NAME) : NULL;
    int rc = -1;

    res->stale = stage_clean_dir(dir);
    if (!tmp_shard || (model_index_name(t->m) && !tmp_index)) {
        sut_error_oom(err, dir);
        goto out;
    }
    if ((!t->drop && write_shard(t, tmp_shard, err) != 0) ||
        (tmp_index && write_index(t, tmp_index, err) != 0))
        goto out;
    rc = commit_in_place(t, tmp_shard, tmp_index, err);
out:
    if (rc != 0) {
        if (tmp_shard)
            unlink(tmp_shard);
        if (tmp_index)
            unlink(tmp_index);
    }
    free(tmp_shard);
    free(tmp_index);
    return rc;
}

/* ---- to a new folder ---- */

/* A clone sharing src's blocks (a file of its own) where the file system
 * can, fsynced. 1 done, 0 cannot (nothing left at dst), -1 failed. */
static int clone_file(const char *src, const char *dst, mode_t mode, sut_error *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;

    if (in < 0)
        return 0;
    if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0777)) < 0) {
        sut_error_set(err, "%s: cannot create: %s", dst, strerror(errno));
        rc = -1;
    } else if (xfer_clone_file(in, out) == 0) {
        rc = 1;
        if (fsync(out) != 0) {
            sut_error_set(err, "%s: fsync failed: %s", dst, strerror(errno));
            rc = -1;
        }
    }
    close(in);
    if (out >= 0 && close(out) != 0 && rc == 1) {
        sut_error_set(err, "%s: write failed: %s", dst, strerror(errno));
        rc = -1;
    }
    if (out >= 0 && rc != 1)
        unlink(dst);
    return rc;
}

/* A clone where the file system can; else a hard link (through a symlink
 * to its target) for a file of LINK_MIN bytes or more (weights nobody
 * edits in place), else a copy. */
static int link_or_copy(const struct trim *t, const char *src, const char *dst,
                        const struct stat *st, sut_error *err)
{
    int done = clone_file(src, dst, st->st_mode, err);

    if (done != 0) {
        if (done > 0)
            t->stats->shared += (uint64_t)st->st_size;
        return done > 0 ? 0 : -1;
    }
    if (st->st_size >= LINK_MIN &&
        linkat(AT_FDCWD, src, AT_FDCWD, dst, AT_SYMLINK_FOLLOW) == 0) {
        t->stats->shared += (uint64_t)st->st_size;
        return 0;
    }
    t->stats->copied += (uint64_t)st->st_size;
    return stage_copy_file(src, dst, st->st_mode, err);
}

static int copy_tree(const char *src, const char *dst, const struct trim *t,
                     bool top, sut_error *err);

/* Copies one folder entry, unless trim writes it or it is a leftover. */
static int copy_entry(const char *src, const char *dst, const char *name,
                      const struct trim *t, bool top, sut_error *err)
{
    char *from = sut_path_join(src, name), *to = sut_path_join(dst, name);
    struct stat st;
    int rc = -1;

    if (!from || !to) {
        sut_error_oom(err, src);
        goto out;
    }
    if (stat(from, &st) != 0) {
        sut_error_set(err, "%s: cannot read: %s", from, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        if (mkdir(to, st.st_mode & 0777) != 0) {
            sut_error_set(err, "%s: cannot create: %s", to, strerror(errno));
            goto out;
        }
        rc = copy_tree(from, to, t, false, err);
    } else {
        rc = S_ISREG(st.st_mode) ? link_or_copy(t, from, to, &st, err) : 0;
    }
out:
    free(from);
    free(to);
    return rc;
}

static bool written_by_trim(const struct trim *t, const char *name)
{
    return strcmp(name, model_shard_name(t->m, t->head->shard)) == 0 ||
           (model_index_name(t->m) && strcmp(name, INDEX_NAME) == 0);
}

static int copy_tree(const char *src, const char *dst, const struct trim *t,
                     bool top, sut_error *err)
{
    DIR *d = opendir(src);
    struct dirent *e;
    int rc = 0;

    if (!d) {
        sut_error_set(err, "%s: cannot open folder: %s", src, strerror(errno));
        return -1;
    }
    while (rc == 0 && (e = readdir(d))) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
            stage_is_ours(name) || (top && written_by_trim(t, name)))
            continue;
        rc = copy_entry(src, dst, name, t, top, err);
    }
    closedir(d);
    return rc == 0 ? sut_fsync_dir(dst, err) : -1;
}

/* OUT's staging, refusing an existing OUT or one inside the input. */
static staging *check_out(const char *out, const char *in, sut_error *err)
{
    stage_input input = {"in", in};
    staging *st = stage_new(out, err);

    if (!st)
        return NULL;
    if (stage_exists(st)) {
        sut_error_set(err, "%s: already exists; trim never replaces a folder", out);
    } else if (stage_check_inputs(st, &input, 1, err) != 0) {
        sut_error_set(err, "%s: inside the input folder %s", out, in);
    } else {
        return st;
    }
    stage_free(st);
    return NULL;
}

static int fill_staging(const struct trim *t, const char *dir, sut_error *err)
{
    char *shard = sut_path_join(dir, model_shard_name(t->m, t->head->shard));
    char *index = sut_path_join(dir, INDEX_NAME);
    int rc = -1;

    if (!shard || !index)
        sut_error_oom(err, dir);
    else if (copy_tree(model_dir(t->m), dir, t, true, err) == 0 &&
             (t->drop || write_shard(t, shard, err) == 0) &&
             (!model_index_name(t->m) || write_index(t, index, err) == 0))
        rc = sut_fsync_dir(dir, err);
    free(shard);
    free(index);
    return rc;
}

/* Writes the trimmed model through the staging st (from check_out). */
static int trim_to(const struct trim *t, staging *st, trim_result *res, sut_error *err)
{
    if (stage_begin(st, "trimming into", err) != 0)
        return -1;
    res->stale = (unsigned)stage_stale_count(st);
    if (fill_staging(t, stage_dir(st), err) != 0)
        return -1;
    return stage_commit(st, false, NULL, err);
}

int trim_run(const char *path, arch_table *arches, const trim_options *opt,
             trim_result *res, sut_error *err)
{
    static const trim_options defaults;
    struct trim t = {.lock = -1};
    staging *st = NULL;
    xfer_stats stats = {0, 0};
    int rc = -1, what;

    memset(res, 0, sizeof(*res));
    if (!opt)
        opt = &defaults;
    t.progress = opt->progress;
    t.progress_ctx = opt->progress_ctx;
    t.stats = &stats;
    if (open_model(&t, path, arches, !opt->out, err) != 0 ||
        (opt->out && !(st = check_out(opt->out, path, err))))
        goto out;
    what = decide(&t, opt, res, err);
    if (what <= 0) {
        rc = what;
        goto out;
    }
    rc = opt->out ? trim_to(&t, st, res, err) : trim_in_place(&t, res, err);
    res->trimmed = rc == 0;
    res->bytes_shared = stats.shared;
    res->bytes_copied = stats.copied;
out:
    stage_free(st);
    model_free(t.m);
    stage_unlock_dir(t.lock);
    return rc;
}
