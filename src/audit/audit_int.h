/* audit_int.h: what the audit's source files share (not public). */
#ifndef SUTURE_AUDIT_INT_H
#define SUTURE_AUDIT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <pthread.h>

#include "suture/audit.h"
#include "suture/progress.h"
#include "suture/work.h"

/* A model opened for provenance with the hashes of all its tensors. */
typedef struct audit_hashed {
    char *name;
    model *m;
    xfer_hash *hashes;       /* model_tensor_count(m) entries */
    uint64_t *layer_keys;    /* model_layer_count(m) entries */
} audit_hashed;

#define AUDIT_LIST_MAX 10
#define AUDIT_CODES 16

struct audit_report {
    char *path;
    model *m;                /* NULL when the folder could not be opened */
    audit_finding *findings;
    size_t nfindings;
    bool oom;                /* a finding could not be recorded */
    uint64_t expected;       /* 0: unknown */
    uint64_t redundant;      /* parameters of a redundant head, or 0 */
    audit_hashed self;       /* the audited model's hashes */
    unsigned **groups;       /* duplicate groups */
    size_t *group_sizes;
    size_t ngroups;
    audit_slice *slices;
    size_t nslices;
    audit_hashed *bases;
    size_t nbases;
    audit_origin *origins;
    size_t norigins;
    audit_seam *seams;
    size_t nseams;
    work_meter meter;        /* the hashing's progress, model and bases */
    struct {
        const char *code;
        audit_severity sev;
        size_t count;
    } unlisted[AUDIT_CODES]; /* findings past AUDIT_LIST_MAX of one code */
    bool uncapped;           /* audit_add keeps every finding */
};

/* Records a finding; place may be NULL. Out of memory sets r->oom. Past
 * AUDIT_LIST_MAX findings of one code (and severity), the rest are only
 * counted; audit_run ends the list with one line saying how many. */
void audit_add(audit_report *r, const char *code, audit_severity sev,
               const char *place, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Ends the findings with one line per code that had findings past
 * AUDIT_LIST_MAX, saying how many; later audit_add calls keep everything. */
void audit_add_unlisted(audit_report *r);

/* Checks the folder's files before the model is opened: the index's
 * shard names and files, each shard by the reader's rules, config.json.
 * Returns the number of error findings added, or -1 with err set when
 * path holds no checkpoint at all. */
int audit_check_files(audit_report *r, const char *path, sut_error *err);

/* Turns the model's lenient-mode issues into findings. */
void audit_check_issues(audit_report *r);

/* Config vs tensors: layer count, layer tensors, per-layer arrays, dtypes,
 * tensors outside the family's places. */
void audit_check_layers(audit_report *r);

/* The parameters the config of m implies (tied head not counted), or 0
 * when the family is not one it knows. */
uint64_t audit_expected_params(const model *m);

/* Hash-based checks: the head of a tied model, the parameter count,
 * duplicate layers, provenance against the bases. 0 or -1 (err set) when
 * a read fails. */
int audit_check_head(audit_report *r);
void audit_check_params(audit_report *r);
int audit_find_duplicates(audit_report *r);
int audit_trace(audit_report *r, arch_table *arches, const audit_options *opt,
                sut_error *err);
/* Opens the bases of opt into r->bases (audit_trace hashes them). 0 or -1
 * (err set). */
int audit_open_bases(audit_report *r, arch_table *arches, const audit_options *opt,
                     sut_error *err);

/* Hashes m's tensors and its layer keys into h (h->m set by the caller),
 * counting the bytes into meter (or NULL). */
int audit_hash_fill(audit_hashed *h, unsigned threads, work_meter *meter,
                    sut_error *err);
void audit_hashed_clear(audit_hashed *h);

/* True when layer a of x and layer b of y hold the same tensors (names
 * within the layer, dtypes, shapes) with byte-identical data. */
bool audit_layers_equal(const audit_hashed *x, unsigned a,
                        const audit_hashed *y, unsigned b);

/* True for a non-persistent buffer a loader ignores (rotary inv_freq). */
bool audit_is_buffer(const char *name);


/* "4-7" or "4" into buf. */
const char *audit_range(unsigned first, unsigned last, char *buf, size_t size);

#endif
