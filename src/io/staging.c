/* staging.c: writing a folder safely (see staging.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suture/staging.h"
#include "suture/xfer.h"
#include "common/util.h"

#define TAG ".suture-"
#define PID_ROOM 24  /* "tmp-" and a pid, with room to spare */

struct staging {
    char *parent, *name, *out;
    char *prefix;      /* P: ".NAME.suture-" or ".suture-HASH." */
    char *lock_path, *dir, *old;
    int lock;          /* -1 when not held */
    bool exists, committed;
    char **stale;
    size_t nstale;
};

static char *fmt_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *fmt_path(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

/* The prefix P of the names derived from name (caller frees). */
static char *name_prefix(const char *name)
{
    uint64_t h = 14695981039346656037ull;  /* FNV-1a */
    const unsigned char *c;

    if (1 + strlen(name) + strlen(TAG) + PID_ROOM <= NAME_MAX)
        return fmt_path(".%s" TAG, name);
    for (c = (const unsigned char *)name; *c; c++)
        h = (h ^ *c) * 1099511628211ull;
    return fmt_path(TAG "%016llx.", (unsigned long long)h);
}

char *stage_tmp_name(const char *dir, const char *name)
{
    char *prefix = name_prefix(name), *p = NULL;

    if (prefix)
        p = fmt_path("%s/%stmp-%ld", dir, prefix, (long)getpid());
    free(prefix);
    return p;
}

/* The pid of "tmp-PID" or "old-PID", or 0. */
static long rest_pid(const char *rest)
{
    char *end;
    long pid;

    if (strncmp(rest, "tmp-", 4) != 0 && strncmp(rest, "old-", 4) != 0)
        return 0;
    if (rest[4] < '0' || rest[4] > '9')
        return 0;
    errno = 0;
    pid = strtol(rest + 4, &end, 10);
    return *end == '\0' && errno == 0 && pid > 0 ? pid : 0;
}

bool stage_is_ours(const char *name)
{
    const char *tag;

    if (name[0] != '.')
        return false;
    for (tag = strstr(name, TAG); tag; tag = strstr(tag + 1, TAG)) {
        const char *rest = tag + strlen(TAG);
        if (tag != name && rest_pid(rest) > 0)
            return true;
        if (tag == name && strlen(rest) > 17 && rest[16] == '.' && rest_pid(rest + 17) > 0)
            return true;
    }
    return false;
}

/* ---- removing and copying ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int stage_remove_tree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

unsigned stage_clean_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    unsigned n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        char *p;
        if (!stage_is_ours(e->d_name) || !(p = sut_path_join(dir, e->d_name)))
            continue;
        if (stage_remove_tree(p) == 0)
            n++;
        free(p);
    }
    closedir(d);
    return n;
}

int stage_copy_file(const char *src, const char *dst, mode_t mode, sut_error *err)
{
    struct stat st;
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NONBLOCK), out = -1, rc = -1;

    if (in < 0) {
        sut_error_set(err, "%s: cannot open: %s", src, strerror(errno));
        return -1;
    }
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        sut_error_set(err, "%s: not a regular file", src);
        goto out;
    }
    if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0777)) < 0) {
        sut_error_set(err, "%s: cannot create: %s", dst, strerror(errno));
        goto out;
    }
    if (xfer_copy(in, 0, out, 0, (uint64_t)st.st_size, err) != 0) {
        sut_error_prefix(err, "%s -> %s", src, sut_basename(dst));
        goto out;
    }
    if (fsync(out) != 0) {
        sut_error_set(err, "%s: fsync failed: %s", dst, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (out >= 0 && close(out) != 0 && rc == 0) {
        sut_error_set(err, "%s: close failed: %s", dst, strerror(errno));
        rc = -1;
    }
    close(in);
    return rc;
}

int stage_rename_new(const char *from, const char *to, sut_error *err)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EINVAL || errno == ENOSYS) {
        if (access(to, F_OK) == 0) {
            sut_error_set(err, "%s: appeared meanwhile; left as it is", to);
            return -1;
        }
        if (rename(from, to) == 0)
            return 0;
    }
    sut_error_set(err, "%s: cannot rename into place: %s", to, strerror(errno));
    return -1;
}

/* ---- where OUT goes ---- */

staging *stage_new(const char *out, sut_error *err)
{
    staging *s = calloc(1, sizeof(*s));
    char *copy = strdup(out), *slash;
    const char *parent;
    struct stat st;
    size_t len;

    if (!s || !copy)
        goto oom;
    s->lock = -1;
    len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = '\0';
    slash = strrchr(copy, '/');
    if (!(s->name = strdup(slash ? slash + 1 : copy)))
        goto oom;
    parent = slash ? (slash == copy ? "/" : (*slash = '\0', copy)) : ".";
    if (!(s->parent = realpath(parent, NULL))) {
        sut_error_set(err, "%s: parent folder '%s': %s", out, parent, strerror(errno));
        goto fail;
    }
    if (!*s->name || strcmp(s->name, ".") == 0 || strcmp(s->name, "..") == 0 ||
        strcmp(s->name, "/") == 0) {
        sut_error_set(err, "%s: not a usable output folder name", out);
        goto fail;
    }
    s->out = sut_path_join(s->parent, s->name);
    s->prefix = name_prefix(s->name);
    if (!s->out || !s->prefix ||
        !(s->lock_path = fmt_path("%s/%slock", s->parent, s->prefix)) ||
        !(s->dir = fmt_path("%s/%stmp-%ld", s->parent, s->prefix, (long)getpid())) ||
        !(s->old = fmt_path("%s/%sold-%ld", s->parent, s->prefix, (long)getpid())))
        goto oom;
    s->exists = lstat(s->out, &st) == 0;
    free(copy);
    return s;
oom:
    sut_error_oom(err, out);
fail:
    free(copy);
    stage_free(s);
    return NULL;
}

static void unlock(staging *s)
{
    if (s->lock < 0)
        return;
    unlink(s->lock_path);
    close(s->lock);
    s->lock = -1;
}

void stage_free(staging *s)
{
    size_t i;

    if (!s)
        return;
    if (s->lock >= 0 && !s->committed)
        stage_remove_tree(s->dir);
    unlock(s);
    for (i = 0; i < s->nstale; i++)
        free(s->stale[i]);
    free(s->stale);
    free(s->parent);
    free(s->name);
    free(s->out);
    free(s->prefix);
    free(s->lock_path);
    free(s->dir);
    free(s->old);
    free(s);
}

const char *stage_out(const staging *s) { return s->out; }
const char *stage_parent(const staging *s) { return s->parent; }
const char *stage_name(const staging *s) { return s->name; }
const char *stage_dir(const staging *s) { return s->dir; }
bool stage_exists(const staging *s) { return s->exists; }
size_t stage_stale_count(const staging *s) { return s->nstale; }
const char *stage_stale(const staging *s, size_t i) { return s->stale[i]; }

/* ---- the inputs ---- */

struct node {
    dev_t dev;
    ino_t ino;
};

static bool same(const struct stat *st, struct node n)
{
    return st->st_dev == n.dev && st->st_ino == n.ino;
}

/* True when path (a real path) or one of its ancestors is the folder n.
 * *hit gets which (caller frees), when hit is not NULL. */
static bool under(const char *path, struct node n, char **hit)
{
    char *p = strdup(path), *slash;
    struct stat st;
    bool found = false;

    while (p && !found) {
        if (stat(p, &st) == 0 && same(&st, n)) {
            found = true;
            break;
        }
        slash = strrchr(p, '/');
        if (!slash || (slash == p && !p[1]))
            break;
        slash[slash == p ? 1 : 0] = '\0';
    }
    if (found && hit)
        *hit = p;
    else
        free(p);
    return found;
}

/* Refuses when an entry of the input folder in is, through its links, a
 * file inside OUT. */
static int check_entries(const staging *s, struct node out, const stage_input *in,
                         sut_error *err)
{
    DIR *d = opendir(in->dir);
    struct dirent *e;
    int rc = 0;

    if (!d)
        return 0;
    while (rc == 0 && (e = readdir(d))) {
        char *path, *real;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        path = sut_path_join(in->dir, e->d_name);
        real = path ? realpath(path, NULL) : NULL;
        if (real && under(real, out, NULL)) {
            sut_error_set(err, "%s: holds %s of input model '%s' (%s is %s)", s->out,
                          e->d_name, in->name, path, real);
            rc = -1;
        }
        free(real);
        free(path);
    }
    closedir(d);
    return rc;
}

static int check_input(const staging *s, const stage_input *in, sut_error *err)
{
    char *real = realpath(in->dir, NULL), *hit = NULL;
    struct stat st, ost;
    struct node node, out;
    int rc = 0;

    if (!real || stat(real, &st) != 0) {
        free(real);
        return 0;
    }
    node = (struct node){st.st_dev, st.st_ino};
    if (under(s->exists ? s->out : s->parent, node, &hit)) {
        bool is = s->exists && stat(s->out, &ost) == 0 && same(&ost, node);
        sut_error_set(err, "%s: is %sthe folder of input model '%s' (%s)", s->out,
                      is ? "" : "inside ", in->name, real);
        rc = -1;
    } else if (s->exists && stat(s->out, &ost) == 0) {
        out = (struct node){ost.st_dev, ost.st_ino};
        if (under(real, out, NULL)) {
            sut_error_set(err, "%s: holds input model '%s' (%s)", s->out, in->name, real);
            rc = -1;
        } else {
            rc = check_entries(s, out, in, err);
        }
    }
    free(hit);
    free(real);
    return rc;
}

int stage_check_inputs(const staging *s, const stage_input *in, size_t n, sut_error *err)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (check_input(s, &in[i], err) != 0)
            return -1;
    return 0;
}

/* The first (by name) entry of dir that is a folder or not ours, or NULL
 * (caller frees); *folder says which. */
static char *in_the_way(const char *dir, bool (*ours)(const char *), bool *folder)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char *first = NULL;

    if (!d)
        return NULL;
    while ((e = readdir(d))) {
        struct stat st;
        char *p;
        bool sub;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        p = sut_path_join(dir, e->d_name);
        sub = !p || lstat(p, &st) != 0 || S_ISDIR(st.st_mode);
        free(p);
        if ((!sub && ours(e->d_name)) || (first && strcmp(first, e->d_name) < 0))
            continue;
        free(first);
        first = strdup(e->d_name);
        *folder = sub;
    }
    closedir(d);
    return first;
}

int stage_check_replaceable(const staging *s, bool (*ours)(const char *name),
                            sut_error *err)
{
    struct stat st;
    bool folder = false;
    char *what;

    if (lstat(s->out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        sut_error_set(err, "%s: exists and is not a folder; not replacing it", s->out);
        return -1;
    }
    if (!(what = in_the_way(s->out, ours, &folder)))
        return 0;
    sut_error_set(err, "%s: holds '%s' (%s), which suture does not write; not "
                  "replacing it", s->out, what, folder ? "a folder" : "not a model file");
    free(what);
    return -1;
}

/* ---- locking ---- */

/* Locks the open file fd without waiting. 0, 1 when held elsewhere, -1. */
static int try_lock(int fd)
{
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    return errno == EWOULDBLOCK ? 1 : -1;
}

/* Takes s's lock file; *found says it was there before (a dead run's). */
static int take_lock(staging *s, const char *verb, bool *found, sut_error *err)
{
    struct stat a, b;
    int fd, r;

    for (;;) {
        fd = open(s->lock_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        *found = fd < 0 && errno == EEXIST;
        if (*found)
            fd = open(s->lock_path, O_RDWR | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
            continue;
        if (fd < 0 || (r = try_lock(fd)) < 0) {
            sut_error_set(err, "%s: cannot lock: %s", s->lock_path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        if (r == 1) {
            sut_error_set(err, "another suture process is %s %s", verb, s->out);
            close(fd);
            return -1;
        }
        if (fstat(fd, &a) == 0 && stat(s->lock_path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev)
            break;
        close(fd);  /* unlinked by its holder meanwhile: again */
    }
    s->lock = fd;
    return 0;
}

static int add_stale(staging *s, const char *path, long pid, sut_error *err)
{
    char **grown = realloc(s->stale, (s->nstale + 1) * sizeof(*grown));
    char *line;

    if (!grown) {
        sut_error_oom(err, path);
        return -1;
    }
    s->stale = grown;
    line = pid ? fmt_path("%s, left by a run that no longer exists (pid %ld)", path, pid)
               : fmt_path("%s, left by a run that no longer exists", path);
    if (!line) {
        sut_error_oom(err, path);
        return -1;
    }
    s->stale[s->nstale++] = line;
    return 0;
}

/* Removes P "tmp-*" and P "old-*" (holding the lock). */
static int remove_stale(staging *s, sut_error *err)
{
    DIR *d = opendir(s->parent);
    size_t pl = strlen(s->prefix);
    struct dirent *e;
    int rc = 0;

    if (!d) {
        sut_error_set(err, "%s: cannot open folder: %s", s->parent, strerror(errno));
        return -1;
    }
    while (rc == 0 && (e = readdir(d))) {
        long pid = strncmp(e->d_name, s->prefix, pl) == 0 ? rest_pid(e->d_name + pl) : 0;
        char *path;
        if (pid == 0)
            continue;
        if (!(path = sut_path_join(s->parent, e->d_name))) {
            sut_error_oom(err, s->parent);
            rc = -1;
        } else if (stage_remove_tree(path) != 0) {
            sut_error_set(err, "%s: cannot remove a stale staging folder: %s", path,
                          strerror(errno));
            rc = -1;
        } else {
            rc = add_stale(s, path, pid, err);
        }
        free(path);
    }
    closedir(d);
    return rc;
}

int stage_begin(staging *s, const char *verb, sut_error *err)
{
    bool found;

    if (take_lock(s, verb, &found, err) != 0)
        return -1;
    if ((found && add_stale(s, s->lock_path, 0, err) != 0) || remove_stale(s, err) != 0)
        goto fail;
    if (mkdir(s->dir, 0755) != 0) {
        sut_error_set(err, "%s: cannot create the staging folder: %s", s->dir,
                      strerror(errno));
        goto fail;
    }
    return 0;
fail:
    unlock(s);
    return -1;
}

int stage_lock_dir(const char *dir, const char *verb, sut_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = -1;

    if (fd >= 0 && (r = try_lock(fd)) == 0)
        return fd;
    if (r == 1)
        sut_error_set(err, "another suture process is %s %s", verb, dir);
    else
        sut_error_set(err, "%s: cannot lock: %s", dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

void stage_unlock_dir(int lock)
{
    if (lock >= 0)
        close(lock);
}

/* ---- into place ---- */

static int add_note(char **notes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int add_note(char **notes, const char *fmt, ...)
{
    char *line = NULL, *all;
    va_list ap;
    int n;

    if (!notes)
        return 0;
    va_start(ap, fmt);
    n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    all = *notes ? fmt_path("%s\n%s", *notes, line) : line;
    if (all != line)
        free(line);
    if (!all)
        return -1;
    free(*notes);
    *notes = all;
    return 0;
}

/* Puts the staging folder at an existing OUT; *gone gets where the old
 * folder is now. */
static int replace_out(staging *s, const char **gone, sut_error *err)
{
    if (renameat2(AT_FDCWD, s->dir, AT_FDCWD, s->out, RENAME_EXCHANGE) == 0) {
        *gone = s->dir;
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS) {
        sut_error_set(err, "%s: cannot swap the new folder into place: %s", s->out,
                      strerror(errno));
        return -1;
    }
    if (rename(s->out, s->old) != 0) {
        sut_error_set(err, "%s: cannot move the old folder aside: %s", s->out,
                      strerror(errno));
        return -1;
    }
    *gone = s->old;
    if (stage_rename_new(s->dir, s->out, err) != 0) {
        rename(s->old, s->out);
        return -1;
    }
    return 0;
}

int stage_commit(staging *s, bool replace, char **notes, sut_error *err)
{
    const char *gone = NULL;
    sut_error sync;

    if (notes)
        *notes = NULL;
    if (sut_fsync_dir(s->dir, err) != 0)
        return -1;
    if (replace && s->exists ? replace_out(s, &gone, err) != 0
                             : stage_rename_new(s->dir, s->out, err) != 0)
        return -1;
    s->committed = true;
    if (sut_fsync_dir(s->parent, &sync) != 0 &&
        add_note(notes, "%s: the folder could not be synced: %s", s->parent, sync.msg) != 0)
        goto oom;
    if (gone && stage_remove_tree(gone) != 0) {
        if (add_note(notes, "could not remove the replaced folder %s: %s", gone,
                     strerror(errno)) != 0)
            goto oom;
    } else if (gone && add_note(notes, "replaced the existing %s", s->out) != 0) {
        goto oom;
    }
    unlock(s);
    return 0;
oom:
    unlock(s);
    sut_error_oom(err, s->out);
    return -1;
}
