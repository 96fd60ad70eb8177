/* staging.h: writing a folder safely (the one home of staging, locking,
 * removing, fsynced copies and the --force rules of build and trim).
 *
 * An output folder OUT is assembled in a staging folder beside it and
 * renamed into place. Its names, in OUT's parent, start with a prefix P:
 * ".NAME.suture-" (NAME: OUT's last component), or ".suture-HASH." when
 * NAME is too long for that to fit NAME_MAX (HASH: 16 hex digits of NAME):
 *   P "lock"       the lock file, flocked while a run works on OUT;
 *   P "tmp-PID"    the staging folder;
 *   P "old-PID"    an old OUT set aside while it is replaced (only where
 *                  the file system cannot swap two folders in one rename).
 * The kernel releases the lock when the process dies, however it dies: a
 * run that gets the lock knows every other P "tmp-*" / P "old-*" is left by
 * a dead run and removes it; a run that cannot get it refuses. No pid is
 * ever checked (the PID in the names is only for people).
 *
 * In-place work inside a folder (trim --in-place) locks the folder itself
 * (stage_lock_dir) and writes temporary files named by stage_tmp_name. */
#ifndef SUTURE_STAGING_H
#define SUTURE_STAGING_H

#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>

#include "suture/error.h"

typedef struct staging staging;

/* An input folder OUT must keep away from. */
typedef struct stage_input {
    const char *name;   /* for messages: "input model 'NAME'" */
    const char *dir;
} stage_input;

/* Where OUT goes: computes the names (nothing is written). OUT's parent
 * must exist. NULL with err set. Free with stage_free. */
staging *stage_new(const char *out, sut_error *err);

/* Frees s; a staging folder still there (not committed) is removed and the
 * lock released. NULL is a no-op. */
void stage_free(staging *s);

const char *stage_out(const staging *s);     /* parent (real path) / NAME */
const char *stage_parent(const staging *s);  /* OUT's parent, real path */
const char *stage_name(const staging *s);    /* NAME */
const char *stage_dir(const staging *s);     /* the staging folder */
bool stage_exists(const staging *s);         /* OUT existed at stage_new */

/* Refuses (-1, err set) when OUT is an input folder (same device and
 * inode, so bind mounts and symlinks are seen through), lies inside one,
 * holds one, or holds the real file (symlinks followed) of any entry of an
 * input folder. */
int stage_check_inputs(const staging *s, const stage_input *in, size_t n,
                       sut_error *err);

/* For an existing OUT that may be replaced: refuses (-1, err naming what
 * is in the way) unless OUT is a folder whose every entry is a file (not a
 * folder) for which ours(name) is true. */
int stage_check_replaceable(const staging *s, bool (*ours)(const char *name),
                            sut_error *err);

/* Takes OUT's lock (refusing with "another suture process is VERB OUT"
 * when a live run holds it), removes what dead runs left of OUT, and
 * creates the staging folder. 0 or -1 with err set. */
int stage_begin(staging *s, const char *verb, sut_error *err);

/* What stage_begin removed: "PATH, left by a run that no longer exists
 * (pid N)". Owned by s. */
size_t stage_stale_count(const staging *s);
const char *stage_stale(const staging *s, size_t i);

/* fsyncs the staging folder and renames it to OUT: over an existing OUT
 * when replace (swapped in one rename where the file system can, else the
 * old one moved aside first), else never over anything. The old OUT is
 * then removed. 0, or -1 with err set (the staging folder is kept for
 * stage_free). *notes (may be NULL) gets what happened besides: the old OUT
 * replaced, or could not be removed, or the parent not synced; one line
 * each in a new string the caller frees, or NULL. */
int stage_commit(staging *s, bool replace, char **notes, sut_error *err);

/* Locks the folder dir for in-place work ("another suture process is VERB
 * DIR" when a live run holds it). Returns the lock (a descriptor for
 * stage_unlock_dir) or -1 with err set. */
int stage_lock_dir(const char *dir, const char *verb, sut_error *err);
void stage_unlock_dir(int lock);

/* "DIR/.NAME.suture-tmp-PID", or "DIR/.suture-HASH.tmp-PID" when that
 * would not fit NAME_MAX. Caller frees; NULL when out of memory. */
char *stage_tmp_name(const char *dir, const char *name);

/* True for a name stage_tmp_name or stage_new's names could give. */
bool stage_is_ours(const char *name);

/* Removes every entry of dir stage_is_ours recognises (call it holding
 * dir's lock). Returns how many were removed. */
unsigned stage_clean_dir(const char *dir);

/* Removes a file, or a folder and everything in it (symlinks are not
 * followed). A missing path is no error. 0, or -1 with errno set. */
int stage_remove_tree(const char *path);

/* Copies the regular file src (symlinks followed) to a new file dst of the
 * given mode, fsynced. 0, or -1 with err naming the file. */
int stage_copy_file(const char *src, const char *dst, mode_t mode, sut_error *err);

/* Renames from to to, never over something already at to. 0, or -1 with
 * err set. */
int stage_rename_new(const char *from, const char *to, sut_error *err);

#endif
