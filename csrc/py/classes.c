/* A Decisions' classes from their Python tuples (geodns/native/decisions.py, kinds.py):
   an answer (its heads interned, its records in the arena, its max_answers rotation), or
   a class that picks per query (answer/pick.h): a weighted draw's outcomes with their
   cumulative bounds, a sticky node's candidates with their keys and weights, each
   outcome an ordinary class. */
#define PY_SSIZE_T_CLEAN
#include "py/py.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GN_SIGNED_MAX 65535 /* a signed answer's records: what one message can carry */

static long add_kind(gn_decisions *x, PyObject *item);

long gp_decisions_heads(gn_decisions *x, const uint8_t *h)
{
    for (size_t i = 0; i < x->n_heads; i++)
        if (memcmp(x->heads[i], h, 80) == 0)
            return (long)i;
    if (x->n_heads >= 65535)
        return -1;
    if (x->n_heads == x->cap_heads) {
        size_t cap = x->cap_heads ? x->cap_heads * 2 : 16;
        void *nh = realloc(x->heads, cap * 80);
        if (nh == NULL)
            return -1;
        x->heads = nh;
        x->cap_heads = cap;
    }
    memcpy(x->heads[x->n_heads], h, 80);
    return (long)x->n_heads++;
}

/* DNSSEC: a class's signed variant (records and RRSIGs) into the arena; *hi 0: none */
/* Checks a (heads, records) pair: 80 bytes of heads and records of 1..65535 bytes. */
static int signed_valid(const Py_buffer *heads, const Py_buffer *body)
{
    if (heads->len == 80 && body->len > 0 && body->len <= GN_SIGNED_MAX)
        return 1;
    PyErr_SetString(PyExc_ValueError, "signed: 80 bytes of heads, 1..65535 bytes of records");
    return 0;
}

static int class_signed(gn_decisions *x, const Py_buffer *heads, const Py_buffer *body,
                        uint16_t *hi, uint32_t *off, uint32_t *len)
{
    *hi = 0, *off = 0, *len = 0;
    if (heads->obj == NULL || (heads->len == 0 && (body->obj == NULL || body->len == 0)))
        return 0; /* no signed variant: a DO query for it is Python's */
    if (body->obj == NULL || !signed_valid(heads, body))
        return -1;
    long at = gp_decisions_heads(x, heads->buf);
    if (at < 0 || at >= 65535) {
        PyErr_SetString(PyExc_ValueError, "at most 65534 kinds of heads");
        return -1;
    }
    if (common_buf_add(&x->arena, body->buf, (size_t)body->len, off) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    *hi = (uint16_t)(at + 1);
    *len = (uint32_t)body->len;
    return 0;
}

/* One answer: (heads, records, pool, python[, rotation counter (-1: none), max_answers,
   record size[, signed heads, signed records]]), or a per-query pick (py/kinds.c); its
   index in cv, or -1. The signed pair: the answer with its RRSIGs (DNSSEC, a DO query). */
long gp_add_class(gn_decisions *x, PyObject *item)
{
    Py_buffer heads, body, sheads = {0}, sbody = {0};
    int pool, python;
    Py_ssize_t rot = -1, rot_max = 0, rot_len = 0;
    if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) > 0 &&
        PyUnicode_Check(PyTuple_GET_ITEM(item, 0)))
        return add_kind(x, item);
    if (!PyArg_ParseTuple(item, "y*y*ip|nnny*y*", &heads, &body, &pool, &python, &rot, &rot_max,
                          &rot_len, &sheads, &sbody))
        return -1;
    long rc = -1;
    uint16_t shi = 0;
    uint32_t soff = 0, slen = 0;
    if (class_signed(x, &sheads, &sbody, &shi, &soff, &slen) < 0)
        goto done;
    long hi = heads.len == 80 ? gp_decisions_heads(x, heads.buf) : -1;
    if (hi < 0) {
        PyErr_SetString(PyExc_ValueError, "80 bytes of heads, at most 65535 kinds");
        goto done;
    }
    if (x->n_classes == x->cap_classes) {
        size_t cap = x->cap_classes ? x->cap_classes * 2 : 64;
        gn_class *nc = realloc(x->cv, cap * sizeof *nc);
        if (nc == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        x->cv = nc;
        x->cap_classes = cap;
    }
    gn_class *c = &x->cv[x->n_classes];
    memset(c, 0, sizeof *c);
    if (common_buf_add(&x->arena, body.buf, (size_t)body.len, &c->body_off) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    c->body_len = (uint32_t)body.len;
    c->sheads = shi, c->sbody_off = soff, c->sbody_len = slen;
    if (pool < -1 || pool > 255) {
        PyErr_SetString(PyExc_ValueError, "a pool index of 0..255 or -1");
        goto done;
    }
    c->pool = pool;
    c->heads = (uint16_t)hi;
    c->python = (uint8_t)(python ? 1 : 0);
    if (rot >= 0) { /* a max_answers name: counts its answers, rotates N of the records */
        if ((size_t)rot >= x->n_rot || rot_max < 1 || rot_max > 65535 || rot_len < 1 ||
            rot_len > 65535 || body.len % rot_len) {
            PyErr_SetString(PyExc_ValueError, "a rotation: counter, max_answers, record size");
            goto done;
        }
        c->rot = (uint32_t)rot + 1;
        c->rot_max = (uint16_t)rot_max;
        c->rot_len = (uint16_t)rot_len;
        size_t n = (size_t)body.len / (size_t)rot_len; /* signed: one body per start */
        if (c->sheads && n > (size_t)rot_max && (n == 0 || c->sbody_len % n)) {
            PyErr_SetString(PyExc_ValueError, "a rotation's signed bodies: one per record");
            goto done;
        }
    }
    rc = (long)x->n_classes++;
done:
    PyBuffer_Release(&heads);
    PyBuffer_Release(&body);
    if (sheads.obj != NULL)
        PyBuffer_Release(&sheads);
    if (sbody.obj != NULL)
        PyBuffer_Release(&sbody);
    return rc;
}

/* ("draw", outcomes) or ("sticky", bits4, bits6, outcomes): the class, its picks to come
   (gp_add_picks). */
static long add_kind(gn_decisions *x, PyObject *item)
{
    const char *kind;
    PyObject *outcomes;
    int bits4 = 0, bits6 = 0;
    if (PyTuple_GET_SIZE(item) == 2) {
        if (!PyArg_ParseTuple(item, "sO!", &kind, &PyList_Type, &outcomes))
            return -1;
    } else if (!PyArg_ParseTuple(item, "siiO!", &kind, &bits4, &bits6, &PyList_Type, &outcomes)) {
        return -1;
    }
    int draw = strcmp(kind, "draw") == 0, sticky = strcmp(kind, "sticky") == 0;
    if ((!draw && !sticky) || (draw && PyTuple_GET_SIZE(item) != 2) ||
        PyList_GET_SIZE(outcomes) < 1 || bits4 < 0 || bits4 > 32 || bits4 % 8 || bits6 < 0 ||
        bits6 > 128 || bits6 % 8) {
        PyErr_SetString(PyExc_ValueError, "(\"draw\", outcomes) or (\"sticky\", bits4, bits6, "
                                          "outcomes) with whole-byte networks");
        return -1;
    }
    uint8_t heads[80] = {0};
    PyObject *placeholder =
        Py_BuildValue("(y#y#ii)", (char *)heads, (Py_ssize_t)80, "", (Py_ssize_t)0, -1, 0);
    if (placeholder == NULL)
        return -1;
    long at = gp_add_class(x, placeholder);
    Py_DECREF(placeholder);
    if (at < 0)
        return -1;
    gn_class *c = &x->cv[at];
    c->kind = draw ? GN_DRAW : GN_STICKY;
    c->bits4 = (uint8_t)bits4;
    c->bits6 = (uint8_t)bits6;
    return at;
}

static gn_pick *new_pick(gn_decisions *x)
{
    if (x->n_picks == x->cap_picks) {
        size_t cap = x->cap_picks ? x->cap_picks * 2 : 16;
        gn_pick *np = realloc(x->picks, cap * sizeof *np);
        if (np == NULL)
            return NULL;
        x->picks = np;
        x->cap_picks = cap;
    }
    gn_pick *p = &x->picks[x->n_picks++];
    memset(p, 0, sizeof *p);
    return p;
}

/* One outcome: (bound, class) of a draw, (key, weight, class) of a sticky node. */
static int add_pick(gn_decisions *x, int draw, PyObject *item, uint64_t *last)
{
    unsigned long long bound = 0;
    double weight = 0.0;
    Py_buffer key = {0};
    PyObject *answer;
    if (draw ? !PyArg_ParseTuple(item, "KO!", &bound, &PyTuple_Type, &answer)
             : !PyArg_ParseTuple(item, "y*dO!", &key, &weight, &PyTuple_Type, &answer))
        return -1;
    int bad = draw ? (bound <= *last || bound > (1ull << GN_DRAW_BITS))
                   : (key.len != 16 || !(weight > 0.0) || !isfinite(weight));
    long cls = bad ? -1 : gp_add_class(x, answer);
    gn_pick *p = cls < 0 || x->cv[cls].kind != GN_FIXED ? NULL : new_pick(x);
    if (p != NULL) {
        p->bound = bound;
        p->weight = weight;
        if (!draw)
            memcpy(p->key, key.buf, 16);
        p->cls = (uint32_t)cls;
        *last = bound;
    }
    if (key.obj != NULL)
        PyBuffer_Release(&key);
    if (p == NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "a draw's bounds ascend to 2^53; a sticky "
                                          "candidate has a 16-byte key, a weight > 0, an answer");
    return p == NULL ? -1 : 0;
}

int gp_add_picks(gn_decisions *x, size_t cls, PyObject *item)
{
    if (x->cv[cls].kind == GN_FIXED)
        return 0;
    int draw = x->cv[cls].kind == GN_DRAW;
    PyObject *outcomes = PyTuple_GET_ITEM(item, PyTuple_GET_SIZE(item) - 1);
    size_t first = x->n_picks;
    uint64_t last = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(outcomes); i++)
        if (add_pick(x, draw, PyList_GET_ITEM(outcomes, i), &last) < 0)
            return -1;
    if (draw && last != (1ull << GN_DRAW_BITS)) {
        PyErr_SetString(PyExc_ValueError, "a draw's last bound is 2^53");
        return -1;
    }
    x->cv[cls].first = (uint32_t)first;
    x->cv[cls].n = (uint32_t)(x->n_picks - first);
    return 0;
}
