/* The HIDS log rules engine's per-line loop in C (rampart.hids._native).
 *
 * `hids replay` spends its time in Python's work around each line (slices,
 * dict lookups, closures), not in the regexes. This core runs the same three
 * phases as rampart.hids.engine.LogEngine.alerts over a block of lines: the
 * rsyslog header, the decoders, the rule tree with its static conditions and
 * the correlation state, and (text mode) the alert lines themselves.
 *
 * Exactness comes first. The correlation state is the Python Correlation's
 * own dicts and deques, so both engines read and write the same state. A
 * regex runs in PCRE2 only on a subject of ASCII without the bytes 0x1c-0x1f
 * (where rampart.hids.native checked that PCRE2 means what Python's re
 * means); any other subject is handed to the Python pattern. A header shape
 * other than rsyslog's is parsed by the Python parser. PCRE2 is loaded with
 * dlopen, as in rampart.detect._native, so no -dev package is needed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../_pcre2.h"

#define MAX_GROUPS 255 /* the match data's pairs, less the whole match */

static PyObject *Unsupported; /* a rule set the core cannot run exactly */

#define MAX_LINE 16384   /* engine.MAX_LINE, in characters */
#define MAX_FIELDS 64
#define MINUTE_SLOTS 64
#define SEEN_SLOTS 16384  /* a power of two, twice SEEN_MAX */
#define SEEN_MAX 8192     /* engine.SEEN_MESSAGES: messages whose settled verdict is kept */
#define SEEN_LONGEST 1024 /* longer messages are not kept */

/* A message whose verdict needed no state: its decoder, fields (offsets) and rule. */
typedef struct {
    uint64_t hash;
    Py_ssize_t program_len, message_len;
    int decoder, rule, nf;
    struct {
        int id, offset, len; /* offset -1: None */
    } fields[];
    /* then the program's and the message's bytes */
} Seen;

/* ---- matchers ---------------------------------------------------------------------- */

enum { M_REGEX, M_LITERAL, M_PREFIX };

typedef struct {
    int kind;
    pcre2_code *code;
    char *text; /* M_LITERAL / M_PREFIX */
    Py_ssize_t len;
    PyObject *pyregex;  /* re.Pattern: the reference, for subjects PCRE2 may read otherwise */
    int fullmatch;
    int ngroups;        /* named groups, in Python's groupindex order */
    int *group_number;
    int *group_field;
} Matcher;

typedef struct {
    int id;
    const char *p; /* NULL: None */
    Py_ssize_t n;
} Field;

typedef struct {
    int prematch, regex; /* matcher index, -1 none */
    int parent;
    int nchildren;
    int *children;
} Decoder;

typedef struct {
    PyObject *obj, *id_obj, *label; /* the Rule, its id, " level %2d rule %d: " */
    int level;
    char *needle;
    Py_ssize_t needle_len;
    int ntexts;
    char **texts;
    Py_ssize_t *text_lens;
    int decoded_as; /* decoder index; -1 none; -2 a name no decoder has */
    int nprograms;
    int *programs;
    int regex;
    int nfield_tests;
    int *test_field, *test_matcher;
    int user;
    int has_networks, composite, same_source, same_user;
    double ignore, timeframe;
    long frequency;
    int nwatchers, *watchers;
    int nchildren, *children;
    int npieces; /* description: text, field, text, field ... text */
    char **piece_texts;
    Py_ssize_t *piece_lens;
    int *piece_fields;
} Rule;

typedef struct {
    PyObject_HEAD
    int nmatchers, ndecoders, nrules, nprograms, nfields;
    Matcher *matchers;
    Decoder *decoders;
    Rule *rules;
    char **programs;
    Py_ssize_t *program_lens;
    int **by_program; /* decoder lists per program id, -1 terminated */
    int *generic;
    int **roots;      /* (decoder + 1) * (nprograms + 1) + program + 1 -> rule list, -1 ended */
    PyObject *field_names; /* tuple of str */
    int f_srcip, f_user, f_dstuser;
    PyObject *roots_of, *parse, *clock, *state, *source_allowed, *start_quiet;
    PyObject *forget_oldest, *deque;
    long max_keys;
    int alert_level;
    pcre2_match_data *md;
    long *fed;
    long line_no;
    /* minute cache: "Mon dd HH:MM" -> epoch */
    char minute_keys[MINUTE_SLOTS][16];
    double minute_values[MINUTE_SLOTS];
    int minute_used, minute_last;
    long last_second;
    char last_iso[64];
    Py_ssize_t last_iso_len;
    /* the fields of the current line, and the Python objects holding their bytes */
    Field fields[MAX_FIELDS];
    int nf;
    PyObject *keep;
    /* whether the last subject tested was `simple` (the message is tested many times) */
    const char *simple_p;
    Py_ssize_t simple_n;
    int simple_v;
    PyObject *windows; /* the Correlation's _windows (never replaced) */
    int settled;       /* the current line's verdict needed no state */
    Seen **seen;       /* SEEN_SLOTS slots, open addressing ... */
    uint64_t *seen_hash; /* ... and each slot's hash, read without touching the entry */
    int nseen;
} Engine;

static PyObject *S_quiet, *S_append, *S_popleft, *S_clear, *S_search, *S_fullmatch, *S_group;

static int simple(const char *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x80 || (c >= 0x1c && c <= 0x1f)) return 0;
    }
    return 1;
}

/* `needle in hay`: memchr on the first byte, then memcmp (short texts: cheaper than memmem). */
static const char *find(const char *hay, Py_ssize_t n, const char *needle, Py_ssize_t m) {
    if (m == 0) return hay;
    if (m > n) return NULL;
    const char *p = hay, *last = hay + (n - m);
    char first = needle[0];
    while (p <= last) {
        p = memchr(p, first, (size_t)(last - p) + 1);
        if (p == NULL) return NULL;
        if (memcmp(p + 1, needle + 1, (size_t)m - 1) == 0) return p;
        p++;
    }
    return NULL;
}

/* A string the line's lifetime keeps alive (Python extraction): into e->keep. */
static int keep(Engine *e, PyObject *obj) {
    int r = PyList_Append(e->keep, obj);
    Py_DECREF(obj);
    return r;
}

static void set_field(Engine *e, int id, const char *p, Py_ssize_t n) {
    for (int i = 0; i < e->nf; i++) {
        if (e->fields[i].id == id) {
            e->fields[i].p = p;
            e->fields[i].n = n;
            return;
        }
    }
    if (e->nf < MAX_FIELDS) {
        e->fields[e->nf].id = id;
        e->fields[e->nf].p = p;
        e->fields[e->nf].n = n;
        e->nf++;
    }
}

static const Field *get_field(Engine *e, int id) {
    for (int i = 0; i < e->nf; i++)
        if (e->fields[i].id == id) return e->fields[i].p != NULL ? &e->fields[i] : NULL;
    return NULL;
}

/* 1 match, 0 none, -1 error. `extract`: set the named groups as fields. */
static int run_matcher(Engine *e, int index, const char *p, Py_ssize_t n, int extract) {
    Matcher *m = &e->matchers[index];
    if (m->kind == M_LITERAL) return find(p, n, m->text, m->len) != NULL;
    if (m->kind == M_PREFIX) return n >= m->len && memcmp(p, m->text, (size_t)m->len) == 0;
    if (p != e->simple_p || n != e->simple_n) {
        e->simple_p = p;
        e->simple_n = n;
        e->simple_v = simple(p, n);
    }
    if (m->code != NULL && e->simple_v) {
        int rc = P2.match(m->code, (PCRE2_SPTR)p, (PCRE2_SIZE)n, 0, 0, e->md, NULL);
        if (rc == P2_ERROR_NOMATCH) return 0;
        if (rc < 0) goto python; /* a PCRE2 limit (JIT stack, match limit): Python decides */
        if (extract) {
            PCRE2_SIZE *ov = P2.ovector(e->md);
            for (int g = 0; g < m->ngroups; g++) {
                int num = m->group_number[g];
                if (num < rc && ov[2 * num] != P2_UNSET)
                    set_field(e, m->group_field[g], p + ov[2 * num],
                              (Py_ssize_t)(ov[2 * num + 1] - ov[2 * num]));
                else
                    set_field(e, m->group_field[g], NULL, 0);
            }
        }
        return 1;
    }
python:;
    /* The Python pattern decides. */
    PyObject *text = PyUnicode_DecodeUTF8(p, n, "strict");
    if (text == NULL) return -1;
    PyObject *found = PyObject_CallMethodOneArg(m->pyregex, m->fullmatch ? S_fullmatch : S_search,
                                                text);
    Py_DECREF(text);
    if (found == NULL) return -1;
    if (found == Py_None) {
        Py_DECREF(found);
        return 0;
    }
    if (extract) {
        for (int g = 0; g < m->ngroups; g++) {
            PyObject *number = PyLong_FromLong(m->group_number[g]);
            PyObject *value = number ? PyObject_CallMethodOneArg(found, S_group, number) : NULL;
            Py_XDECREF(number);
            if (value == NULL) {
                Py_DECREF(found);
                return -1;
            }
            if (value == Py_None) {
                Py_DECREF(value);
                set_field(e, m->group_field[g], NULL, 0);
                continue;
            }
            Py_ssize_t len;
            const char *utf8 = PyUnicode_AsUTF8AndSize(value, &len);
            if (utf8 == NULL || keep(e, value) < 0) {
                Py_DECREF(found);
                return -1;
            }
            set_field(e, m->group_field[g], utf8, len);
        }
    }
    Py_DECREF(found);
    return 1;
}

/* A decoder takes the message: prematch, then regex (its fields). */
static int takes(Engine *e, Decoder *d, const char *msg, Py_ssize_t n) {
    if (d->prematch >= 0) {
        int r = run_matcher(e, d->prematch, msg, n, 0);
        if (r <= 0) return r;
    }
    if (d->regex >= 0) return run_matcher(e, d->regex, msg, n, 1);
    return 1;
}

/* The deepest decoder (index, -1 none) and its fields (in e->fields). */
static int decode(Engine *e, int program, const char *msg, Py_ssize_t n) {
    int *groups[2] = {program >= 0 ? e->by_program[program] : NULL, e->generic};
    for (int gi = 0; gi < 2; gi++) {
        int *list = groups[gi];
        if (list == NULL) continue;
        for (int i = 0; list[i] >= 0; i++) {
            int node = list[i];
            e->nf = 0;
            int r = takes(e, &e->decoders[node], msg, n);
            if (r < 0) return -2;
            if (r == 0) continue;
            for (;;) {
                Decoder *d = &e->decoders[node];
                int next = -1;
                for (int c = 0; c < d->nchildren; c++) {
                    r = takes(e, &e->decoders[d->children[c]], msg, n);
                    if (r < 0) return -2;
                    if (r > 0) {
                        next = d->children[c];
                        break;
                    }
                }
                if (next < 0) break;
                node = next;
            }
            return node;
        }
    }
    e->nf = 0;
    return -1;
}

/* ---- correlation, on the Python Correlation's dicts -------------------------------- */

/* The value of `fields.get(a) or fields.get(b)` (NULL: neither holds text). */
static const Field *user_of(Engine *e) {
    const Field *u = get_field(e, e->f_user);
    if (u != NULL && u->n > 0) return u;
    u = get_field(e, e->f_dstuser);
    return (u != NULL && u->n > 0) ? u : NULL;
}

/* correlation._group_key as a new str; Py_None (new ref) when it has none. */
static PyObject *group_key(Engine *e, Rule *r) {
    if (r->same_source) {
        const Field *s = get_field(e, e->f_srcip);
        if (s == NULL || s->n == 0) Py_RETURN_NONE;
        if (!r->same_user) return PyUnicode_DecodeUTF8(s->p, s->n, "strict");
        const Field *u = user_of(e);
        if (u == NULL) Py_RETURN_NONE;
        PyObject *a = PyUnicode_DecodeUTF8(s->p, s->n, "strict");
        PyObject *b = PyUnicode_DecodeUTF8(u->p, u->n, "strict");
        PyObject *key = (a && b) ? PyUnicode_FromFormat("%U%c%U", a, 0, b) : NULL;
        Py_XDECREF(a);
        Py_XDECREF(b);
        return key;
    }
    if (r->same_user) {
        const Field *u = user_of(e);
        if (u == NULL) Py_RETURN_NONE;
        return PyUnicode_DecodeUTF8(u->p, u->n, "strict");
    }
    return PyUnicode_FromStringAndSize("", 0);
}

static PyObject *quiet_key(Engine *e, Rule *r) {
    if (r->composite) {
        PyObject *key = group_key(e, r);
        if (key != Py_None) return key;
        Py_DECREF(key);
        return PyUnicode_FromStringAndSize("", 0);
    }
    const Field *s = get_field(e, e->f_srcip);
    if (s == NULL) return PyUnicode_FromStringAndSize("", 0);
    return PyUnicode_DecodeUTF8(s->p, s->n, "strict");
}

/* {srcip, user, dstuser}: all that correlation's Python helpers read. */
static PyObject *key_fields(Engine *e) {
    PyObject *dict = PyDict_New();
    if (dict == NULL) return NULL;
    int ids[3] = {e->f_srcip, e->f_user, e->f_dstuser};
    for (int i = 0; i < 3; i++) {
        const Field *f = get_field(e, ids[i]);
        if (f == NULL) continue;
        PyObject *v = PyUnicode_DecodeUTF8(f->p, f->n, "strict");
        if (v == NULL || PyDict_SetItem(dict, PyTuple_GET_ITEM(e->field_names, ids[i]), v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(dict);
            return NULL;
        }
        Py_DECREF(v);
    }
    return dict;
}

static PyObject *state_dict(Engine *e, PyObject *name) {
    if (name == NULL) return Py_NewRef(e->windows);
    return PyObject_GetAttr(e->state, name); /* new ref: _quiet is replaced when pruned */
}

/* correlation._frequent: 1, 0, -1 error. */
static int frequent(Engine *e, Rule *r, double stamp) {
    PyObject *key = group_key(e, r);
    if (key == NULL) return -1;
    if (key == Py_None) {
        Py_DECREF(key);
        return 0;
    }
    PyObject *all = state_dict(e, NULL);
    if (all == NULL) {
        Py_DECREF(key);
        return -1;
    }
    PyObject *windows = PyDict_GetItemWithError(all, r->id_obj);
    PyObject *window = windows != NULL ? PyDict_GetItemWithError(windows, key) : NULL;
    Py_DECREF(all);
    Py_DECREF(key);
    if (window == NULL) return PyErr_Occurred() ? -1 : 0;
    Py_INCREF(window);
    double oldest = stamp - r->timeframe;
    int result = 0;
    for (;;) {
        Py_ssize_t len = PySequence_Size(window);
        if (len < 0) goto fail;
        if (len == 0) break;
        PyObject *first = PySequence_GetItem(window, 0);
        if (first == NULL) goto fail;
        double value = PyFloat_AsDouble(first);
        Py_DECREF(first);
        if (value == -1.0 && PyErr_Occurred()) goto fail;
        if (!(value < oldest)) break;
        PyObject *gone = PyObject_CallMethodNoArgs(window, S_popleft);
        if (gone == NULL) goto fail;
        Py_DECREF(gone);
    }
    Py_ssize_t len = PySequence_Size(window);
    if (len < 0) goto fail;
    if (len >= r->frequency) {
        PyObject *done = PyObject_CallMethodNoArgs(window, S_clear);
        if (done == NULL) goto fail;
        Py_DECREF(done);
        result = 1;
    }
    Py_DECREF(window);
    return result;
fail:
    Py_DECREF(window);
    return -1;
}

/* correlation.allows: 1, 0, -1 error. */
static int allows(Engine *e, Rule *r, double stamp) {
    if (r->has_networks) {
        const Field *s = get_field(e, e->f_srcip);
        PyObject *src = s != NULL ? PyUnicode_DecodeUTF8(s->p, s->n, "strict") : Py_NewRef(Py_None);
        if (src == NULL) return -1;
        PyObject *ok = PyObject_CallFunctionObjArgs(e->source_allowed, r->obj, src, NULL);
        Py_DECREF(src);
        if (ok == NULL) return -1;
        int yes = PyObject_IsTrue(ok);
        Py_DECREF(ok);
        if (yes <= 0) return yes;
    }
    if (r->ignore > 0) {
        PyObject *qk = quiet_key(e, r);
        if (qk == NULL) return -1;
        PyObject *key = PyTuple_Pack(2, r->id_obj, qk);
        Py_DECREF(qk);
        if (key == NULL) return -1;
        PyObject *quiet = state_dict(e, S_quiet);
        if (quiet == NULL) {
            Py_DECREF(key);
            return -1;
        }
        PyObject *until = PyDict_GetItemWithError(quiet, key);
        Py_DECREF(key);
        if (until == NULL && PyErr_Occurred()) {
            Py_DECREF(quiet);
            return -1;
        }
        if (until != NULL && until != Py_None) {
            double value = PyFloat_AsDouble(until);
            Py_DECREF(quiet);
            if (value == -1.0 && PyErr_Occurred()) return -1;
            if (value > stamp) return 0;
        } else {
            Py_DECREF(quiet);
        }
    }
    if (!r->composite) return 1;
    return frequent(e, r, stamp);
}

/* correlation.count for one watcher. */
static int count(Engine *e, Rule *w, PyObject *stamp_obj) {
    PyObject *key = group_key(e, w);
    if (key == NULL) return -1;
    if (key == Py_None) {
        Py_DECREF(key);
        return 0;
    }
    PyObject *all = state_dict(e, NULL);
    if (all == NULL) goto fail_key;
    PyObject *windows = PyDict_GetItemWithError(all, w->id_obj);
    if (windows == NULL) {
        if (PyErr_Occurred()) goto fail_all;
        windows = PyDict_New();
        if (windows == NULL || PyDict_SetItem(all, w->id_obj, windows) < 0) {
            Py_XDECREF(windows);
            goto fail_all;
        }
        Py_DECREF(windows); /* `all` holds it */
    }
    PyObject *window = PyDict_GetItemWithError(windows, key);
    if (window == NULL) {
        if (PyErr_Occurred()) goto fail_all;
        if (PyDict_GET_SIZE(windows) >= e->max_keys) {
            PyObject *done = PyObject_CallFunctionObjArgs(e->forget_oldest, windows, NULL);
            if (done == NULL) goto fail_all;
            Py_DECREF(done);
        }
        PyObject *size = PyLong_FromLong(w->frequency);
        if (size == NULL) goto fail_all;
        PyObject *kwargs = Py_BuildValue("{s:N}", "maxlen", size);
        PyObject *empty = PyTuple_New(0);
        window = (kwargs && empty) ? PyObject_Call(e->deque, empty, kwargs) : NULL;
        Py_XDECREF(kwargs);
        Py_XDECREF(empty);
        if (window == NULL || PyDict_SetItem(windows, key, window) < 0) {
            Py_XDECREF(window);
            goto fail_all;
        }
        Py_DECREF(window); /* `windows` holds it */
    }
    PyObject *done = PyObject_CallMethodOneArg(window, S_append, stamp_obj);
    Py_DECREF(all);
    Py_DECREF(key);
    if (done == NULL) return -1;
    Py_DECREF(done);
    return 0;
fail_all:
    Py_DECREF(all);
fail_key:
    Py_DECREF(key);
    return -1;
}

/* ---- the rule walk ------------------------------------------------------------------ */

static int *roots_for(Engine *e, int decoder, int program) {
    Py_ssize_t slot = (Py_ssize_t)(decoder + 1) * (e->nprograms + 1) + program + 1;
    if (e->roots[slot] != NULL) return e->roots[slot];
    PyObject *found = PyObject_CallFunction(e->roots_of, "ii", decoder, program);
    if (found == NULL) return NULL;
    PyObject *seq = PySequence_Fast(found, "roots: a sequence");
    Py_DECREF(found);
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int *list = PyMem_Calloc((size_t)n + 1, sizeof(int));
    if (list == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
        if (v < 0 || v >= e->nrules) {
            Py_DECREF(seq);
            PyMem_Free(list);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "roots: bad rule index");
            return NULL;
        }
        list[i] = (int)v;
    }
    list[n] = -1;
    Py_DECREF(seq);
    e->roots[slot] = list;
    return list;
}

static int has_ancestor(Engine *e, int decoder, int wanted) {
    for (int d = decoder; d >= 0; d = e->decoders[d].parent)
        if (d == wanted) return 1;
    return 0;
}

/* 1 the static conditions hold, 0 not, -1 error. */
static int static_ok(Engine *e, Rule *r, int decoder, int program, const char *msg,
                     Py_ssize_t n) {
    if (r->needle != NULL && find(msg, n, r->needle, r->needle_len) == NULL) return 0;
    if (r->decoded_as != -1 && (r->decoded_as < 0 || !has_ancestor(e, decoder, r->decoded_as)))
        return 0;
    if (r->nprograms > 0) {
        int in = 0;
        for (int i = 0; i < r->nprograms; i++) in |= r->programs[i] == program;
        if (!in || program < 0) return 0;
    }
    if (r->ntexts > 0) {
        int any = 0;
        for (int i = 0; i < r->ntexts && !any; i++)
            any = find(msg, n, r->texts[i], r->text_lens[i]) != NULL;
        if (!any) return 0;
    }
    if (r->regex >= 0) {
        int ok = run_matcher(e, r->regex, msg, n, 0);
        if (ok <= 0) return ok;
    }
    for (int i = 0; i < r->nfield_tests; i++) {
        const Field *f = get_field(e, r->test_field[i]);
        if (f == NULL) return 0;
        int ok = run_matcher(e, r->test_matcher[i], f->p, f->n, 0);
        if (ok <= 0) return ok;
    }
    if (r->user >= 0) {
        const Field *u = user_of(e);
        if (u == NULL) {
            /* `fields.get("user") or fields.get("dstuser")`: an empty dstuser is tested. */
            u = get_field(e, e->f_dstuser);
            if (u == NULL) return 0;
        }
        int ok = run_matcher(e, r->user, u->p, u->n, 0);
        if (ok <= 0) return ok;
    }
    return 1;
}

/* The rule judging the line (index, -1 none, -2 error). */
static int judge(Engine *e, int decoder, int program, const char *msg, Py_ssize_t n,
                 double stamp, PyObject **stamp_obj) {
    int best = -1;
    int *candidates = roots_for(e, decoder, program);
    if (candidates == NULL) return -2;
    e->line_no++;
    e->settled = 1;
    while (candidates != NULL) {
        int chosen = -1;
        for (int i = 0; candidates[i] >= 0; i++) {
            Rule *r = &e->rules[candidates[i]];
            int ok = static_ok(e, r, decoder, program, msg, n);
            if (ok < 0) return -2;
            if (!ok) continue;
            if (r->has_networks || r->ignore > 0 || r->composite) {
                e->settled = 0;
                ok = allows(e, r, stamp);
                if (ok < 0) return -2;
                if (!ok) continue;
            }
            if (r->nwatchers > 0) e->settled = 0;
            for (int w = 0; w < r->nwatchers; w++) {
                int wi = r->watchers[w];
                if (e->fed[wi] == e->line_no) continue;
                e->fed[wi] = e->line_no;
                if (*stamp_obj == NULL && (*stamp_obj = PyFloat_FromDouble(stamp)) == NULL)
                    return -2;
                if (count(e, &e->rules[wi], *stamp_obj) < 0) return -2;
            }
            chosen = candidates[i];
            break;
        }
        if (chosen < 0) break;
        best = chosen;
        candidates = e->rules[chosen].nchildren > 0 ? e->rules[chosen].children : NULL;
    }
    if (best >= 0 && e->rules[best].ignore > 0) {
        PyObject *fields = key_fields(e);
        if (fields == NULL) return -2;
        if (*stamp_obj == NULL && (*stamp_obj = PyFloat_FromDouble(stamp)) == NULL) {
            Py_DECREF(fields);
            return -2;
        }
        PyObject *done = PyObject_CallFunctionObjArgs(e->start_quiet, e->rules[best].obj, fields,
                                                      *stamp_obj, NULL);
        Py_DECREF(fields);
        if (done == NULL) return -2;
        Py_DECREF(done);
    }
    return best;
}

/* ---- the header -------------------------------------------------------------------- */

static int is_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* syslog._RFC3164 on an ASCII header: 1 found, 0 no match, -1 unsure (a non-ASCII byte). */
static int rfc3164(const unsigned char *s, Py_ssize_t n, Py_ssize_t *minute_end,
                   Py_ssize_t *prog, Py_ssize_t *prog_len, Py_ssize_t *end) {
    Py_ssize_t i = 0;
#define NEED(cond)                                                                           \
    do {                                                                                     \
        if (i >= n) return 0;                                                                \
        if (s[i] >= 0x80) return -1;                                                         \
        if (!(cond)) return 0;                                                               \
    } while (0)
    NEED(s[i] >= 'A' && s[i] <= 'Z');
    i++;
    NEED(s[i] >= 'a' && s[i] <= 'z');
    i++;
    NEED(s[i] >= 'a' && s[i] <= 'z');
    i++;
    NEED(s[i] == ' ');
    i++;
    NEED(s[i] == ' ' || is_digit(s[i]));
    if (i + 1 < n && s[i + 1] >= 0x80) return -1;
    if (i + 1 < n && is_digit(s[i + 1])) i += 2;
    else {
        NEED(is_digit(s[i]));
        i++;
    }
    NEED(s[i] == ' ');
    i++;
    for (int k = 0; k < 8; k++, i++) NEED(k == 2 || k == 5 ? s[i] == ':' : is_digit(s[i]));
    *minute_end = i - 3;
    if (i < n && s[i] == '.') {
        Py_ssize_t j = i + 1, digits = 0;
        while (j < n && is_digit(s[j])) j++, digits++;
        if (j < n && s[j] >= 0x80) return -1;
        if (digits < 1 || digits > 9) return 0;
        i = j;
    }
    NEED(s[i] == ' ');
    i++;
    Py_ssize_t host = i;
    while (i < n && s[i] < 0x80 && !is_space(s[i])) i++;
    NEED(s[i] == ' ');
    if (i - host < 1 || i - host > 255) return 0;
    i++;
    *end = i;
    *prog = i;
    *prog_len = 0;
    /* (?:program(?:[pid])?: ?)? */
    Py_ssize_t j = i;
    while (j < n && s[j] < 0x80 && !is_space(s[j]) && s[j] != '[' && s[j] != ']' && s[j] != ':')
        j++;
    if (j < n && s[j] >= 0x80) return -1;
    Py_ssize_t len = j - i;
    if (len < 1 || len > 64 || j >= n) return 1;
    Py_ssize_t k = j;
    if (s[k] == '[') {
        Py_ssize_t d = k + 1;
        while (d < n && is_digit(s[d])) d++;
        if (d < n && s[d] >= 0x80) return -1;
        if (d - (k + 1) < 1 || d - (k + 1) > 10 || d >= n || s[d] != ']') return 1;
        k = d + 1;
    }
    if (k >= n || s[k] != ':') return 1;
    k++;
    if (k < n && s[k] == ' ') k++;
    *prog = i;
    *prog_len = len;
    *end = k;
    return 1;
#undef NEED
}

static int program_id(Engine *e, const char *p, Py_ssize_t n) {
    for (int i = 0; i < e->nprograms; i++)
        if (e->program_lens[i] == n && memcmp(e->programs[i], p, (size_t)n) == 0) return i;
    return -1;
}

static const char MONTHS[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; m 1-12), H. Hinnant's algorithm. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int utc_offset(time_t t, long *offset) {
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL) return 0;
    *offset = tm.tm_gmtoff;
    return 1;
}

/* mktime() of a local time, by localtime_r alone when the zone's offset is the same three
 * hours either side (then the answer is unique, and mktime's). 0: ask mktime (near a
 * change of offset). glibc's mktime re-reads /etc/localtime's status on every call. */
static int steady_mktime(int year, int month, int day, int hour, int minute, time_t *out) {
    time_t wall = (time_t)((days_from_civil(year, month + 1, 1) + day - 1) * 86400 +
                           hour * 3600 + minute * 60);
    long first, second, before, after;
    if (!utc_offset(wall, &first) || !utc_offset(wall - first, &second) || second != first)
        return 0;
    time_t found = wall - first;
    if (!utc_offset(found - 10800, &before) || !utc_offset(found + 10800, &after) ||
        before != first || after != first)
        return 0;
    *out = found;
    return 1;
}

/* syslog._minute_epoch: the local epoch of that minute in the latest year that does not
 * put it more than a day in the future (time.mktime as Python calls it); NAN: none. */
static double rsyslog_minute(const char *key, Py_ssize_t n) {
    int month = -1;
    for (int m = 0; m < 12; m++)
        if (memcmp(key, MONTHS + 3 * m, 3) == 0) month = m;
    if (month < 0 || n < 11) return NAN;
    int day = 0;
    for (Py_ssize_t i = 4; i < n - 6; i++)
        if (key[i] != ' ') day = day * 10 + (key[i] - '0');
    int hour = (key[n - 5] - '0') * 10 + (key[n - 4] - '0');
    int minute = (key[n - 2] - '0') * 10 + (key[n - 1] - '0');
    struct timespec clock;
    clock_gettime(CLOCK_REALTIME, &clock);
    double now = (double)clock.tv_sec + clock.tv_nsec * 1e-9;
    time_t whole = (time_t)floor(now);
    struct tm today;
    if (localtime_r(&whole, &today) == NULL) return NAN;
    double epoch = NAN;
    for (int back = 0; back < 2; back++) {
        time_t found;
        if (steady_mktime(today.tm_year + 1900 - back, month, day, hour, minute, &found)) {
            epoch = (double)found;
            if (epoch <= now + 86400.0) return epoch;
            continue;
        }
        struct tm tm = {0};
        tm.tm_year = today.tm_year - back;
        tm.tm_mon = month;
        tm.tm_mday = day;
        tm.tm_hour = hour;
        tm.tm_min = minute;
        tm.tm_isdst = -1;
        tm.tm_wday = -1; /* as time.mktime: still -1 after a failure */
        found = mktime(&tm);
        if (found == (time_t)-1 && tm.tm_wday == -1) return NAN;
        epoch = (double)found;
        if (epoch <= now + 86400.0) return epoch;
    }
    return epoch;
}

/* The epoch of a "Mon dd HH:MM" prefix, remembered. */
static int minute_epoch(Engine *e, const char *key, Py_ssize_t n, double *value) {
    for (int k = -1; k < e->minute_used; k++) {
        int i = k < 0 ? e->minute_last : k;
        if (i >= e->minute_used) continue;
        if (strlen(e->minute_keys[i]) == (size_t)n && memcmp(e->minute_keys[i], key, (size_t)n) == 0) {
            *value = e->minute_values[i];
            e->minute_last = i;
            return !isnan(*value);
        }
    }
    if (n >= (Py_ssize_t)sizeof e->minute_keys[0]) return 0; /* "Mon dd HH:MM" is 12 */
    double v = rsyslog_minute(key, n);
    int slot = e->minute_used < MINUTE_SLOTS ? e->minute_used++ : (int)(e->line_no % MINUTE_SLOTS);
    memcpy(e->minute_keys[slot], key, (size_t)n);
    e->minute_keys[slot][n] = 0;
    e->minute_values[slot] = v;
    e->minute_last = slot;
    *value = v;
    return !isnan(v);
}

/* ---- output ------------------------------------------------------------------------ */

typedef struct {
    char *p;
    size_t n, cap;
} Buffer;

static int put(Buffer *b, const char *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + n) cap *= 2;
        char *grown = PyMem_Realloc(b->p, cap);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

static int put_alert(Engine *e, Buffer *b, Rule *r, double stamp) {
    if (!(fabs(stamp) < 1e15)) {
        PyErr_SetString(PyExc_OverflowError, "timestamp out of range");
        return -1;
    }
    long second = (long)stamp; /* int(stamp) */
    if (second != e->last_second || e->last_iso_len == 0) {
        time_t t = (time_t)second;
        struct tm tm;
        if (localtime_r(&t, &tm) == NULL) {
            PyErr_SetString(PyExc_OverflowError, "timestamp out of range");
            return -1;
        }
        e->last_iso_len = (Py_ssize_t)strftime(e->last_iso, sizeof e->last_iso,
                                               "%Y-%m-%dT%H:%M:%S%z", &tm);
        e->last_second = second;
    }
    Py_ssize_t label_len;
    const char *label = PyUnicode_AsUTF8AndSize(r->label, &label_len);
    if (label == NULL) return -1;
    if (put(b, e->last_iso, (size_t)e->last_iso_len) < 0 || put(b, label, (size_t)label_len) < 0)
        return -1;
    for (int i = 0; i < r->npieces; i++) {
        if (put(b, r->piece_texts[i], (size_t)r->piece_lens[i]) < 0) return -1;
        if (i + 1 < r->npieces) {
            const Field *f = get_field(e, r->piece_fields[i]);
            if (f != NULL && f->n > 0) {
                if (put(b, f->p, (size_t)f->n) < 0) return -1;
            } else if (put(b, "-", 1) < 0) {
                return -1;
            }
        }
    }
    return put(b, "\n", 1);
}

static PyObject *fields_dict(Engine *e) {
    PyObject *dict = PyDict_New();
    if (dict == NULL) return NULL;
    for (int i = 0; i < e->nf; i++) {
        PyObject *v = e->fields[i].p != NULL
                          ? PyUnicode_DecodeUTF8(e->fields[i].p, e->fields[i].n, "strict")
                          : Py_NewRef(Py_None);
        if (v == NULL ||
            PyDict_SetItem(dict, PyTuple_GET_ITEM(e->field_names, e->fields[i].id), v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(dict);
            return NULL;
        }
        Py_DECREF(v);
    }
    return dict;
}

/* ---- settled messages ----------------------------------------------------------------- */

static uint64_t hash_bytes(const char *p, Py_ssize_t n, uint64_t h) {
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x9fb21c651e98df25u;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3u;
    h ^= (uint64_t)n;
    h *= 0xff51afd7ed558ccdu;
    return h ^ (h >> 32);
}

static void forget_seen(Engine *e) {
    for (int i = 0; i < SEEN_SLOTS; i++) {
        PyMem_Free(e->seen[i]);
        e->seen[i] = NULL;
    }
    e->nseen = 0;
}

static char *seen_text(Seen *s) { return (char *)&s->fields[s->nf]; }

/* The rule of a settled message seen before, its fields restored; -3 when not known. */
static int seen_rule(Engine *e, uint64_t hash, const char *program, Py_ssize_t program_len,
                     const char *msg, Py_ssize_t msg_len) {
    for (uint64_t slot = hash & (SEEN_SLOTS - 1);; slot = (slot + 1) & (SEEN_SLOTS - 1)) {
        Seen *s = e->seen[slot];
        if (s == NULL) return -3;
        if (e->seen_hash[slot] != hash) continue;
        if (s->program_len != program_len || s->message_len != msg_len)
            continue;
        const char *text = seen_text(s);
        if (memcmp(text, program, (size_t)program_len) != 0 ||
            memcmp(text + program_len, msg, (size_t)msg_len) != 0)
            continue;
        e->nf = s->nf;
        for (int i = 0; i < s->nf; i++) {
            e->fields[i].id = s->fields[i].id;
            e->fields[i].p = s->fields[i].offset < 0 ? NULL : msg + s->fields[i].offset;
            e->fields[i].n = s->fields[i].len;
        }
        return s->rule;
    }
}

/* Keep a settled verdict whose fields all lie in the message (else: not kept). */
static int remember(Engine *e, uint64_t hash, const char *program, Py_ssize_t program_len,
                    const char *msg, Py_ssize_t msg_len, int decoder, int rule) {
    for (int i = 0; i < e->nf; i++) {
        const char *p = e->fields[i].p;
        if (p != NULL && (p < msg || p + e->fields[i].n > msg + msg_len)) return 0;
    }
    if (e->nseen >= SEEN_MAX) forget_seen(e);
    size_t size = sizeof(Seen) + (size_t)e->nf * sizeof(((Seen *)0)->fields[0]) +
                  (size_t)program_len + (size_t)msg_len;
    Seen *s = PyMem_Malloc(size);
    if (s == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    s->hash = hash;
    s->program_len = program_len;
    s->message_len = msg_len;
    s->decoder = decoder;
    s->rule = rule;
    s->nf = e->nf;
    for (int i = 0; i < e->nf; i++) {
        s->fields[i].id = e->fields[i].id;
        s->fields[i].offset = e->fields[i].p == NULL ? -1 : (int)(e->fields[i].p - msg);
        s->fields[i].len = (int)e->fields[i].n;
    }
    memcpy(seen_text(s), program, (size_t)program_len);
    memcpy(seen_text(s) + program_len, msg, (size_t)msg_len);
    uint64_t slot = hash & (SEEN_SLOTS - 1);
    while (e->seen[slot] != NULL) slot = (slot + 1) & (SEEN_SLOTS - 1);
    e->seen[slot] = s;
    e->seen_hash[slot] = hash;
    e->nseen++;
    return 0;
}

/* ---- Engine.alerts ------------------------------------------------------------------ */

/* One line: its rule (index, -1 none, -2 error), time and program/message. */
/* One line (UTF-8, already cut at MAX_LINE characters): its rule (-1 none, -2 error). */
static int one_line(Engine *e, const char *s, Py_ssize_t n, double *stamp_out,
                    PyObject **stamp_obj) {
    PyObject *header = NULL;
    int result = -2;
    Py_ssize_t minute_end = 0, prog = 0, prog_len = 0, end = 0;
    int found = rfc3164((const unsigned char *)s, n, &minute_end, &prog, &prog_len, &end);
    double stamp = NAN;
    const char *msg = NULL, *program = NULL;
    Py_ssize_t msg_len = 0, program_len = 0;
    if (found == 1) {
        double base;
        int known = minute_epoch(e, s, minute_end, &base);
        if (known < 0) goto done;
        if (known) {
            stamp = base + (s[minute_end + 1] - '0') * 10 + (s[minute_end + 2] - '0');
            program = s + prog;
            program_len = prog_len;
            msg = s + end;
            msg_len = n - end;
        } else {
            found = 0;
        }
    }
    if (found != 1) {
        PyObject *line = PyUnicode_DecodeUTF8(s, n, "strict");
        if (line == NULL) goto done;
        header = PyObject_CallOneArg(e->parse, line);
        Py_DECREF(line);
        if (header == NULL) goto done;
        if (!PyTuple_Check(header) || PyTuple_GET_SIZE(header) != 3) {
            PyErr_SetString(PyExc_TypeError, "parse: (time, program, message) expected");
            goto done;
        }
        PyObject *t = PyTuple_GET_ITEM(header, 0);
        if (t != Py_None) {
            stamp = PyFloat_AsDouble(t);
            if (stamp == -1.0 && PyErr_Occurred()) goto done;
        }
        program = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(header, 1), &program_len);
        msg = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(header, 2), &msg_len);
        if (program == NULL || msg == NULL) goto done;
        if (t == Py_None) {
            PyObject *now = PyObject_CallNoArgs(e->clock);
            if (now == NULL) goto done;
            stamp = PyFloat_AsDouble(now);
            if (stamp == -1.0 && PyErr_Occurred()) {
                Py_DECREF(now);
                goto done;
            }
            *stamp_obj = now; /* the clock's own value, as Python keeps it */
        } else {
            *stamp_obj = Py_NewRef(t);
        }
    }
    *stamp_out = stamp;
    uint64_t hash = 0;
    if (msg_len <= SEEN_LONGEST) {
        hash = hash_bytes(program, program_len, hash_bytes(msg, msg_len, 0x9e3779b97f4a7c15u));
        int known = seen_rule(e, hash, program, program_len, msg, msg_len);
        if (known != -3) {
            result = known;
            goto done;
        }
    }
    int pid = program_len > 0 ? program_id(e, program, program_len) : -1;
    int decoder = decode(e, program_len > 0 ? pid : -1, msg, msg_len);
    if (decoder == -2) goto done;
    result = judge(e, decoder, pid, msg, msg_len, stamp, stamp_obj);
    if (result != -2 && e->settled && msg_len <= SEEN_LONGEST &&
        remember(e, hash, program, program_len, msg, msg_len, decoder, result) < 0)
        result = -2;
done:
    /* `header` holds the program and message bytes: kept until the line is done. */
    if (header != NULL && keep(e, header) < 0) result = -2;
    return result;
}

static PyObject *Engine_alerts(Engine *e, PyObject *args) {
    PyObject *lines;
    int text_mode;
    if (!PyArg_ParseTuple(args, "O!p", &PyList_Type, &lines, &text_mode)) return NULL;
    PyObject *hits = PyList_New(0), *found = PyList_New(0);
    Buffer out = {NULL, 0, 0};
    if (hits == NULL || found == NULL) goto fail;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(lines); i++) { /* a callback may change it */
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (!PyUnicode_Check(line)) {
            PyErr_SetString(PyExc_TypeError, "lines: str expected");
            goto fail;
        }
        Py_INCREF(line);
        e->simple_p = NULL; /* freed strings' addresses come back: the cache is per line */
        double stamp = 0;
        PyObject *stamp_obj = NULL;
        if (PyList_GET_SIZE(e->keep) > 0 &&
            PyList_SetSlice(e->keep, 0, PyList_GET_SIZE(e->keep), NULL) < 0) {
            Py_DECREF(line);
            goto fail;
        }
        int best = -2;
        PyObject *cut = PyUnicode_GET_LENGTH(line) > MAX_LINE
                            ? PyUnicode_Substring(line, 0, MAX_LINE)
                            : Py_NewRef(line);
        Py_ssize_t n;
        const char *s = cut != NULL ? PyUnicode_AsUTF8AndSize(cut, &n) : NULL;
        if (s != NULL) best = one_line(e, s, n, &stamp, &stamp_obj);
        /* `cut` holds the bytes the fields point to: kept until the line is done. */
        if (cut != NULL && keep(e, cut) < 0) best = -2;
        int ok = best != -2;
        if (ok && best >= 0 && e->rules[best].level >= e->alert_level) {
            Rule *r = &e->rules[best];
            ok = PyList_Append(hits, r->id_obj) == 0;
            if (ok && text_mode) {
                ok = put_alert(e, &out, r, stamp) == 0;
            } else if (ok) {
                PyObject *fields = fields_dict(e);
                if (fields != NULL && stamp_obj == NULL)
                    stamp_obj = PyFloat_FromDouble(stamp);
                PyObject *item = (fields && stamp_obj)
                                     ? PyTuple_Pack(4, line, r->obj, fields, stamp_obj)
                                     : NULL;
                Py_XDECREF(fields);
                ok = item != NULL && PyList_Append(found, item) == 0;
                Py_XDECREF(item);
            }
        }
        Py_XDECREF(stamp_obj);
        Py_DECREF(line);
        if (!ok) goto fail;
    }
    if (PyList_SetSlice(e->keep, 0, PyList_GET_SIZE(e->keep), NULL) < 0) goto fail;
    e->simple_p = NULL;
    PyObject *text = PyUnicode_DecodeUTF8(out.p ? out.p : "", (Py_ssize_t)out.n, "strict");
    PyMem_Free(out.p);
    if (text == NULL) {
        Py_DECREF(hits);
        Py_DECREF(found);
        return NULL;
    }
    return Py_BuildValue("(NNN)", hits, found, text);
fail:
    PyMem_Free(out.p);
    Py_XDECREF(hits);
    Py_XDECREF(found);
    return NULL;
}

/* ---- building the engine from what rampart.hids.native hands over ------------------ */

static int ints(PyObject *seq, int **out, int *count, int terminate) {
    PyObject *fast = PySequence_Fast(seq, "a sequence of int expected");
    if (fast == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    int *list = PyMem_Calloc((size_t)n + 1, sizeof(int));
    if (list == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (v == -1 && PyErr_Occurred()) {
            PyMem_Free(list);
            Py_DECREF(fast);
            return -1;
        }
        list[i] = (int)v;
    }
    if (terminate) list[n] = -1;
    Py_DECREF(fast);
    *out = list;
    if (count) *count = (int)n;
    return 0;
}

static int copy_bytes(PyObject *obj, char **out, Py_ssize_t *len) {
    char *p;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(obj, &p, &n) < 0) return -1;
    *out = PyMem_Malloc((size_t)n + 1);
    if (*out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(*out, p, (size_t)n);
    (*out)[n] = 0;
    *len = n;
    return 0;
}

/* (kind, pattern bytes, text bytes, re.Pattern, group names, group field ids, fullmatch) */
static int build_matcher(Matcher *m, PyObject *spec) {
    PyObject *pattern, *text, *names, *field_ids;
    if (!PyArg_ParseTuple(spec, "iSSOOOp", &m->kind, &pattern, &text, &m->pyregex, &names,
                          &field_ids, &m->fullmatch)) {
        memset(m, 0, sizeof *m); /* nothing owned yet */
        return -1;
    }
    Py_INCREF(m->pyregex);
    if (m->kind != M_REGEX && m->kind != M_LITERAL && m->kind != M_PREFIX) {
        PyErr_Format(PyExc_ValueError, "matcher kind %d is unknown", m->kind);
        return -1;
    }
    if (copy_bytes(text, &m->text, &m->len) < 0) return -1;
    if (ints(field_ids, &m->group_field, &m->ngroups, 0) < 0) return -1;
    if (m->kind != M_REGEX) return 0;
    pcre2_compile_context *ctx = P2.ccontext_create(NULL);
    if (ctx == NULL) return PyErr_NoMemory(), -1;
    P2.set_newline(ctx, P2_NEWLINE_LF);
    int err;
    PCRE2_SIZE offset;
    uint32_t options = m->fullmatch ? (P2_ANCHORED | P2_ENDANCHORED) : 0;
    m->code = P2.compile((PCRE2_SPTR)PyBytes_AS_STRING(pattern),
                         (PCRE2_SIZE)PyBytes_GET_SIZE(pattern), options, &err, &offset, ctx);
    P2.ccontext_free(ctx);
    if (m->code == NULL) {
        PyErr_Format(Unsupported, "PCRE2 cannot compile %R", pattern);
        return -1;
    }
    uint32_t captures = 0;
    if (P2.pattern_info(m->code, P2_INFO_CAPTURECOUNT, &captures) != 0 || captures > MAX_GROUPS) {
        PyErr_Format(Unsupported, "too many groups in %R", pattern);
        return -1;
    }
    P2.jit_compile(m->code, P2_JIT_COMPLETE); /* without JIT it still matches, slower */
    Py_ssize_t ngroups = PyTuple_Size(names);
    if (ngroups != m->ngroups) {
        PyErr_SetString(PyExc_ValueError, "group names and fields differ in number");
        return -1;
    }
    m->group_number = PyMem_Calloc((size_t)ngroups + 1, sizeof(int));
    if (m->group_number == NULL) return PyErr_NoMemory(), -1;
    for (Py_ssize_t g = 0; g < ngroups; g++) {
        const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(names, g));
        if (name == NULL) return -1;
        int num = P2.number_from_name(m->code, (PCRE2_SPTR)name);
        if (num <= 0) {
            PyErr_Format(Unsupported, "PCRE2 sees no group %s in %R", name, pattern);
            return -1;
        }
        m->group_number[g] = num;
    }
    return 0;
}

static int build_rule(Rule *r, PyObject *spec) {
    PyObject *needle, *texts, *programs, *field_tests, *watchers, *children, *pieces, *piece_fields;
    if (!PyArg_ParseTuple(spec, "OOOiOOiOiOiiiiddlOOOO", &r->obj, &r->id_obj, &r->label, &r->level,
                          &needle, &texts, &r->decoded_as, &programs, &r->regex, &field_tests,
                          &r->user, &r->has_networks, &r->same_source, &r->same_user, &r->ignore,
                          &r->timeframe, &r->frequency, &watchers, &children, &pieces,
                          &piece_fields)) {
        memset(r, 0, sizeof *r); /* nothing owned yet */
        return -1;
    }
    Py_INCREF(r->obj);
    Py_INCREF(r->id_obj);
    Py_INCREF(r->label);
    r->composite = r->frequency > 0;
    if (needle != Py_None && copy_bytes(needle, &r->needle, &r->needle_len) < 0) return -1;
    r->ntexts = (int)PyTuple_Size(texts);
    if (r->ntexts < 0) return -1;
    r->texts = PyMem_Calloc((size_t)r->ntexts + 1, sizeof(char *));
    r->text_lens = PyMem_Calloc((size_t)r->ntexts + 1, sizeof(Py_ssize_t));
    if (r->texts == NULL || r->text_lens == NULL) return PyErr_NoMemory(), -1;
    for (int i = 0; i < r->ntexts; i++)
        if (copy_bytes(PyTuple_GET_ITEM(texts, i), &r->texts[i], &r->text_lens[i]) < 0) return -1;
    if (ints(programs, &r->programs, &r->nprograms, 0) < 0) return -1;
    r->nfield_tests = (int)PyTuple_Size(field_tests);
    if (r->nfield_tests < 0) return -1;
    r->test_field = PyMem_Calloc((size_t)r->nfield_tests + 1, sizeof(int));
    r->test_matcher = PyMem_Calloc((size_t)r->nfield_tests + 1, sizeof(int));
    if (r->test_field == NULL || r->test_matcher == NULL) return PyErr_NoMemory(), -1;
    for (int i = 0; i < r->nfield_tests; i++)
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(field_tests, i), "ii", &r->test_field[i],
                              &r->test_matcher[i]))
            return -1;
    if (ints(watchers, &r->watchers, &r->nwatchers, 0) < 0) return -1;
    if (ints(children, &r->children, &r->nchildren, 1) < 0) return -1;
    int nfields;
    if (ints(piece_fields, &r->piece_fields, &nfields, 0) < 0) return -1;
    r->npieces = (int)PyTuple_Size(pieces);
    if (r->npieces < 1 || nfields != r->npieces - 1) {
        PyErr_SetString(PyExc_ValueError, "description pieces and fields do not fit");
        return -1;
    }
    r->piece_texts = PyMem_Calloc((size_t)r->npieces, sizeof(char *));
    r->piece_lens = PyMem_Calloc((size_t)r->npieces, sizeof(Py_ssize_t));
    if (r->piece_texts == NULL || r->piece_lens == NULL) return PyErr_NoMemory(), -1;
    for (int i = 0; i < r->npieces; i++)
        if (copy_bytes(PyTuple_GET_ITEM(pieces, i), &r->piece_texts[i], &r->piece_lens[i]) < 0)
            return -1;
    return 0;
}

static int check_index(int value, int limit, int none_ok, const char *what) {
    if ((none_ok && value == -1) || (value >= 0 && value < limit)) return 0;
    PyErr_Format(PyExc_ValueError, "%s: index %d out of range", what, value);
    return -1;
}

static int Engine_init(Engine *e, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"programs", "field_names", "special_fields", "matchers",
                               "decoders", "by_program", "generic", "rules", "roots_of",
                               "parse", "clock", "state", "source_allowed",
                               "start_quiet", "forget_oldest", "deque", "max_keys",
                               "alert_level", NULL};
    PyObject *programs, *matchers, *decoders, *by_program, *generic, *rules;
    if (e->field_names != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Engine is built once");
        return -1;
    }
    PyObject **refs[] = {&e->field_names, &e->roots_of, &e->parse, &e->clock,
                         &e->state, &e->source_allowed, &e->start_quiet, &e->forget_oldest,
                         &e->deque};
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "O!O!(iii)O!O!O!OO!OOOOOOOOli", keywords, &PyTuple_Type, &programs,
            &PyTuple_Type, &e->field_names, &e->f_srcip, &e->f_user, &e->f_dstuser,
            &PyTuple_Type, &matchers, &PyTuple_Type, &decoders, &PyTuple_Type, &by_program,
            &generic, &PyTuple_Type, &rules, &e->roots_of, &e->parse, &e->clock,
            &e->state, &e->source_allowed, &e->start_quiet, &e->forget_oldest, &e->deque,
            &e->max_keys, &e->alert_level)) {
        for (size_t i = 0; i < sizeof refs / sizeof *refs; i++) *refs[i] = NULL; /* borrowed */
        return -1;
    }
    for (size_t i = 0; i < sizeof refs / sizeof *refs; i++) Py_INCREF(*refs[i]);
    Py_ssize_t nfields = PyTuple_GET_SIZE(e->field_names);
    e->nfields = (int)nfields;
    if (check_index(e->f_srcip, e->nfields, 0, "srcip") < 0 ||
        check_index(e->f_user, e->nfields, 0, "user") < 0 ||
        check_index(e->f_dstuser, e->nfields, 0, "dstuser") < 0)
        return -1;
    e->keep = PyList_New(0);
    e->windows = PyObject_GetAttrString(e->state, "_windows");
    if (e->windows == NULL || !PyDict_Check(e->windows)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "state._windows: a dict");
        return -1;
    }
    e->md = P2.md_create(MAX_GROUPS + 1, NULL);
    if (e->keep == NULL || e->md == NULL) return e->md == NULL ? (PyErr_NoMemory(), -1) : -1;

    e->nprograms = (int)PyTuple_GET_SIZE(programs);
    e->programs = PyMem_Calloc((size_t)e->nprograms + 1, sizeof(char *));
    e->program_lens = PyMem_Calloc((size_t)e->nprograms + 1, sizeof(Py_ssize_t));
    if (e->programs == NULL || e->program_lens == NULL) return PyErr_NoMemory(), -1;
    for (int i = 0; i < e->nprograms; i++)
        if (copy_bytes(PyTuple_GET_ITEM(programs, i), &e->programs[i], &e->program_lens[i]) < 0)
            return -1;

    e->nmatchers = (int)PyTuple_GET_SIZE(matchers);
    e->matchers = PyMem_Calloc((size_t)e->nmatchers + 1, sizeof(Matcher));
    if (e->matchers == NULL) return PyErr_NoMemory(), -1;
    for (int i = 0; i < e->nmatchers; i++) {
        if (build_matcher(&e->matchers[i], PyTuple_GET_ITEM(matchers, i)) < 0) return -1;
        for (int g = 0; g < e->matchers[i].ngroups; g++)
            if (check_index(e->matchers[i].group_field[g], e->nfields, 0, "group field") < 0)
                return -1;
    }

    e->ndecoders = (int)PyTuple_GET_SIZE(decoders);
    e->decoders = PyMem_Calloc((size_t)e->ndecoders + 1, sizeof(Decoder));
    if (e->decoders == NULL) return PyErr_NoMemory(), -1;
    for (int i = 0; i < e->ndecoders; i++) {
        Decoder *d = &e->decoders[i];
        PyObject *children;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(decoders, i), "iiiO", &d->prematch, &d->regex,
                              &d->parent, &children) ||
            ints(children, &d->children, &d->nchildren, 0) < 0)
            return -1;
        if (check_index(d->prematch, e->nmatchers, 1, "prematch") < 0 ||
            check_index(d->regex, e->nmatchers, 1, "regex") < 0 ||
            check_index(d->parent, e->ndecoders, 1, "parent") < 0)
            return -1;
        for (int c = 0; c < d->nchildren; c++)
            if (check_index(d->children[c], e->ndecoders, 0, "child") < 0) return -1;
    }
    if (PyTuple_GET_SIZE(by_program) != e->nprograms) {
        PyErr_SetString(PyExc_ValueError, "by_program: one entry per program");
        return -1;
    }
    e->by_program = PyMem_Calloc((size_t)e->nprograms + 1, sizeof(int *));
    if (e->by_program == NULL) return PyErr_NoMemory(), -1;
    for (int i = 0; i < e->nprograms; i++) {
        int n;
        if (ints(PyTuple_GET_ITEM(by_program, i), &e->by_program[i], &n, 1) < 0) return -1;
        for (int k = 0; k < n; k++)
            if (check_index(e->by_program[i][k], e->ndecoders, 0, "by_program") < 0) return -1;
    }
    int ngeneric;
    if (ints(generic, &e->generic, &ngeneric, 1) < 0) return -1;
    for (int k = 0; k < ngeneric; k++)
        if (check_index(e->generic[k], e->ndecoders, 0, "generic") < 0) return -1;

    e->nrules = (int)PyTuple_GET_SIZE(rules);
    e->rules = PyMem_Calloc((size_t)e->nrules + 1, sizeof(Rule));
    e->fed = PyMem_Calloc((size_t)e->nrules + 1, sizeof(long));
    if (e->rules == NULL || e->fed == NULL) return PyErr_NoMemory(), -1;
    for (int i = 0; i < e->nrules; i++) {
        Rule *r = &e->rules[i];
        if (build_rule(r, PyTuple_GET_ITEM(rules, i)) < 0) return -1;
        if (check_index(r->regex, e->nmatchers, 1, "rule regex") < 0 ||
            check_index(r->user, e->nmatchers, 1, "rule user") < 0 ||
            (r->decoded_as != -2 && check_index(r->decoded_as, e->ndecoders, 1, "decoded_as") < 0))
            return -1;
        for (int k = 0; k < r->nfield_tests; k++)
            if (check_index(r->test_field[k], e->nfields, 0, "field") < 0 ||
                check_index(r->test_matcher[k], e->nmatchers, 0, "field test") < 0)
                return -1;
        for (int k = 0; k < r->nprograms; k++)
            if (check_index(r->programs[k], e->nprograms, 0, "program") < 0) return -1;
        for (int k = 0; k < r->nwatchers; k++)
            if (check_index(r->watchers[k], e->nrules, 0, "watcher") < 0) return -1;
        for (int k = 0; k < r->nchildren; k++)
            if (check_index(r->children[k], e->nrules, 0, "child rule") < 0) return -1;
        for (int k = 0; k + 1 < r->npieces; k++)
            if (check_index(r->piece_fields[k], e->nfields, 0, "description field") < 0)
                return -1;
    }
    e->roots = PyMem_Calloc((size_t)(e->ndecoders + 1) * (size_t)(e->nprograms + 1) + 1,
                            sizeof(int *));
    if (e->roots == NULL) return PyErr_NoMemory(), -1;
    e->seen = PyMem_Calloc(SEEN_SLOTS, sizeof(Seen *));
    e->seen_hash = PyMem_Calloc(SEEN_SLOTS, sizeof(uint64_t));
    if (e->seen == NULL || e->seen_hash == NULL) return PyErr_NoMemory(), -1;
    e->last_second = -1;
    tzset();
    return 0;
}

static void free_strings(char **texts, int n) {
    for (int i = 0; texts != NULL && i < n; i++) PyMem_Free(texts[i]);
    PyMem_Free(texts);
}

static void free_tables(Engine *e) {
    for (int i = 0; e->matchers != NULL && i < e->nmatchers; i++) {
        Matcher *m = &e->matchers[i];
        if (m->code != NULL) P2.code_free(m->code);
        PyMem_Free(m->text);
        PyMem_Free(m->group_number);
        PyMem_Free(m->group_field);
        Py_XDECREF(m->pyregex);
    }
    PyMem_Free(e->matchers);
    for (int i = 0; e->decoders != NULL && i < e->ndecoders; i++)
        PyMem_Free(e->decoders[i].children);
    PyMem_Free(e->decoders);
    for (int i = 0; e->rules != NULL && i < e->nrules; i++) {
        Rule *r = &e->rules[i];
        Py_XDECREF(r->obj);
        Py_XDECREF(r->id_obj);
        Py_XDECREF(r->label);
        PyMem_Free(r->needle);
        free_strings(r->texts, r->ntexts);
        PyMem_Free(r->text_lens);
        PyMem_Free(r->programs);
        PyMem_Free(r->test_field);
        PyMem_Free(r->test_matcher);
        PyMem_Free(r->watchers);
        PyMem_Free(r->children);
        free_strings(r->piece_texts, r->npieces);
        PyMem_Free(r->piece_lens);
        PyMem_Free(r->piece_fields);
    }
    PyMem_Free(e->rules);
    free_strings(e->programs, e->nprograms);
    PyMem_Free(e->program_lens);
    for (int i = 0; e->by_program != NULL && i < e->nprograms; i++) PyMem_Free(e->by_program[i]);
    PyMem_Free(e->by_program);
    PyMem_Free(e->generic);
    size_t slots = (size_t)(e->ndecoders + 1) * (size_t)(e->nprograms + 1) + 1;
    for (size_t i = 0; e->roots != NULL && i < slots; i++) PyMem_Free(e->roots[i]);
    PyMem_Free(e->roots);
    PyMem_Free(e->fed);
    if (e->md != NULL) P2.md_free(e->md);
}

static void Engine_dealloc(Engine *e) {
    free_tables(e);
    Py_XDECREF(e->field_names);
    Py_XDECREF(e->roots_of);
    Py_XDECREF(e->parse);
    Py_XDECREF(e->clock);
    Py_XDECREF(e->state);
    Py_XDECREF(e->source_allowed);
    Py_XDECREF(e->start_quiet);
    Py_XDECREF(e->forget_oldest);
    Py_XDECREF(e->deque);
    Py_XDECREF(e->keep);
    Py_XDECREF(e->windows);
    if (e->seen != NULL) {
        forget_seen(e);
        PyMem_Free(e->seen);
    }
    PyMem_Free(e->seen_hash);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

/* Engine.block(text): the lines of an ASCII block as rampart.sources.replay.split_block cuts
 * them (on LF, trailing CRs removed, no last empty line), without a str per line:
 * (number of lines, rule ids, alert text). */
static PyObject *Engine_block(Engine *e, PyObject *arg) {
    if (!PyUnicode_Check(arg) || !PyUnicode_IS_ASCII(arg)) {
        PyErr_SetString(PyExc_TypeError, "block: an ASCII str expected");
        return NULL;
    }
    const char *data = (const char *)PyUnicode_DATA(arg);
    Py_ssize_t size = PyUnicode_GET_LENGTH(arg), start = 0, lines = 0;
    PyObject *hits = PyList_New(0);
    Buffer out = {NULL, 0, 0};
    if (hits == NULL) return NULL;
    Py_INCREF(arg);
    while (start < size) {
        const char *newline = memchr(data + start, '\n', (size_t)(size - start));
        Py_ssize_t stop = newline != NULL ? newline - data : size;
        Py_ssize_t n = stop - start;
        while (n > 0 && data[start + n - 1] == '\r') n--;
        if (n > MAX_LINE) n = MAX_LINE;
        lines++;
        e->simple_p = NULL;
        if (PyList_GET_SIZE(e->keep) > 0 &&
            PyList_SetSlice(e->keep, 0, PyList_GET_SIZE(e->keep), NULL) < 0)
            goto fail;
        double stamp = 0;
        PyObject *stamp_obj = NULL;
        int best = one_line(e, data + start, n, &stamp, &stamp_obj);
        Py_XDECREF(stamp_obj);
        if (best == -2) goto fail;
        if (best >= 0 && e->rules[best].level >= e->alert_level) {
            Rule *r = &e->rules[best];
            if (PyList_Append(hits, r->id_obj) < 0 || put_alert(e, &out, r, stamp) < 0) goto fail;
        }
        start = stop + 1;
    }
    if (PyList_SetSlice(e->keep, 0, PyList_GET_SIZE(e->keep), NULL) < 0) goto fail;
    e->simple_p = NULL;
    Py_DECREF(arg);
    PyObject *text = PyUnicode_DecodeUTF8(out.p ? out.p : "", (Py_ssize_t)out.n, "strict");
    PyMem_Free(out.p);
    if (text == NULL) {
        Py_DECREF(hits);
        return NULL;
    }
    return Py_BuildValue("(nNN)", lines, hits, text);
fail:
    Py_DECREF(arg);
    PyMem_Free(out.p);
    Py_DECREF(hits);
    return NULL;
}

static PyMethodDef Engine_methods[] = {
    {"block", (PyCFunction)Engine_block, METH_O,
     "block(ascii text) -> (lines, rule ids, alert text)"},
    {"alerts", (PyCFunction)Engine_alerts, METH_VARARGS,
     "alerts(lines, text) -> (rule ids, [(line, rule, fields, time)], alert text)"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rampart.hids._native.Engine",
    .tp_basicsize = sizeof(Engine),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Engine_init,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_methods = Engine_methods,
    .tp_doc = "The log rules engine's replay loop (see rampart.hids.native).",
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "rampart.hids._native",
                                    "Native replay loop of the HIDS log rules.", -1, NULL};

PyMODINIT_FUNC PyInit__native(void) {
    if (load_pcre2() < 0) return NULL;
    if (PyType_Ready(&EngineType) < 0) return NULL;
    PyObject **names[] = {&S_quiet, &S_append, &S_popleft, &S_clear, &S_search, &S_fullmatch, &S_group};
    const char *texts[] = {"_quiet", "append", "popleft", "clear", "search", "fullmatch", "group"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if ((*names[i] = PyUnicode_InternFromString(texts[i])) == NULL) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Unsupported = PyErr_NewException("rampart.hids._native.Unsupported", NULL, NULL);
    if (Unsupported == NULL || PyModule_AddObjectRef(m, "Unsupported", Unsupported) < 0 ||
        PyModule_AddObjectRef(m, "Engine", (PyObject *)&EngineType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
