/* The Decisions type: a compiled tree's ranges and each class's answer under one health
   state, built by geodns/dns/nativepolicy.py, read by csrc/answer/policy.c. */
#define PY_SSIZE_T_CLEAN
#include "py/py.h"
#include "answer/answer.h"

#include <stdlib.h>
#include <string.h>

static void decisions_dealloc(gp_decisions *self)
{
    gn_decisions *x = &self->c;
    common_buf_free(&x->arena);
    free(x->pv);
    free(x->cv);
    free(x->heads);
    free(x->picks);
    if (self->rotations.obj != NULL)
        PyBuffer_Release(&self->rotations);
    Py_XDECREF(self->keep);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Decisions(slots[, rotations]): every slot Python's until set_policy fills it;
   rotations: a writable buffer of uint64 counters (max_answers), kept by the caller across
   health changes. */
static int decisions_init(gp_decisions *self, PyObject *args, PyObject *kw)
{
    gn_decisions *x = &self->c;
    Py_ssize_t n;
    PyObject *rot = Py_None;
    if (!PyArg_ParseTuple(args, "n|O", &n, &rot))
        return -1;
    if (rot != Py_None && self->rotations.obj == NULL) {
        if (PyObject_GetBuffer(rot, &self->rotations, PyBUF_WRITABLE) < 0)
            return -1;
        if (self->rotations.len % 8 || ((uintptr_t)self->rotations.buf & 7)) {
            PyErr_SetString(PyExc_ValueError, "rotations: aligned uint64 counters");
            return -1;
        }
        x->rot = self->rotations.buf;
        x->n_rot = (size_t)self->rotations.len / 8;
    }
    if (n < 0 || x->pv != NULL || self->keep != NULL) {
        PyErr_SetString(PyExc_ValueError, "a slot count, once");
        return -1;
    }
    x->pv = calloc((size_t)(n ? n : 1), sizeof *x->pv);
    self->keep = PyList_New(0);
    if (x->pv == NULL || self->keep == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    x->n_policies = (size_t)n;
    return 0;
}

/* set_policy(slot, start4, cls4, start6, cls6, classes): classes is a list of
   (heads: 80 bytes, records: bytes (b"": NODATA, the entry's SOA), pool: its index in
   the tree's pools (0..255) or -1, python: bool) by class. */
static PyObject *decisions_set_policy(gp_decisions *self, PyObject *args)
{
    gn_decisions *x = &self->c;
    Py_ssize_t slot;
    PyObject *s4, *c4, *s6, *c6, *classes;
    if (!PyArg_ParseTuple(args, "nO!O!O!O!O!", &slot, &PyBytes_Type, &s4, &PyBytes_Type, &c4,
                          &PyBytes_Type, &s6, &PyBytes_Type, &c6, &PyList_Type, &classes))
        return NULL;
    if (slot < 0 || (size_t)slot >= x->n_policies || x->pv[slot].ready)
        return PyErr_Format(PyExc_ValueError, "slot %zd out of range or set", slot);
    gn_policy *p = &x->pv[slot];
    gd_ranges r = {
        .start4 = (const uint32_t *)PyBytes_AS_STRING(s4),
        .cls4 = (const uint32_t *)PyBytes_AS_STRING(c4),
        .n4 = (size_t)PyBytes_GET_SIZE(c4) / 4,
        .start6 = (const uint8_t(*)[16])PyBytes_AS_STRING(s6),
        .cls6 = (const uint32_t *)PyBytes_AS_STRING(c6),
        .n6 = (size_t)PyBytes_GET_SIZE(c6) / 4,
    };
    if (PyBytes_GET_SIZE(s4) != PyBytes_GET_SIZE(c4) ||
        PyBytes_GET_SIZE(s6) != 4 * PyBytes_GET_SIZE(c6) || PyBytes_GET_SIZE(c4) % 4 ||
        PyBytes_GET_SIZE(c6) % 4 || !geo_ranges_valid(&r))
        return PyErr_Format(PyExc_ValueError, "ranges not in the csrc/geo/ranges.h layout");
    size_t first = x->n_classes, top = (size_t)PyList_GET_SIZE(classes);
    for (size_t i = 0; i < top; i++) /* the classes first, then what they pick from */
        if (gp_add_class(x, PyList_GET_ITEM(classes, (Py_ssize_t)i)) < 0)
            return NULL;
    for (size_t i = 0; i < top; i++)
        if (gp_add_picks(x, first + i, PyList_GET_ITEM(classes, (Py_ssize_t)i)) < 0)
            return NULL;
    for (size_t i = 0; i < r.n4; i++) /* every class a range names must exist */
        if (r.cls4[i] >= top)
            return PyErr_Format(PyExc_ValueError, "a range names class %u of %zu", r.cls4[i], top);
    for (size_t i = 0; i < r.n6; i++)
        if (r.cls6[i] >= top)
            return PyErr_Format(PyExc_ValueError, "a range names class %u of %zu", r.cls6[i], top);
    PyObject *kept = PyTuple_Pack(4, s4, c4, s6, c6);
    if (kept == NULL || PyList_Append(self->keep, kept) < 0) {
        Py_XDECREF(kept);
        return NULL;
    }
    Py_DECREF(kept);
    p->r = r;
    p->first = (uint32_t)first;
    p->n = (uint32_t)top;
    p->ready = 1;
    Py_RETURN_NONE;
}

/* set_split(slot, start4, group4, start6, group6, keys, classes, floor4, floor6): a set
   slot's tree split by measured networks (geodns/geo/measuredsplit.py Split.native()):
   the measured intervals in the csrc/geo/ranges.h layout, keys uint64 group << 32 | GeoIP
   class strictly ascending with each one's uint32 class, the scope floors. */
static PyObject *decisions_set_split(gp_decisions *self, PyObject *args)
{
    gn_decisions *x = &self->c;
    Py_ssize_t slot;
    PyObject *s4, *g4, *s6, *g6, *keys, *cls;
    unsigned floor4, floor6;
    if (!PyArg_ParseTuple(args, "nO!O!O!O!O!O!II", &slot, &PyBytes_Type, &s4, &PyBytes_Type, &g4,
                          &PyBytes_Type, &s6, &PyBytes_Type, &g6, &PyBytes_Type, &keys,
                          &PyBytes_Type, &cls, &floor4, &floor6))
        return NULL;
    if (slot < 0 || (size_t)slot >= x->n_policies || !x->pv[slot].ready || x->pv[slot].split)
        return PyErr_Format(PyExc_ValueError, "slot %zd not set, or split", slot);
    gn_policy *p = &x->pv[slot];
    gd_ranges r = {
        .start4 = (const uint32_t *)PyBytes_AS_STRING(s4),
        .cls4 = (const uint32_t *)PyBytes_AS_STRING(g4),
        .n4 = (size_t)PyBytes_GET_SIZE(g4) / 4,
        .start6 = (const uint8_t(*)[16])PyBytes_AS_STRING(s6),
        .cls6 = (const uint32_t *)PyBytes_AS_STRING(g6),
        .n6 = (size_t)PyBytes_GET_SIZE(g6) / 4,
    };
    size_t n = (size_t)PyBytes_GET_SIZE(cls) / 4;
    const uint64_t *k = (const uint64_t *)PyBytes_AS_STRING(keys);
    const uint32_t *c = (const uint32_t *)PyBytes_AS_STRING(cls);
    int ok = PyBytes_GET_SIZE(s4) == PyBytes_GET_SIZE(g4) &&
             PyBytes_GET_SIZE(s6) == 4 * PyBytes_GET_SIZE(g6) && PyBytes_GET_SIZE(g4) % 4 == 0 &&
             PyBytes_GET_SIZE(g6) % 4 == 0 && PyBytes_GET_SIZE(cls) % 4 == 0 &&
             (size_t)PyBytes_GET_SIZE(keys) == 8 * n && floor4 <= 32 && floor6 <= 128 &&
             geo_ranges_valid(&r);
    for (size_t i = 0; ok && i < n; i++) /* ascending keys, classes the slot has */
        ok = c[i] < p->n && (i == 0 || k[i] > k[i - 1]);
    if (!ok)
        return PyErr_Format(PyExc_ValueError, "a split not in the measuredsplit.py layout");
    PyObject *kept = PyTuple_Pack(6, s4, g4, s6, g6, keys, cls);
    if (kept == NULL || PyList_Append(self->keep, kept) < 0) {
        Py_XDECREF(kept);
        return NULL;
    }
    Py_DECREF(kept);
    p->ov = r;
    p->pair_key = k, p->pair_cls = c, p->n_pairs = n;
    p->floor4 = (uint8_t)floor4, p->floor6 = (uint8_t)floor6;
    p->split = 1;
    Py_RETURN_NONE;
}

/* share(slot, other): slot answers as `other` (set) does: the same tree, TTL and type. */
static PyObject *decisions_share(gp_decisions *self, PyObject *args)
{
    gn_decisions *x = &self->c;
    Py_ssize_t slot, other;
    if (!PyArg_ParseTuple(args, "nn", &slot, &other))
        return NULL;
    if (slot < 0 || other < 0 || (size_t)slot >= x->n_policies || (size_t)other >= x->n_policies ||
        x->pv[slot].ready || !x->pv[other].ready)
        return PyErr_Format(PyExc_ValueError, "slot %zd cannot share %zd", slot, other);
    x->pv[slot] = x->pv[other];
    Py_RETURN_NONE;
}

static PyMethodDef decisions_methods[] = {
    {"share", (PyCFunction)decisions_share, METH_VARARGS,
     "A slot answering as another (same tree, TTL, type)."},
    {"set_policy", (PyCFunction)decisions_set_policy, METH_VARARGS,
     "A slot's ranges and its classes' answers."},
    {"set_split", (PyCFunction)decisions_set_split, METH_VARARGS,
     "A slot's classes split by measured networks."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject gp_decisions_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "geodns._native.Decisions",
    .tp_basicsize = sizeof(gp_decisions),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Policy answers by class under one health state (immutable once served).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)decisions_init,
    .tp_dealloc = (destructor)decisions_dealloc,
    .tp_methods = decisions_methods,
};
