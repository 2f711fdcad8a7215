/* rampart.detect._native: the per-line loop of `rampart ban test` in C.
 *
 * Why: in CPython the Python work per line (slicing, calls, dicts) costs more
 * than the regexes themselves. This core reads a whole log with read(2),
 * finds candidate lines by the filter's needles, cuts the leading timestamp,
 * runs the prefregex and failregexes with PCRE2's JIT and keeps Fail2ban's
 * connection (MLFID) bookkeeping, so Python only sees the totals and the
 * failures. It handles exactly the lines it understands (printable ASCII
 * starting with "Mon dd HH:MM:SS" or an ISO 8601 time); on anything else it
 * raises Unsupported and the caller runs the pure-Python matcher, the
 * reference, instead.
 *
 * PCRE2 is loaded with dlopen from the runtime library every Debian has
 * (libpcre2-8.so.0): no -dev package is needed to build this file.
 * Every read is bounded by the buffer it reads from.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../_pcre2.h"

static PyObject *Unsupported; /* raised when a line needs the Python matcher */

/* ---- limits and constants ---- */
#define BLOCK_SIZE (8u << 20)        /* bytes read at a time */
#define MAX_LINE (15u << 20)         /* longer lines: the Python reader cuts them */
#define MAX_FIELDS 64
#define CONN_MAX 100                 /* matcher.CONNECTION_MEMORY_SIZE */
#define CONN_SECONDS 300.0           /* matcher.CONNECTION_MEMORY_SECONDS */
#define DATE_LEN 15                  /* "Mon dd HH:MM:SS" */
#define ISO_LEN 19                   /* "YYYY-MM-DDTHH:MM:SS" */
#define ISO_HOURS (30 * 12 * 31 * 24) /* years 2000-2029, as Fail2ban's ExYear */
#define MAX_ZONES 4                  /* distinct zone spellings in one file */
#define HOURS (12 * 31 * 24)
#define MINUTES (HOURS * 60)
#define SPLIT_MIN (1u << 20)         /* smaller chunks are not worth a second thread */

#define JIT_STACK_MAX (64u << 20) /* a long line needs more than the 32 KiB default */

/* What one thread needs to run matches: match data and a JIT stack. */
typedef struct {
    pcre2_match_data *md;
    void *mctx;
    void *stack;
} Matcher;

enum kind { K_SKIP, K_MISSED, K_IGNORED, K_MATCH, K_SEQ, K_ABORT };

typedef struct {
    const char *p;
    uint32_t n;
} Span; /* p == NULL: None */

typedef struct {
    pcre2_code *code;     /* own pattern; NULL for a branch of the combined one */
    int marker;           /* group number of _bN in the combined pattern, or -1 */
    int ngroups;
    int *group;           /* group numbers ... */
    int *field;           /* ... and the field each fills */
    int nalt;
    int *alt_src, *alt_dst; /* alt_NAME -> NAME, in Fail2ban's order */
} Rx;

typedef struct {
    int64_t lineno;       /* within its chunk half */
    const char *line;
    uint32_t len;         /* without the line end */
    uint8_t kind;
    uint8_t in_place;     /* line[len] == '\n': the cut text needs no copy */
    int16_t index;        /* failregex index for K_MATCH */
    int32_t minute;       /* key of the minute table (ISO: hour key * 60 + minute) */
    int8_t second;
    uint8_t iso;          /* the timestamp is ISO 8601, not syslog */
    uint8_t date_len;     /* bytes the timestamp takes at the line start */
    uint8_t zone_off, zone_len; /* an ISO timestamp's zone, within it */
    const char *reason;   /* for K_ABORT */
} LineResult;

typedef struct {
    uint64_t hash;
    char *key;
    size_t klen;
    char *val[MAX_FIELDS];
    uint32_t vlen[MAX_FIELDS];
    char **users;
    int nusers, cap_users;
    int pending;
    double expires;
} Conn;

typedef struct {
    char *text;           /* NULL: free slot */
    uint32_t len;
    int family;           /* 4, 6, or 0 for a host name */
    uint64_t hash;
    long long count;
} Host;

typedef struct {
    Host *slots;
    size_t cap, used;     /* cap: a power of two */
} HostTable;

typedef struct {
    PyObject_HEAD
    int nfields;
    int f_mlfid, f_user, f_ip4, f_ip6, f_dns, f_nofail, f_mlfforget, f_mlfgained;
    Rx pref;
    int pref_content;     /* group number of content in the prefregex, or -1 */
    int has_pref;
    pcre2_code *combined;
    int nfail;
    Rx *fail;
    int nignore;
    pcre2_code **ignore;
    int ignore_first;
    int nneedles;
    char **needle;
    uint32_t *needle_len;
    uint16_t *bigram;     /* by a needle's first two bytes: 1 + its index, or 0 */
    uint16_t *chain;      /* 1 + index of the next needle with the same two bytes */
    uint64_t *pairs_seen; /* the same two bytes as a bit set (8 KiB: stays in L1) */
    int skip_comments;
    PyObject *minute_cb;
    int want_failures;
    uint32_t pairs;       /* ovector pairs a match data needs */
    double *hours;        /* epoch at 00:00 of each hour; NAN: not asked; INFINITY: by minute */
    double *minutes;      /* epoch at second 0 of each minute; NAN: not asked yet */
    double *iso_hours[MAX_ZONES]; /* ISO: epoch at HH:00:00, by zone spelling */
    char zones[MAX_ZONES][8];
    int nzones;
    HostTable hosts;      /* failures per address */
    Conn *conns[CONN_MAX];
    int nconns;
    long long lines, matched, ignored;
    long long *regex_hits;
    PyObject *failures;   /* list of tuples, or NULL */
    Matcher md;           /* the main thread's */
    char *scratch;
    size_t scratch_cap;
} Core;

typedef struct {
    Core *core;
    const char *start, *end;
    LineResult *res;
    Span *spans;
    size_t nres, cap;
    int64_t nlines;
    Matcher md;
    int nomem;
} Worker;

/* ---- small helpers ---- */
static double monotonic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int truthy(Span s) { return s.p != NULL && s.n > 0; }

static char *copy_bytes(const char *p, size_t n) {
    char *out = malloc(n + 1);
    if (out != NULL) {
        if (n) memcpy(out, p, n);
        out[n] = 0;
    }
    return out;
}

static int is_word(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '_';
}

/* ---- regex compilation ---- */
static pcre2_code *compile_pattern(PyObject *pattern, uint32_t options) {
    char *text;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(pattern, &text, &n) < 0) return NULL;
    pcre2_compile_context *ctx = P2.ccontext_create(NULL);
    if (ctx == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    P2.set_newline(ctx, P2_NEWLINE_LF);
    int err = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code *code = P2.compile((PCRE2_SPTR)text, (PCRE2_SIZE)n, options, &err, &offset, ctx);
    P2.ccontext_free(ctx);
    if (code == NULL) {
        unsigned char message[256];
        P2.error_message(err, message, sizeof message);
        PyErr_Format(Unsupported, "PCRE2 cannot compile a regex (at %zu: %s)", (size_t)offset,
                     message);
        return NULL;
    }
    P2.jit_compile(code, P2_JIT_COMPLETE); /* without JIT it is slower, not different */
    return code;
}

static int note_pairs(Core *c, pcre2_code *code) {
    uint32_t count = 0;
    if (P2.pattern_info(code, P2_INFO_CAPTURECOUNT, &count) != 0) return -1;
    if (count + 1 > c->pairs) c->pairs = count + 1;
    return 0;
}

/* (pattern | None, marker | None, [(name, field)], [(src, dst)]) */
static int parse_rx(Core *c, Rx *rx, PyObject *spec, pcre2_code *shared) {
    PyObject *pattern, *marker, *groups, *alts;
    if (!PyArg_ParseTuple(spec, "OOOO", &pattern, &marker, &groups, &alts)) return -1;
    if (!PyList_Check(groups) || !PyList_Check(alts)) {
        PyErr_SetString(PyExc_TypeError, "groups and alternates must be lists");
        return -1;
    }
    rx->marker = -1;
    if (pattern != Py_None) {
        rx->code = compile_pattern(pattern, 0);
        if (rx->code == NULL || note_pairs(c, rx->code) < 0) return -1;
    }
    pcre2_code *code = rx->code != NULL ? rx->code : shared;
    if (code == NULL) {
        PyErr_SetString(PyExc_ValueError, "a failregex without pattern needs a combined one");
        return -1;
    }
    if (marker != Py_None) {
        if (!PyBytes_Check(marker)) return PyErr_SetString(PyExc_TypeError, "marker"), -1;
        rx->marker = P2.number_from_name(code, (PCRE2_SPTR)PyBytes_AS_STRING(marker));
        if (rx->marker <= 0) return PyErr_SetString(Unsupported, "marker group missing"), -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(groups);
    rx->ngroups = (int)n;
    rx->group = calloc((size_t)n + 1, sizeof(int));
    rx->field = calloc((size_t)n + 1, sizeof(int));
    if (rx->group == NULL || rx->field == NULL) return PyErr_NoMemory(), -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *name;
        int field;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(groups, i), "yi", &name, &field)) return -1;
        if (field < 0 || field >= c->nfields) return PyErr_SetString(PyExc_ValueError, "field"), -1;
        int number = P2.number_from_name(code, (PCRE2_SPTR)name);
        if (number <= 0) return PyErr_Format(Unsupported, "group %s missing", name), -1;
        rx->group[i] = number;
        rx->field[i] = field;
    }
    n = PyList_GET_SIZE(alts);
    rx->nalt = (int)n;
    rx->alt_src = calloc((size_t)n + 1, sizeof(int));
    rx->alt_dst = calloc((size_t)n + 1, sizeof(int));
    if (rx->alt_src == NULL || rx->alt_dst == NULL) return PyErr_NoMemory(), -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        int src, dst;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(alts, i), "ii", &src, &dst)) return -1;
        if (src < 0 || src >= c->nfields || dst < 0 || dst >= c->nfields)
            return PyErr_SetString(PyExc_ValueError, "alternate field"), -1;
        rx->alt_src[i] = src;
        rx->alt_dst[i] = dst;
    }
    return 0;
}

static void free_rx(Rx *rx) {
    if (rx->code) P2.code_free(rx->code);
    free(rx->group);
    free(rx->field);
    free(rx->alt_src);
    free(rx->alt_dst);
    memset(rx, 0, sizeof *rx);
}

static void free_conn(Conn *conn, int nfields) {
    if (conn == NULL) return;
    free(conn->key);
    for (int f = 0; f < nfields; f++) free(conn->val[f]);
    for (int i = 0; i < conn->nusers; i++) free(conn->users[i]);
    free(conn->users);
    free(conn);
}

/* ---- one line: timestamp, prefregex, failregexes (no shared state written) ---- */

static const char MONTHS[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* The minute key and second of a leading "Mon dd HH:MM:SS", exactly where
 * Fail2ban's "MON Day %k:Minute:Second" template cuts it; -1 otherwise. */
static int32_t syslog_date(const char *p, uint32_t n, int8_t *second) {
    if (n < DATE_LEN) return -1;
    int month = -1;
    for (int m = 0; m < 12; m++)
        if (memcmp(p, MONTHS + 3 * m, 3) == 0) month = m;
    if (month < 0 || p[3] != ' ') return -1;
    int day;
    char a = p[4], b = p[5];
    if ((a == ' ' || a == '0') && b >= '1' && b <= '9')
        day = b - '0';
    else if ((a == '1' || a == '2') && b >= '0' && b <= '9')
        day = (a - '0') * 10 + (b - '0');
    else if (a == '3' && (b == '0' || b == '1'))
        day = 30 + (b - '0');
    else
        return -1;
    if (p[6] != ' ' || p[9] != ':' || p[12] != ':') return -1;
    const char *t = p + 7;
    for (int i = 0; i < 8; i++)
        if (i != 2 && i != 5 && (t[i] < '0' || t[i] > '9')) return -1;
    int hour = (t[0] - '0') * 10 + (t[1] - '0');
    int minute = (t[3] - '0') * 10 + (t[4] - '0');
    int sec = (t[6] - '0') * 10 + (t[7] - '0');
    if (hour > 23 || minute > 59 || sec > 59) return -1;
    if (n > DATE_LEN) {
        unsigned char next = (unsigned char)p[DATE_LEN];
        if (next == '.' || is_word(next)) return -1; /* fraction, or no word boundary */
        if (next == ' ' && n >= DATE_LEN + 5 && p[16] == '2' && p[17] == '0' &&
            p[18] >= '0' && p[18] <= '2' && p[19] >= '0' && p[19] <= '9')
            return -1; /* a year may follow: leave it to the Python detector */
    }
    *second = (int8_t)sec;
    return ((month * 31 + (day - 1)) * 24 + hour) * 60 + minute;
}

static int matcher_init(Matcher *m, uint32_t pairs) {
    m->md = P2.md_create(pairs, NULL);
    m->mctx = P2.mcontext_create(NULL);
    m->stack = P2.jit_stack_create(32u << 10, JIT_STACK_MAX, NULL);
    if (m->md == NULL || m->mctx == NULL || m->stack == NULL) return -1;
    P2.jit_stack_assign(m->mctx, NULL, m->stack);
    return 0;
}

static void matcher_free(Matcher *m) {
    if (m->md) P2.md_free(m->md);
    if (m->mctx) P2.mcontext_free(m->mctx);
    if (m->stack) P2.jit_stack_free(m->stack);
    memset(m, 0, sizeof *m);
}

static int digits(const char *p, int n) {
    for (int i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9') return 0;
    return 1;
}

static int two(const char *p) { return (p[0] - '0') * 10 + (p[1] - '0'); }

/* A leading "YYYY-MM-DDTHH:MM:SS[.ffffff][zone]" where Fail2ban's ISO template
 * cuts it; the fraction does not count (Fail2ban drops it). Key as for
 * syslog_date, in the ISO tables; -1 when Python must decide. */
static int32_t iso_date(const char *p, uint32_t n, int8_t *second, uint8_t *len,
                        uint8_t *zone_off, uint8_t *zone_len) {
    if (n < ISO_LEN || p[0] != '2' || p[1] != '0' || p[2] < '0' || p[2] > '2') return -1;
    if (!digits(p, 4) || p[4] != '-' || !digits(p + 5, 2) || p[7] != '-' ||
        !digits(p + 8, 2) || p[10] != 'T' || !digits(p + 11, 2) || p[13] != ':' ||
        !digits(p + 14, 2) || p[16] != ':' || !digits(p + 17, 2))
        return -1;
    int year = two(p + 2), month = two(p + 5), day = two(p + 8);
    int hour = two(p + 11), minute = two(p + 14), sec = two(p + 17);
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59)
        return -1;
    uint32_t at = ISO_LEN;
    if (at < n && (p[at] == '.' || p[at] == ',')) {
        uint32_t k = 0;
        while (at + 1 + k < n && k < 7 && p[at + 1 + k] >= '0' && p[at + 1 + k] <= '9') k++;
        if (k == 0 || k > 6) return -1;
        at += 1 + k;
    }
    uint32_t zone = at;
    if (at < n && p[at] == 'Z') {
        at += 1;
    } else if (at + 3 <= n && (memcmp(p + at, "UTC", 3) == 0 || memcmp(p + at, "GMT", 3) == 0)) {
        at += 3;
    } else if (at + 3 <= n && (p[at] == '+' || p[at] == '-') && (p[at + 1] == '0' || p[at + 1] == '1') &&
               digits(p + at + 2, 1)) {
        at += 3;
        if (at + 3 <= n && p[at] == ':' && digits(p + at + 1, 2))
            at += 3;
        else if (at + 2 <= n && digits(p + at, 2))
            at += 2;
    }
    if (at < n && is_word((unsigned char)p[at])) return -1; /* no word boundary */
    if (at == zone && at < n) { /* no zone: one may still follow after spaces */
        uint32_t k = at;
        while (k < n && (p[k] == ' ' || p[k] == '\t')) k++;
        if (k < n && (p[k] == 'Z' || p[k] == 'U' || p[k] == 'G' || p[k] == '+' || p[k] == '-'))
            return -1;
    }
    if (at - zone > 7 || at > 255) return -1;
    *second = (int8_t)sec;
    *len = (uint8_t)at;
    *zone_off = (uint8_t)zone;
    *zone_len = (uint8_t)(at - zone);
    return ((((year * 12 + (month - 1)) * 31 + (day - 1)) * 24 + hour) * 60) + minute;
}

static int run(pcre2_code *code, const char *s, size_t n, uint32_t options, Matcher *m) {
    return P2.match(code, (PCRE2_SPTR)s, n, 0, options, m->md, m->mctx);
}

static void take_groups(const Rx *rx, const char *s, Matcher *md, Span *out,
                        uint8_t *present) {
    PCRE2_SIZE *ov = P2.ovector(md->md);
    for (int i = 0; i < rx->ngroups; i++) {
        int g = rx->group[i], f = rx->field[i];
        PCRE2_SIZE a = ov[2 * g], b = ov[2 * g + 1];
        out[f].p = (a == P2_UNSET || b < a) ? NULL : s + a;
        out[f].n = (a == P2_UNSET || b < a) ? 0 : (uint32_t)(b - a);
        present[f] = 1;
    }
    for (int i = 0; i < rx->nalt; i++) { /* FilterRegex.fold */
        int src = rx->alt_src[i], dst = rx->alt_dst[i];
        if (present[src] && truthy(out[src]) && !(present[dst] && truthy(out[dst]))) {
            out[dst] = out[src];
            present[dst] = 1;
        }
    }
}

static int any_ignored(const Core *c, const char *s, size_t n, Matcher *md) {
    for (int i = 0; i < c->nignore; i++) {
        int rc = run(c->ignore[i], s, n, 0, md);
        if (rc > 0) return 1;
        if (rc != P2_ERROR_NOMATCH) return -1;
    }
    return 0;
}

/* Match the cut text `s` (ending with '\n'); fill `fields` (merged prefix and
 * failregex fields) and return the kind. */
static int match_text(const Core *c, const char *s, size_t n, Matcher *md,
                      Span *fields, int16_t *index, const char **reason) {
    int nf = c->nfields;
    uint8_t present[MAX_FIELDS];
    Span found[MAX_FIELDS];
    memset(fields, 0, sizeof(Span) * (size_t)nf);
    if (c->ignore_first) {
        int ignored = any_ignored(c, s, n, md);
        if (ignored < 0) return *reason = "ignoreregex error", K_ABORT;
        if (ignored) return K_IGNORED;
    }
    const char *text = s;
    size_t tn = n;
    if (c->has_pref) {
        int rc = run(c->pref.code, s, n, 0, md);
        if (rc == P2_ERROR_NOMATCH) return K_MISSED;
        if (rc <= 0) return *reason = "prefregex match error", K_ABORT;
        memset(present, 0, (size_t)nf);
        take_groups(&c->pref, s, md, fields, present);
        if (c->pref_content > 0) {
            PCRE2_SIZE *ov = P2.ovector(md->md);
            PCRE2_SIZE a = ov[2 * c->pref_content], b = ov[2 * c->pref_content + 1];
            if (a != P2_UNSET && b > a) {
                if (b >= n || s[b] != '\n') return K_SEQ; /* content + "\n" is not in place */
                text = s + a;
                tn = b + 1 - a;
            }
        }
    }
    memset(present, 0, (size_t)nf);
    memset(found, 0, sizeof(Span) * (size_t)nf);
    int hit = -1;
    if (c->combined != NULL) {
        int rc = run(c->combined, text, tn, 0, md); /* re.match: anchored */
        if (rc == P2_ERROR_NOMATCH) return K_MISSED;
        if (rc <= 0) return *reason = "failregex match error", K_ABORT;
        PCRE2_SIZE *ov = P2.ovector(md->md);
        for (int i = 0; i < c->nfail && hit < 0; i++)
            if (ov[2 * c->fail[i].marker] != P2_UNSET) hit = i;
        if (hit < 0) return *reason = "no branch matched", K_ABORT;
        take_groups(&c->fail[hit], text, md, found, present);
    } else {
        for (int i = 0; i < c->nfail && hit < 0; i++) {
            int rc = run(c->fail[i].code, text, tn, 0, md);
            if (rc == P2_ERROR_NOMATCH) continue;
            if (rc <= 0) return *reason = "failregex match error", K_ABORT;
            hit = i;
            take_groups(&c->fail[i], text, md, found, present);
        }
        if (hit < 0) return K_MISSED;
    }
    if (c->nignore) {
        int ignored = any_ignored(c, text, tn, md);
        if (ignored < 0) return *reason = "ignoreregex error", K_ABORT;
        if (ignored) return K_IGNORED;
    }
    for (int f = 0; f < nf; f++)
        if (present[f]) fields[f] = found[f]; /* {**prefix_fields, **fields} */
    *index = (int16_t)hit;
    return K_MATCH;
}

static int is_candidate(const Core *c, const char *p, uint32_t n) {
    if (c->nneedles == 0) return 1;
    if (n < 2) return 0;
    const unsigned char *u = (const unsigned char *)p;
    const uint64_t *seen = c->pairs_seen;
    for (uint32_t i = 0; i + 1 < n; i++) {
        unsigned key = u[i] | ((unsigned)u[i + 1] << 8);
        if (!(seen[key >> 6] >> (key & 63) & 1)) continue;
        for (int k = c->bigram[key]; k != 0; k = c->chain[k - 1]) {
            uint32_t len = c->needle_len[k - 1];
            if (len <= n - i && memcmp(p + i, c->needle[k - 1], len) == 0) return 1;
        }
    }
    return 0;
}

/* Only tabs and printable ASCII: there PCRE2 and `re` agree on \s, \w, \d, \b and case. */
static int printable_ascii(const char *p, uint32_t n) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) { /* eight bytes at a time; a hit is checked byte by byte */
        uint64_t x;
        memcpy(&x, p + i, 8);
        if (((x - ones * 0x20) & ~x & highs) | (((x + ones) | x) & highs)) break;
    }
    for (; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if ((ch < 0x20 && ch != '\t') || ch > 0x7e) return 0;
    }
    return 1;
}

/* Classify one candidate line; fields go to `fields`. */
static void examine(const Core *c, LineResult *r, Span *fields, Matcher *md) {
    const char *p = r->line;
    uint32_t n = r->len;
    if (c->skip_comments && (n == 0 || p[0] == '#')) {
        r->kind = K_SKIP;
        return;
    }
    if (!printable_ascii(p, n)) {
        r->kind = K_ABORT;
        r->reason = "a candidate line holds a control or non-ASCII byte";
        return;
    }
    r->minute = syslog_date(p, n, &r->second);
    r->date_len = DATE_LEN;
    if (r->minute < 0) {
        r->minute = iso_date(p, n, &r->second, &r->date_len, &r->zone_off, &r->zone_len);
        r->iso = 1;
    }
    if (r->minute < 0) {
        r->kind = K_ABORT;
        r->reason = "a candidate line without a leading syslog or ISO 8601 timestamp";
        return;
    }
    if (!r->in_place) {
        r->kind = K_SEQ;
        return;
    }
    /* The cut text: the line after its timestamp, plus the newline already there. */
    r->kind = (uint8_t)match_text(c, p + r->date_len, n - r->date_len + 1, md, fields, &r->index,
                                  &r->reason);
}

static int worker_grow(Worker *w) {
    size_t cap = w->cap ? w->cap * 2 : 4096;
    LineResult *res = realloc(w->res, cap * sizeof *res);
    if (res == NULL) return -1;
    w->res = res;
    Span *spans = realloc(w->spans, cap * (size_t)w->core->nfields * sizeof *spans + 1);
    if (spans == NULL) return -1;
    w->spans = spans;
    w->cap = cap;
    return 0;
}

static void *work(void *arg) {
    Worker *w = arg;
    const Core *c = w->core;
    const char *p = w->start, *end = w->end;
    int64_t lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        lineno++;
        uint32_t len = (uint32_t)(line_end - p);
        int in_place = nl != NULL;
        while (len > 0 && p[len - 1] == '\r') {
            len--;
            in_place = 0;
        }
        if (is_candidate(c, p, len)) {
            if (w->nres == w->cap && worker_grow(w) < 0) {
                w->nomem = 1;
                break;
            }
            LineResult *r = &w->res[w->nres];
            memset(r, 0, sizeof *r);
            r->lineno = lineno;
            r->line = p;
            r->len = len;
            r->in_place = (uint8_t)in_place;
            examine(c, r, w->spans + w->nres * (size_t)c->nfields, &w->md);
            w->nres++;
            if (r->kind == K_ABORT) break;
        }
        p = line_end + 1;
    }
    w->nlines = lineno;
    return NULL;
}

/* ---- sequential part: dates, connections, counts (GIL held) ---- */

static Conn *lookup(Core *c, const char *key, size_t klen, uint64_t hash, double now) {
    for (int i = 0; i < c->nconns; i++) {
        Conn *conn = c->conns[i];
        if (conn->hash == hash && conn->klen == klen && memcmp(conn->key, key, klen) == 0) {
            if (conn->expires <= now) {
                memmove(&c->conns[i], &c->conns[i + 1], sizeof(Conn *) * (size_t)(c->nconns - i - 1));
                c->nconns--;
                free_conn(conn, c->nfields);
                return NULL;
            }
            return conn;
        }
    }
    return NULL;
}

static void unlink_conn(Core *c, Conn *target) {
    for (int i = 0; i < c->nconns; i++) {
        if (c->conns[i] == target) {
            memmove(&c->conns[i], &c->conns[i + 1], sizeof(Conn *) * (size_t)(c->nconns - i - 1));
            c->nconns--;
            return;
        }
    }
}

static void remember(Core *c, Conn *conn, double now) { /* LineMatcher._remember */
    if (c->nconns >= CONN_MAX) {
        while (c->nconns > 0) {
            Conn *old = c->conns[0];
            memmove(&c->conns[0], &c->conns[1], sizeof(Conn *) * (size_t)(c->nconns - 1));
            c->nconns--;
            int keep_going = !(old->expires > now && c->nconns < CONN_MAX);
            free_conn(old, c->nfields);
            if (!keep_going) break;
        }
    }
    conn->expires = now + CONN_SECONDS;
    c->conns[c->nconns++] = conn;
}

static int set_val(Conn *conn, int f, Span v) {
    free(conn->val[f]);
    conn->val[f] = NULL;
    conn->vlen[f] = 0;
    if (v.p == NULL) return 0;
    conn->val[f] = copy_bytes(v.p, v.n);
    if (conn->val[f] == NULL) return -1;
    conn->vlen[f] = v.n;
    return 0;
}

static Span get_val(const Conn *conn, int f) {
    Span s = {NULL, 0};
    if (f >= 0 && conn->val[f] != NULL) {
        s.p = conn->val[f];
        s.n = conn->vlen[f];
    }
    return s;
}

static int add_user(Conn *conn, Span user) { /* matcher._add_user */
    if (!truthy(user)) return 0;
    for (int i = 0; i < conn->nusers; i++)
        if (strlen(conn->users[i]) == user.n && memcmp(conn->users[i], user.p, user.n) == 0)
            return 0;
    if (conn->nusers == conn->cap_users) {
        int cap = conn->cap_users ? conn->cap_users * 2 : 4;
        char **users = realloc(conn->users, sizeof(char *) * (size_t)cap);
        if (users == NULL) return -1;
        conn->users = users;
        conn->cap_users = cap;
    }
    char *copy = copy_bytes(user.p, user.n);
    if (copy == NULL) return -1;
    conn->users[conn->nusers++] = copy;
    return 0;
}

static int host_grow(HostTable *t) {
    size_t cap = t->cap ? t->cap * 2 : 1024;
    Host *slots = calloc(cap, sizeof *slots);
    if (slots == NULL) return -1;
    for (size_t i = 0; i < t->cap; i++) {
        Host *h = &t->slots[i];
        if (h->text == NULL) continue;
        size_t j = h->hash & (cap - 1);
        while (slots[j].text != NULL) j = (j + 1) & (cap - 1);
        slots[j] = *h;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

static int count_host(HostTable *t, Span address, int family) {
    if ((t->used + 1) * 2 > t->cap && host_grow(t) < 0) return -1;
    uint64_t hash = hash_bytes(address.p, address.n) ^ (uint64_t)family;
    size_t j = hash & (t->cap - 1);
    for (;; j = (j + 1) & (t->cap - 1)) {
        Host *h = &t->slots[j];
        if (h->text == NULL) {
            h->text = copy_bytes(address.p, address.n);
            if (h->text == NULL) return -1;
            h->len = address.n;
            h->family = family;
            h->hash = hash;
            h->count = 1;
            t->used++;
            return 0;
        }
        if (h->hash == hash && h->family == family && h->len == address.n &&
            memcmp(h->text, address.p, address.n) == 0) {
            h->count++;
            return 0;
        }
    }
}

static PyObject *span_str(Span s) {
    if (s.p == NULL) Py_RETURN_NONE;
    return PyUnicode_DecodeASCII(s.p, s.n, "strict");
}

/* A failure: count it and keep it for the caller. */
static int emit(Core *c, int64_t lineno, int index, double epoch, Span ip4, Span ip6, Span dns,
                Span user) {
    Span address = ip4;
    int family = 4;
    if (address.p == NULL) address = ip6, family = 6;
    if (address.p == NULL) address = dns, family = 0;
    if (count_host(&c->hosts, address, family) < 0) return PyErr_NoMemory(), -1;
    c->matched++;
    c->regex_hits[index]++;
    if (c->failures == NULL) return 0;
    PyObject *text = span_str(address);
    PyObject *who = text ? span_str(user) : NULL;
    PyObject *item = who ? Py_BuildValue("(LOidOi)", (long long)lineno, text, family, epoch, who,
                                         index)
                         : NULL;
    int rc = item ? PyList_Append(c->failures, item) : -1;
    Py_XDECREF(item);
    Py_XDECREF(who);
    Py_XDECREF(text);
    return rc;
}

/* LineMatcher._find_failures from the failregex match on: connection
 * tracking (_merge_connection), _failure and the outcome. */
static int settle(Core *c, const LineResult *r, Span *cur, int64_t lineno, double epoch) {
    Span none = {NULL, 0};
    Span conn_key = c->f_mlfid >= 0 ? cur[c->f_mlfid] : none;
#define CUR(f) ((f) >= 0 ? cur[f] : none)
    if (conn_key.p == NULL) {
        if (CUR(c->f_ip4).p == NULL && CUR(c->f_ip6).p == NULL && CUR(c->f_dns).p == NULL) {
            PyErr_SetString(Unsupported, "a match without host or connection");
            return -1;
        }
        if (truthy(CUR(c->f_nofail))) {
            c->ignored++;
            return 0;
        }
        return emit(c, lineno, r->index, epoch, CUR(c->f_ip4), CUR(c->f_ip6), CUR(c->f_dns),
                    CUR(c->f_user));
    }
    double now = monotonic_now();
    uint64_t hash = hash_bytes(conn_key.p, conn_key.n);
    Conn *known = lookup(c, conn_key.p, conn_key.n, hash, now);
    int gained = 0, forget = 0;
    if (truthy(CUR(c->f_mlfgained))) {
        gained = 1;
        if (!truthy(CUR(c->f_nofail)) && c->f_nofail >= 0) cur[c->f_nofail] = cur[c->f_mlfgained];
    }
    if (truthy(CUR(c->f_mlfforget))) forget = 1;
    if (c->f_mlfforget >= 0) cur[c->f_mlfforget] = none; /* popped */
    Conn temp;
    Conn *fields;
    Conn *dropped = NULL;
    int users = 0;
    if (known != NULL) {
        if (add_user(known, CUR(c->f_user)) < 0) return PyErr_NoMemory(), -1;
        users = known->nusers;
        if (c->f_nofail >= 0) set_val(known, c->f_nofail, none);
        if (c->f_mlfgained >= 0) set_val(known, c->f_mlfgained, none);
        if (gained) known->pending = 0;
        for (int f = 0; f < c->nfields; f++)
            if (cur[f].p != NULL && set_val(known, f, cur[f]) < 0) return PyErr_NoMemory(), -1;
        fields = known;
        if (forget) {
            unlink_conn(c, known);
            dropped = known;
        }
    } else if (!forget) {
        Conn *fresh = calloc(1, sizeof *fresh);
        if (fresh == NULL) return PyErr_NoMemory(), -1;
        fresh->key = copy_bytes(conn_key.p, conn_key.n);
        fresh->klen = conn_key.n;
        fresh->hash = hash;
        int bad = fresh->key == NULL;
        for (int f = 0; f < c->nfields && !bad; f++) bad = set_val(fresh, f, cur[f]) < 0;
        if (bad || add_user(fresh, CUR(c->f_user)) < 0) {
            free_conn(fresh, c->nfields);
            return PyErr_NoMemory(), -1;
        }
        users = fresh->nusers;
        remember(c, fresh, now);
        fields = fresh;
    } else {
        memset(&temp, 0, sizeof temp); /* a view of this line's fields, nothing owned */
        for (int f = 0; f < c->nfields; f++) {
            temp.val[f] = (char *)cur[f].p;
            temp.vlen[f] = cur[f].n;
        }
        fields = &temp;
    }
    int pending = fields->pending;
    fields->pending = 0;
    if (pending || users > 1) {
        if (fields == &temp) {
            if (c->f_nofail >= 0) temp.val[c->f_nofail] = NULL;
            if (c->f_mlfgained >= 0) temp.val[c->f_mlfgained] = NULL;
        } else {
            if (c->f_nofail >= 0) set_val(fields, c->f_nofail, none);
            if (c->f_mlfgained >= 0) set_val(fields, c->f_mlfgained, none);
        }
    }
    int rc = 0;
    Span ip4 = get_val(fields, c->f_ip4), ip6 = get_val(fields, c->f_ip6),
         dns = get_val(fields, c->f_dns);
    if (truthy(get_val(fields, c->f_nofail))) {
        c->ignored++;
    } else if (ip4.p == NULL && ip6.p == NULL && dns.p == NULL) {
        fields->pending = 1; /* the connection names no one yet */
    } else {
        rc = emit(c, lineno, r->index, epoch, ip4, ip6, dns, get_val(fields, c->f_user));
    }
    free_conn(dropped, c->nfields);
#undef CUR
    return rc;
}

/* Ask Python for the epoch of `first` if the conversion runs one for one up
 * to `last`, `span` seconds later; NAN if not. */
static int ask_epoch(Core *c, const char *first, const char *last, int span, double *out) {
    PyObject *value = PyObject_CallFunction(c->minute_cb, "ssi", first, last, span);
    if (value == NULL) return -1;
    *out = NAN;
    if (value != Py_None) {
        *out = PyFloat_AsDouble(value);
        if (*out == -1.0 && PyErr_Occurred()) return Py_DECREF(value), -1;
    }
    Py_DECREF(value);
    return 0;
}

/* ISO 8601: the year is written and a zone may be, so only a time zone
 * change without a written zone breaks an hour (then Python takes the file). */
static int iso_epoch(Core *c, const LineResult *r, double *epoch) {
    const char *zone = r->line + r->zone_off;
    int index = -1;
    for (int i = 0; i < c->nzones; i++)
        if (strlen(c->zones[i]) == r->zone_len && memcmp(c->zones[i], zone, r->zone_len) == 0)
            index = i;
    if (index < 0) {
        if (c->nzones == MAX_ZONES) {
            PyErr_SetString(Unsupported, "too many time zone spellings");
            return -1;
        }
        index = c->nzones++;
        memcpy(c->zones[index], zone, r->zone_len);
        c->zones[index][r->zone_len] = 0;
        c->iso_hours[index] = malloc(sizeof(double) * ISO_HOURS);
        if (c->iso_hours[index] == NULL) return PyErr_NoMemory(), -1;
        for (int i = 0; i < ISO_HOURS; i++) c->iso_hours[index][i] = NAN;
    }
    int hour = r->minute / 60, minute = r->minute % 60;
    double base = c->iso_hours[index][hour];
    if (isnan(base)) {
        char first[32], last[32];
        snprintf(first, sizeof first, "%.13s:00:00%s", r->line, c->zones[index]);
        snprintf(last, sizeof last, "%.13s:59:59%s", r->line, c->zones[index]);
        if (ask_epoch(c, first, last, 3599, &base) < 0) return -1;
        if (isnan(base)) {
            PyErr_SetString(Unsupported, "an hour that does not convert one for one");
            return -1;
        }
        c->iso_hours[index][hour] = base;
    }
    *epoch = base + 60.0 * minute + r->second;
    return 0;
}

/* The epoch of a line's timestamp: by hour when the whole hour converts one
 * for one (a time zone change or a year guess inside it would show as a jump
 * between its ends), else by minute, else the Python matcher takes the file. */
static int epoch_of(Core *c, const LineResult *r, double *epoch) {
    if (r->iso) return iso_epoch(c, r, epoch);
    int hour = r->minute / 60, minute = r->minute % 60;
    double base = c->hours[hour];
    char hh[9], mm[9];
    if (isnan(base)) {
        memcpy(hh, r->line + 7, 2);
        memcpy(hh + 2, ":00:00", 7);
        memcpy(mm, r->line + 7, 2);
        memcpy(mm + 2, ":59:59", 7);
        char first[DATE_LEN + 1], last[DATE_LEN + 1];
        snprintf(first, sizeof first, "%.7s%s", r->line, hh);
        snprintf(last, sizeof last, "%.7s%s", r->line, mm);
        if (ask_epoch(c, first, last, 3599, &base) < 0) return -1;
        c->hours[hour] = base = isnan(base) ? INFINITY : base;
    }
    if (!isinf(base)) {
        *epoch = base + 60.0 * minute + r->second;
        return 0;
    }
    base = c->minutes[r->minute];
    if (isnan(base)) {
        memcpy(hh, r->line + 7, 6);
        memcpy(hh + 6, "00", 3);
        memcpy(mm, r->line + 7, 6);
        memcpy(mm + 6, "59", 3);
        char first[DATE_LEN + 1], last[DATE_LEN + 1];
        snprintf(first, sizeof first, "%.7s%s", r->line, hh);
        snprintf(last, sizeof last, "%.7s%s", r->line, mm);
        if (ask_epoch(c, first, last, 59, &base) < 0) return -1;
        if (isnan(base)) {
            PyErr_SetString(Unsupported, "a timestamp the minute rule cannot convert");
            return -1;
        }
        c->minutes[r->minute] = base;
    }
    *epoch = base + r->second;
    return 0;
}

static int ensure_scratch(Core *c, size_t n) {
    if (n <= c->scratch_cap) return 0;
    char *buffer = realloc(c->scratch, n);
    if (buffer == NULL) return -1;
    c->scratch = buffer;
    c->scratch_cap = n;
    return 0;
}

static int consume(Core *c, Worker *w, int64_t base) {
    Span local[MAX_FIELDS];
    for (size_t i = 0; i < w->nres; i++) {
        LineResult *r = &w->res[i];
        Span *fields = w->spans + i * (size_t)c->nfields;
        int64_t lineno = base + r->lineno;
        if (r->kind == K_SEQ) { /* the cut text needs a copy ending with '\n' */
            size_t n = r->len - r->date_len;
            if (ensure_scratch(c, n + 2) < 0) return PyErr_NoMemory(), -1;
            memcpy(c->scratch, r->line + r->date_len, n);
            c->scratch[n] = '\n';
            const char *reason = NULL;
            int kind = match_text(c, c->scratch, n + 1, &c->md, local, &r->index, &reason);
            if (kind == K_SEQ) {
                /* content not at the end of the text: leave it to Python */
                kind = K_ABORT;
                reason = "a content group that does not end the line";
            }
            r->kind = (uint8_t)kind;
            r->reason = reason;
            fields = local;
        }
        if (r->kind == K_ABORT) {
            PyErr_Format(Unsupported, "line %lld: %s", (long long)lineno, r->reason);
            return -1;
        }
        if (r->kind == K_SKIP) continue;
        double epoch;
        if (epoch_of(c, r, &epoch) < 0) return -1;
        if (r->kind == K_IGNORED)
            c->ignored++;
        else if (r->kind == K_MATCH && settle(c, r, fields, lineno, epoch) < 0)
            return -1;
    }
    return 0;
}

/* Match a chunk of whole lines, two threads when it is large. */
static int process_chunk(Core *c, const char *start, const char *end, Worker *ws) {
    int nworkers = 1;
    const char *split = end;
    if ((size_t)(end - start) >= SPLIT_MIN) {
        const char *middle = start + (end - start) / 2;
        const char *nl = memchr(middle, '\n', (size_t)(end - middle));
        if (nl != NULL && nl + 1 < end) {
            split = nl + 1;
            nworkers = 2;
        }
    }
    ws[0].start = start;
    ws[0].end = split;
    ws[1].start = split;
    ws[1].end = end;
    for (int i = 0; i < 2; i++) ws[i].nres = 0, ws[i].nlines = 0, ws[i].nomem = 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_t thread;
    int started = nworkers == 2 && pthread_create(&thread, NULL, work, &ws[1]) == 0;
    work(&ws[0]);
    if (nworkers == 2) {
        if (started)
            pthread_join(thread, NULL);
        else
            work(&ws[1]);
    }
    Py_END_ALLOW_THREADS
    int64_t base = c->lines;
    for (int i = 0; i < nworkers; i++) {
        if (ws[i].nomem) return PyErr_NoMemory(), -1;
        if (consume(c, &ws[i], base) < 0) return -1;
        base += ws[i].nlines;
    }
    c->lines = base;
    return 0;
}

/* ---- the Python type ---- */

static void Core_dealloc(Core *c) {
    free_rx(&c->pref);
    for (int i = 0; i < c->nfail; i++) free_rx(&c->fail[i]);
    free(c->fail);
    if (c->combined) P2.code_free(c->combined);
    for (int i = 0; i < c->nignore; i++)
        if (c->ignore[i]) P2.code_free(c->ignore[i]);
    free(c->ignore);
    for (int i = 0; i < c->nneedles; i++) free(c->needle[i]);
    free(c->needle);
    free(c->needle_len);
    free(c->bigram);
    free(c->chain);
    free(c->pairs_seen);
    free(c->minutes);
    for (int i = 0; i < MAX_ZONES; i++) free(c->iso_hours[i]);
    free(c->hours);
    for (size_t i = 0; i < c->hosts.cap; i++) free(c->hosts.slots[i].text);
    free(c->hosts.slots);
    for (int i = 0; i < c->nconns; i++) free_conn(c->conns[i], c->nfields);
    free(c->regex_hits);
    matcher_free(&c->md);
    free(c->scratch);
    Py_XDECREF(c->minute_cb);
    Py_XDECREF(c->failures);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static int Core_init(Core *c, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"nfields", "specials", "prefregex", "combined", "failregex",
                            "ignoreregex", "ignore_first", "needles", "skip_comments",
                            "minute", "want_failures", NULL};
    PyObject *specials, *pref, *combined, *fails, *ignores, *needles, *minute;
    if (c->minutes != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Core is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iOOOOOpOpOp", names, &c->nfields, &specials,
                                     &pref, &combined, &fails, &ignores, &c->ignore_first,
                                     &needles, &c->skip_comments, &minute, &c->want_failures))
        return -1;
    if (c->nfields < 1 || c->nfields > MAX_FIELDS) {
        PyErr_SetString(Unsupported, "too many fields");
        return -1;
    }
    if (!PyArg_ParseTuple(specials, "iiiiiiii", &c->f_mlfid, &c->f_user, &c->f_ip4, &c->f_ip6,
                          &c->f_dns, &c->f_nofail, &c->f_mlfforget, &c->f_mlfgained))
        return -1;
    int *sp[] = {&c->f_mlfid, &c->f_user, &c->f_ip4, &c->f_ip6,
                 &c->f_dns, &c->f_nofail, &c->f_mlfforget, &c->f_mlfgained};
    for (int i = 0; i < 8; i++)
        if (*sp[i] < -1 || *sp[i] >= c->nfields) {
            PyErr_SetString(PyExc_ValueError, "special field out of range");
            return -1;
        }
    if (!PyCallable_Check(minute) || !PyList_Check(fails) || !PyList_Check(ignores) ||
        !PyList_Check(needles)) {
        PyErr_SetString(PyExc_TypeError, "bad Core arguments");
        return -1;
    }
    Py_INCREF(minute);
    c->minute_cb = minute;
    c->pairs = 1;
    c->pref_content = -1;
    if (pref != Py_None) {
        PyObject *rx, *content;
        if (!PyArg_ParseTuple(pref, "OO", &rx, &content)) return -1;
        if (parse_rx(c, &c->pref, rx, NULL) < 0) return -1;
        c->has_pref = 1;
        if (content != Py_None) {
            if (!PyBytes_Check(content)) return PyErr_SetString(PyExc_TypeError, "content"), -1;
            c->pref_content = P2.number_from_name(c->pref.code,
                                                  (PCRE2_SPTR)PyBytes_AS_STRING(content));
            if (c->pref_content <= 0) return PyErr_SetString(Unsupported, "content group"), -1;
        }
    }
    if (combined != Py_None) {
        /* anchored when compiled: the JIT ignores PCRE2_ANCHORED given at match time */
        c->combined = compile_pattern(combined, P2_ANCHORED);
        if (c->combined == NULL || note_pairs(c, c->combined) < 0) return -1;
    }
    c->nfail = (int)PyList_GET_SIZE(fails);
    if (c->nfail < 1 || c->nfail > 30000) return PyErr_SetString(Unsupported, "failregex count"), -1;
    c->fail = calloc((size_t)c->nfail, sizeof(Rx));
    if (c->fail == NULL) return PyErr_NoMemory(), -1;
    for (int i = 0; i < c->nfail; i++) {
        if (parse_rx(c, &c->fail[i], PyList_GET_ITEM(fails, i), c->combined) < 0) return -1;
        if (c->combined != NULL ? c->fail[i].marker <= 0 : c->fail[i].code == NULL)
            return PyErr_SetString(PyExc_ValueError, "failregex spec"), -1;
    }
    c->nignore = (int)PyList_GET_SIZE(ignores);
    c->ignore = calloc((size_t)c->nignore + 1, sizeof(pcre2_code *));
    if (c->ignore == NULL) return PyErr_NoMemory(), -1;
    for (int i = 0; i < c->nignore; i++) {
        c->ignore[i] = compile_pattern(PyList_GET_ITEM(ignores, i), 0);
        if (c->ignore[i] == NULL || note_pairs(c, c->ignore[i]) < 0) return -1;
    }
    Py_ssize_t nneedles = PyList_GET_SIZE(needles);
    c->needle = calloc((size_t)nneedles + 1, sizeof(char *));
    c->needle_len = calloc((size_t)nneedles + 1, sizeof(uint32_t));
    c->bigram = calloc(65536, sizeof(uint16_t));
    c->chain = calloc((size_t)nneedles + 1, sizeof(uint16_t));
    c->pairs_seen = calloc(65536 / 64, sizeof(uint64_t));
    if (!c->needle || !c->needle_len || !c->bigram || !c->chain || !c->pairs_seen)
        return PyErr_NoMemory(), -1;
    if (nneedles > 60000) return PyErr_SetString(Unsupported, "too many needles"), -1;
    for (Py_ssize_t i = 0; i < nneedles; i++) {
        char *text;
        Py_ssize_t n;
        if (PyBytes_AsStringAndSize(PyList_GET_ITEM(needles, i), &text, &n) < 0) return -1;
        if (n < 2) { /* too short for the two-byte table: every line is a candidate */
            for (int k = 0; k < c->nneedles; k++) free(c->needle[k]);
            c->nneedles = 0;
            memset(c->bigram, 0, 65536 * sizeof(uint16_t));
            memset(c->pairs_seen, 0, 65536 / 8);
            break;
        }
        c->needle[c->nneedles] = copy_bytes(text, (size_t)n);
        if (c->needle[c->nneedles] == NULL) return PyErr_NoMemory(), -1;
        int key = (unsigned char)text[0] | ((unsigned char)text[1] << 8);
        c->chain[c->nneedles] = c->bigram[key];
        c->needle_len[c->nneedles++] = (uint32_t)n;
        c->bigram[key] = (uint16_t)c->nneedles;
        c->pairs_seen[key >> 6] |= (uint64_t)1 << (key & 63);
    }
    c->minutes = malloc(sizeof(double) * MINUTES);
    c->hours = malloc(sizeof(double) * HOURS);
    c->regex_hits = calloc((size_t)c->nfail, sizeof(long long));
    int no_matcher = matcher_init(&c->md, c->pairs) < 0;
    c->failures = c->want_failures ? PyList_New(0) : NULL;
    if (!c->minutes || !c->hours || !c->regex_hits || no_matcher) return PyErr_NoMemory(), -1;
    if (c->want_failures && !c->failures) return -1;
    for (int i = 0; i < MINUTES; i++) c->minutes[i] = NAN;
    for (int i = 0; i < HOURS; i++) c->hours[i] = NAN;
    return 0;
}

/* scan_fd(fd): read the whole file from its current offset and match it. */
static PyObject *Core_scan_fd(Core *c, PyObject *arg) {
    int fd = PyLong_AsLong(arg) < 0 ? -1 : (int)PyLong_AsLong(arg);
    if (fd < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad file descriptor");
        return NULL;
    }
    if (c->minutes == NULL) return PyErr_SetString(PyExc_RuntimeError, "Core not initialised"), NULL;
    size_t cap = BLOCK_SIZE + MAX_LINE;
    char *buffer = malloc(cap);
    Worker ws[2];
    memset(ws, 0, sizeof ws);
    int failed = buffer == NULL;
    for (int i = 0; i < 2 && !failed; i++) {
        ws[i].core = c;
        failed = matcher_init(&ws[i].md, c->pairs) < 0;
    }
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    size_t have = 0;
    for (;;) {
        ssize_t got;
        Py_BEGIN_ALLOW_THREADS
        got = read(fd, buffer + have, cap - have < BLOCK_SIZE ? cap - have : BLOCK_SIZE);
        Py_END_ALLOW_THREADS
        if (got < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0) goto fail;
                continue;
            }
            PyErr_SetFromErrno(PyExc_OSError);
            goto fail;
        }
        have += (size_t)got;
        if (got == 0) { /* end of file: the rest, with or without a final newline */
            if (have && process_chunk(c, buffer, buffer + have, ws) < 0) goto fail;
            break;
        }
        const char *last = NULL;
        for (size_t i = have; i > 0; i--)
            if (buffer[i - 1] == '\n') {
                last = buffer + i;
                break;
            }
        if (last == NULL) {
            if (have >= MAX_LINE) {
                PyErr_SetString(Unsupported, "a line longer than the native reader takes");
                goto fail;
            }
            continue;
        }
        if (process_chunk(c, buffer, last, ws) < 0) goto fail;
        have -= (size_t)(last - buffer);
        memmove(buffer, last, have);
        if (have >= MAX_LINE) {
            PyErr_SetString(Unsupported, "a line longer than the native reader takes");
            goto fail;
        }
        if (PyErr_CheckSignals() < 0) goto fail;
    }
    failed = 0;
    goto done;
fail:
    failed = 1;
done:
    for (int i = 0; i < 2; i++) {
        free(ws[i].res);
        free(ws[i].spans);
        matcher_free(&ws[i].md);
    }
    free(buffer);
    if (failed) return NULL;
    Py_RETURN_NONE;
}

/* result() -> (lines, matched, ignored, [(address, family, count)], regex_hits, failures) */
static PyObject *Core_result(Core *c, PyObject *unused) {
    (void)unused;
    if (c->minutes == NULL) return PyErr_SetString(PyExc_RuntimeError, "Core not initialised"), NULL;
    PyObject *hits = PyList_New(c->nfail);
    PyObject *hosts = PyList_New(0);
    if (hits == NULL || hosts == NULL) goto fail;
    for (int i = 0; i < c->nfail; i++) {
        PyObject *n = PyLong_FromLongLong(c->regex_hits[i]);
        if (n == NULL) goto fail;
        PyList_SET_ITEM(hits, i, n);
    }
    for (size_t i = 0; i < c->hosts.cap; i++) {
        Host *h = &c->hosts.slots[i];
        if (h->text == NULL) continue;
        PyObject *item = Py_BuildValue("(s#iL)", h->text, (Py_ssize_t)h->len, h->family, h->count);
        int rc = item ? PyList_Append(hosts, item) : -1;
        Py_XDECREF(item);
        if (rc < 0) goto fail;
    }
    PyObject *failures = c->failures ? c->failures : Py_None;
    return Py_BuildValue("(LLLNNO)", c->lines, c->matched, c->ignored, hosts, hits, failures);
fail:
    Py_XDECREF(hits);
    Py_XDECREF(hosts);
    return NULL;
}

/* match(text) -> (kind, index, {field: value}): one cut text, for tests. */
static PyObject *Core_match(Core *c, PyObject *arg) {
    char *text;
    Py_ssize_t n;
    if (c->minutes == NULL) return PyErr_SetString(PyExc_RuntimeError, "Core not initialised"), NULL;
    if (PyBytes_AsStringAndSize(arg, &text, &n) < 0) return NULL;
    Span fields[MAX_FIELDS];
    int16_t index = -1;
    const char *reason = NULL;
    int kind = match_text(c, text, (size_t)n, &c->md, fields, &index, &reason);
    if (kind == K_ABORT) return PyErr_SetString(Unsupported, reason ? reason : "abort"), NULL;
    PyObject *values = PyDict_New();
    if (values == NULL) return NULL;
    if (kind == K_MATCH)
        for (int f = 0; f < c->nfields; f++) {
            if (fields[f].p == NULL) continue;
            PyObject *v = PyBytes_FromStringAndSize(fields[f].p, fields[f].n);
            PyObject *k = PyLong_FromLong(f);
            int rc = (v && k) ? PyDict_SetItem(values, k, v) : -1;
            Py_XDECREF(v);
            Py_XDECREF(k);
            if (rc < 0) return Py_DECREF(values), NULL;
        }
    static const char *kinds[] = {"skip", "missed", "ignored", "matched", "copy", "abort"};
    return Py_BuildValue("(siN)", kinds[kind], (int)index, values);
}

static PyMethodDef Core_methods[] = {
    {"scan_fd", (PyCFunction)Core_scan_fd, METH_O, "Read and match a whole file from fd."},
    {"result", (PyCFunction)Core_result, METH_NOARGS, "Counts, hosts and failures."},
    {"match", (PyCFunction)Core_match, METH_O, "Match one cut text (ends with a newline)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rampart.detect._native.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A filter compiled for the native scanner.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Core_init,
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_methods = Core_methods,
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_native",
    .m_doc = "The native line loop of rampart ban test.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (load_pcre2() < 0) return NULL;
    if (PyType_Ready(&CoreType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Unsupported = PyErr_NewException("rampart.detect._native.Unsupported", NULL, NULL);
    if (Unsupported == NULL || PyModule_AddObjectRef(m, "Unsupported", Unsupported) < 0 ||
        PyModule_AddObjectRef(m, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
