/* The walk of ``rampart fim check`` in C: list, lstat, fingerprint, compare.
 *
 * Why: a check over /usr is 140,000 lstat calls, and in CPython the Python
 * work around each (a scandir item, a stat_result, a packed fingerprint, a
 * dict pop) costs more than the system call. This does the same walk as
 * rampart.fim.walk.Walker.below (same order, same exclusion and inclusion,
 * same one-file-system rule) and compares each fingerprint with the baseline
 * dict itself, handing back only the paths that differ.
 *
 * Threads: each takes a directory from a shared stack, lists and lstats it
 * without the GIL (the system calls are most of the time), then takes the
 * GIL to compare and push the subdirectories. With one thread the order is
 * Walker.below's; with more, the same paths in another order.
 *
 * Globs: only '*' (any bytes, '/' included) and literal bytes; the caller
 * uses the Python walker for any other glob. Directories are opened with
 * O_NOFOLLOW and entries stat'ed relative to the open directory; nothing
 * else is opened (no FIFO, no device). The one difference from the Python
 * walk: a directory swapped for a symbolic link between its lstat and its
 * listing is an error here ("cannot list"), never followed. With an empty
 * dict every path comes back, which is how init's workers list subtrees.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FINGERPRINT_SIZE 44

typedef struct {
    const char *text;
    size_t length;
} Glob;

typedef struct {
    Glob *items;
    Py_ssize_t count;
} Globs;

typedef struct {
    char **paths;
    size_t *lengths;
    size_t count;
    size_t capacity;
} Stack;

/* True when ``text`` matches ``pattern`` whole; '*' matches any bytes. */
static int glob_match(const char *pattern, size_t plen, const char *text, size_t tlen)
{
    size_t p = 0, t = 0, star = (size_t)-1, mark = 0;
    while (t < tlen) {
        if (p < plen && pattern[p] == '*') {
            star = p++;
            mark = t;
        } else if (p < plen && pattern[p] == text[t]) {
            p++;
            t++;
        } else if (star != (size_t)-1) {
            p = star + 1;
            t = ++mark;
        } else {
            return 0;
        }
    }
    while (p < plen && pattern[p] == '*')
        p++;
    return p == plen;
}

static int any_match(const Globs *globs, const char *text, size_t length)
{
    for (Py_ssize_t i = 0; i < globs->count; i++)
        if (glob_match(globs->items[i].text, globs->items[i].length, text, length))
            return 1;
    return 0;
}

static int globs_from_tuple(PyObject *tuple, Globs *globs)
{
    globs->count = PyTuple_GET_SIZE(tuple);
    globs->items = PyMem_Calloc((size_t)globs->count + 1, sizeof(Glob));
    if (globs->items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < globs->count; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "globs must be bytes");
            return -1;
        }
        globs->items[i].text = PyBytes_AS_STRING(item);
        globs->items[i].length = (size_t)PyBytes_GET_SIZE(item);
    }
    return 0;
}

/* Push a copy of ``path`` (raw allocator: called by any thread, the stack's lock held). */
static int push(Stack *stack, const char *path, size_t length)
{
    if (stack->count == stack->capacity) {
        size_t capacity = stack->capacity ? stack->capacity * 2 : 256;
        char **paths = PyMem_RawRealloc(stack->paths, capacity * sizeof(char *));
        if (paths == NULL)
            return -1;
        stack->paths = paths;
        size_t *lengths = PyMem_RawRealloc(stack->lengths, capacity * sizeof(size_t));
        if (lengths == NULL)
            return -1;
        stack->lengths = lengths;
        stack->capacity = capacity;
    }
    char *copy = PyMem_RawMalloc(length + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, path, length);
    copy[length] = '\0';
    stack->paths[stack->count] = copy;
    stack->lengths[stack->count] = length;
    stack->count++;
    return 0;
}

static void put32(unsigned char *out, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        out[i] = (unsigned char)(value >> (8 * i));
}

static void put64(unsigned char *out, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(value >> (8 * i));
}

/* The bytes of rampart.fim.entry.fingerprint: struct "<IqqqQII". */
static void pack(unsigned char *out, const struct stat *st)
{
    int64_t mtime = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    int64_t ctime = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
    put32(out, (uint32_t)st->st_mode);
    put64(out + 4, (uint64_t)(int64_t)st->st_size);
    put64(out + 12, (uint64_t)mtime);
    put64(out + 20, (uint64_t)ctime);
    put64(out + 28, (uint64_t)st->st_ino);
    put32(out + 36, (uint32_t)st->st_uid);
    put32(out + 40, (uint32_t)st->st_gid);
}

static int add_error(PyObject *errors, const char *path, size_t length, int number, int listing)
{
    PyObject *row = Py_BuildValue("(y#ii)", path, (Py_ssize_t)length, number, listing);
    if (row == NULL)
        return -1;
    int failed = PyList_Append(errors, row);
    Py_DECREF(row);
    return failed;
}

/* One path seen: its recorded fingerprint popped when equal; else a candidate (the caller
 * pops it once it has the path's lstat: a path gone meanwhile stays, to be reported gone). */
static int compare(PyObject *recorded, PyObject *candidates, const char *path, size_t length,
                   const struct stat *st)
{
    unsigned char packed[FINGERPRINT_SIZE];
    pack(packed, st);
    PyObject *key = PyBytes_FromStringAndSize(path, (Py_ssize_t)length);
    if (key == NULL)
        return -1;
    PyObject *old = PyDict_GetItemWithError(recorded, key); /* borrowed */
    int same = 0;
    if (old != NULL) {
        same = PyBytes_Check(old) && PyBytes_GET_SIZE(old) == FINGERPRINT_SIZE &&
               memcmp(PyBytes_AS_STRING(old), packed, FINGERPRINT_SIZE) == 0;
        if (same && PyDict_DelItem(recorded, key) < 0) {
            Py_DECREF(key);
            return -1;
        }
    } else if (PyErr_Occurred()) {
        Py_DECREF(key);
        return -1;
    }
    int failed = 0;
    if (!same) {
        PyObject *row = Py_BuildValue("(Oy#)", key, (const char *)packed,
                                      (Py_ssize_t)FINGERPRINT_SIZE);
        failed = row == NULL || PyList_Append(candidates, row) < 0;
        Py_XDECREF(row);
    }
    Py_DECREF(key);
    return failed ? -1 : 0;
}

/* One directory's listing, made without the GIL: full paths, lstat results or errors. */
typedef struct {
    int list_error;   /* errno when the directory could not be listed, else 0 */
    int read_error;   /* errno when reading it stopped part way (the entries before kept) */
    char *paths;      /* the full paths, each NUL-terminated */
    size_t used;
    size_t size;
    size_t *offsets;
    size_t *lengths;
    struct stat *stats;
    int *stat_errors; /* errno of a failed lstat, else 0 */
    size_t count;
    size_t capacity;
} Listing;

/* The walk shared by its threads. */
typedef struct {
    /* read only */
    dev_t device;
    int one_filesystem;
    Globs exclude;
    Globs include;
    /* used with the GIL held */
    PyObject *recorded;
    PyObject *candidates;
    PyObject *errors;
    Py_ssize_t walked;
    /* used with ``lock`` held */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    Stack stack;  /* directories still to list */
    size_t busy;  /* directories being listed */
    int failed;   /* out of memory: every thread stops */
} Walk;

/* Room for one more path of ``length`` bytes; -1 when out of memory. */
static int reserve(Listing *listing, size_t length)
{
    if (listing->used + length + 1 > listing->size) {
        size_t size = (listing->used + length + 1) * 2;
        char *bigger = PyMem_RawRealloc(listing->paths, size);
        if (bigger == NULL)
            return -1;
        listing->paths = bigger;
        listing->size = size;
    }
    if (listing->count == listing->capacity) {
        size_t capacity = listing->capacity ? listing->capacity * 2 : 64;
        size_t *offsets = PyMem_RawRealloc(listing->offsets, capacity * sizeof(size_t));
        if (offsets == NULL)
            return -1;
        listing->offsets = offsets;
        size_t *lengths = PyMem_RawRealloc(listing->lengths, capacity * sizeof(size_t));
        if (lengths == NULL)
            return -1;
        listing->lengths = lengths;
        struct stat *stats = PyMem_RawRealloc(listing->stats, capacity * sizeof(struct stat));
        if (stats == NULL)
            return -1;
        listing->stats = stats;
        int *stat_errors = PyMem_RawRealloc(listing->stat_errors, capacity * sizeof(int));
        if (stat_errors == NULL)
            return -1;
        listing->stat_errors = stat_errors;
        listing->capacity = capacity;
    }
    return 0;
}

/* List and lstat one directory into ``listing`` (no Python call: run without the GIL).
 * Returns -1 when out of memory. */
static int read_directory(const Walk *walk, Listing *listing, const char *directory, size_t dlen)
{
    listing->list_error = 0;
    listing->read_error = 0;
    listing->used = 0;
    listing->count = 0;
    int fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        listing->list_error = errno;
        return 0;
    }
    DIR *stream = fdopendir(fd);
    if (stream == NULL) {
        listing->list_error = errno;
        close(fd);
        return 0;
    }
    int slash = dlen == 0 || directory[dlen - 1] != '/';
    struct dirent *item;
    int failed = 0;
    for (;;) {
        errno = 0;
        if ((item = readdir(stream)) == NULL) {
            listing->read_error = errno;
            break;
        }
        const char *name = item->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
            continue;
        size_t nlen = strlen(name);
        size_t plen = dlen + (size_t)slash + nlen;
        if (reserve(listing, plen) < 0) {
            failed = 1;
            break;
        }
        char *path = listing->paths + listing->used;
        memcpy(path, directory, dlen);
        if (slash)
            path[dlen] = '/';
        memcpy(path + dlen + slash, name, nlen + 1);
        if (any_match(&walk->exclude, path, plen))
            continue;
        size_t i = listing->count;
        listing->stat_errors[i] = 0;
        if (fstatat(dirfd(stream), name, &listing->stats[i], AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue; /* vanished since the listing */
            listing->stat_errors[i] = errno;
        } else if (!S_ISDIR(listing->stats[i].st_mode) && walk->include.count > 0 &&
                   !any_match(&walk->include, path, plen)) {
            continue;
        }
        listing->offsets[i] = listing->used;
        listing->lengths[i] = plen;
        listing->used += plen + 1;
        listing->count++;
    }
    closedir(stream);
    return failed ? -1 : 0;
}

/* With the GIL: errors noted, subdirectories pushed, fingerprints compared. */
static int take_listing(Walk *walk, const Listing *listing, const char *directory, size_t dlen)
{
    if (listing->list_error != 0) {
        int number = listing->list_error;
        if (number == ENOENT || number == ENOTDIR)
            return 0;
        return add_error(walk->errors, directory, dlen, number, 1);
    }
    for (size_t i = 0; i < listing->count; i++) {
        const char *path = listing->paths + listing->offsets[i];
        size_t plen = listing->lengths[i];
        if (listing->stat_errors[i] != 0) {
            if (add_error(walk->errors, path, plen, listing->stat_errors[i], 0) < 0)
                return -1;
            continue;
        }
        const struct stat *st = &listing->stats[i];
        if (S_ISDIR(st->st_mode) && (!walk->one_filesystem || st->st_dev == walk->device)) {
            pthread_mutex_lock(&walk->lock);
            int pushed = push(&walk->stack, path, plen);
            pthread_mutex_unlock(&walk->lock);
            if (pushed < 0) {
                PyErr_NoMemory();
                return -1;
            }
        }
        walk->walked++;
        if (compare(walk->recorded, walk->candidates, path, plen, st) < 0)
            return -1;
    }
    if (listing->read_error != 0) /* what was not read will look deleted: say why */
        return add_error(walk->errors, directory, dlen, listing->read_error, 1);
    return 0;
}

/* One thread: take a directory, list it without the GIL, hand the result over with it.
 * Called without the GIL; the last directory first (one thread walks like Walker.below). */
static void *work(void *argument)
{
    Walk *walk = argument;
    Listing listing = {0};
    for (;;) {
        pthread_mutex_lock(&walk->lock);
        while (walk->stack.count == 0 && walk->busy > 0 && !walk->failed)
            pthread_cond_wait(&walk->wake, &walk->lock);
        if (walk->stack.count == 0 || walk->failed) {
            pthread_cond_broadcast(&walk->wake);
            pthread_mutex_unlock(&walk->lock);
            break;
        }
        walk->stack.count--;
        char *directory = walk->stack.paths[walk->stack.count];
        size_t length = walk->stack.lengths[walk->stack.count];
        walk->busy++;
        pthread_mutex_unlock(&walk->lock);
        int failed = read_directory(walk, &listing, directory, length) < 0;
        PyGILState_STATE gil = PyGILState_Ensure();
        failed = failed || take_listing(walk, &listing, directory, length) < 0;
        PyErr_Clear(); /* the only failure is memory: check_below raises MemoryError */
        PyGILState_Release(gil);
        PyMem_RawFree(directory);
        pthread_mutex_lock(&walk->lock);
        walk->busy--;
        walk->failed = walk->failed || failed;
        pthread_cond_broadcast(&walk->wake);
        pthread_mutex_unlock(&walk->lock);
    }
    PyMem_RawFree(listing.paths);
    PyMem_RawFree(listing.offsets);
    PyMem_RawFree(listing.lengths);
    PyMem_RawFree(listing.stats);
    PyMem_RawFree(listing.stat_errors);
    return NULL;
}

#define MAX_THREADS 16

static PyObject *check_below(PyObject *self, PyObject *args)
{
    (void)self;
    const char *root;
    Py_ssize_t root_length;
    unsigned long long device;
    int one_filesystem, threads;
    PyObject *exclude, *include, *recorded;
    if (!PyArg_ParseTuple(args, "y#KpO!O!O!i", &root, &root_length, &device, &one_filesystem,
                          &PyTuple_Type, &exclude, &PyTuple_Type, &include, &PyDict_Type,
                          &recorded, &threads))
        return NULL;
    threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    Walk walk = {0};
    PyObject *result = NULL;
    walk.device = (dev_t)device;
    walk.one_filesystem = one_filesystem;
    walk.recorded = recorded;
    walk.candidates = PyList_New(0);
    walk.errors = PyList_New(0);
    pthread_mutex_init(&walk.lock, NULL);
    pthread_cond_init(&walk.wake, NULL);
    if (walk.candidates == NULL || walk.errors == NULL)
        goto done;
    if (globs_from_tuple(exclude, &walk.exclude) < 0 || globs_from_tuple(include, &walk.include) < 0)
        goto done;
    if (push(&walk.stack, root, (size_t)root_length) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    pthread_t helpers[MAX_THREADS];
    int started = 0;
    while (started < threads - 1 && pthread_create(&helpers[started], NULL, work, &walk) == 0)
        started++;
    work(&walk);
    for (int i = 0; i < started; i++)
        pthread_join(helpers[i], NULL);
    Py_END_ALLOW_THREADS
    if (walk.failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(nOO)", walk.walked, walk.candidates, walk.errors);
done:
    for (size_t i = 0; i < walk.stack.count; i++)
        PyMem_RawFree(walk.stack.paths[i]);
    PyMem_RawFree(walk.stack.paths);
    PyMem_RawFree(walk.stack.lengths);
    PyMem_Free(walk.exclude.items);
    PyMem_Free(walk.include.items);
    pthread_cond_destroy(&walk.wake);
    pthread_mutex_destroy(&walk.lock);
    Py_XDECREF(walk.candidates);
    Py_XDECREF(walk.errors);
    return result;
}

static PyMethodDef methods[] = {
    {"check_below", check_below, METH_VARARGS,
     "check_below(root, device, one_filesystem, exclude, include, recorded, threads) -> "
     "(walked, [(path, fingerprint)], [(path, errno, listing)])"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_walk", "The fim check walk in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__walk(void)
{
    return PyModule_Create(&module);
}
