/* geodns._native: compiled GeoIP for the Python side (dns.fast_path, docs/reference.md).
 *
 * Tree(buffer, node_count, record_size, ip_version): one walk of an MMDB search tree into
 *   leaves (the GIL released), its distinct records (.records, .offsets()), their decoded
 *   routing fields (.city(), .asn()), and .classify(classes) -> merged range arrays.
 * overlay() / remap(): combine two partitions, rename classes, merging as they go.
 * Ranges(start4, cls4, start6, cls6): .find(packed) -> (class, scope) through geo_find4/6.
 * The arrays are the bytes layout of csrc/geo/ranges.h; the database is read from the buffer
 * the Python side holds (its sealed snapshot map), never from a path. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "py/py.h"
#include "geo/geo.h"
#include "geo/ranges.h"

#include <stdlib.h>

PyObject *gp_decode(const gd_db *db, const uint32_t *offsets, size_t n, int kind);
PyObject *gp_places(const gd_db *db, const uint32_t *offsets, size_t n);

typedef struct {
    PyObject_HEAD Py_buffer view;
    gd_db db;
    gd_walk walk;
    int ready;
} TreeObject;

static void tree_dealloc(TreeObject *self)
{
    if (self->ready) {
        geo_walk_free(&self->walk);
        PyBuffer_Release(&self->view);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *tree_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *names[] = {"buffer", "node_count", "record_size", "ip_version", NULL};
    Py_buffer view;
    unsigned long nc;
    int rs, ipv, rc;
    const char *err = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*kii", names, &view, &nc, &rs, &ipv))
        return NULL;
    TreeObject *self = (TreeObject *)type->tp_alloc(type, 0);
    if (!self || nc > UINT32_MAX) {
        PyBuffer_Release(&view);
        Py_XDECREF(self);
        return self ? PyErr_Format(PyExc_ValueError, "node count %lu too large", nc) : NULL;
    }
    self->view = view;
    self->db = (gd_db){view.buf,     (size_t)view.len,
                       (uint32_t)nc, rs,
                       ipv,          (size_t)nc * (size_t)(rs > 0 ? rs : 0) / 4};
    Py_BEGIN_ALLOW_THREADS rc = geo_walk_tree(&self->db, &self->walk, &err);
    Py_END_ALLOW_THREADS if (rc < 0)
    {
        PyBuffer_Release(&self->view);
        Py_DECREF(self);
        return PyErr_Format(PyExc_ValueError, "GeoIP database: %s", err);
    }
    self->ready = 1;
    return (PyObject *)self;
}

static PyObject *tree_records(TreeObject *self, void *closure)
{
    return PyLong_FromSize_t(self->walk.nrec);
}

static PyObject *tree_leaves(TreeObject *self, void *closure)
{
    return Py_BuildValue("nn", (Py_ssize_t)self->walk.v4.n, (Py_ssize_t)self->walk.v6.n);
}

static PyObject *tree_offsets(TreeObject *self, PyObject *unused)
{
    return PyBytes_FromStringAndSize((const char *)self->walk.offsets,
                                     (Py_ssize_t)(self->walk.nrec * sizeof(uint32_t)));
}

static PyObject *tree_city(TreeObject *self, PyObject *unused)
{
    return gp_decode(&self->db, self->walk.offsets, self->walk.nrec, 0);
}

static PyObject *tree_places(TreeObject *self, PyObject *unused)
{
    return gp_places(&self->db, self->walk.offsets, self->walk.nrec);
}

static PyObject *tree_asn(TreeObject *self, PyObject *unused)
{
    return gp_decode(&self->db, self->walk.offsets, self->walk.nrec, 1);
}

static PyObject *out_bytes(gd_out *o)
{
    PyObject *s =
        PyBytes_FromStringAndSize((const char *)o->start, (Py_ssize_t)(o->n * (size_t)o->width));
    PyObject *c =
        PyBytes_FromStringAndSize((const char *)o->cls, (Py_ssize_t)(o->n * sizeof(uint32_t)));
    geo_out_free(o);
    if (!s || !c) {
        Py_XDECREF(s);
        Py_XDECREF(c);
        return NULL;
    }
    return Py_BuildValue("NN", s, c);
}

static int u32_buffer(PyObject *obj, Py_buffer *view)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0)
        return -1;
    if (view->len % 4) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "uint32 array expected (length not a multiple of 4)");
        return -1;
    }
    return 0;
}

/* classify(classes[, index]) -> (start4, cls4, start6, cls6): the class of record rec
 * (0 = no data, records + 1 of them) is classes[rec], or classes[index[rec]] with an index;
 * uint32 arrays; equal neighbours merged. */
static PyObject *tree_classify(TreeObject *self, PyObject *args)
{
    PyObject *classes, *index = NULL;
    Py_buffer cls, idx = {0};
    gd_out o4 = {0}, o6 = {0};
    uint32_t *table = NULL;
    int rc = -1;
    size_t nrec = self->walk.nrec + 1;
    if (!PyArg_ParseTuple(args, "O|O", &classes, &index) || u32_buffer(classes, &cls) < 0)
        return NULL;
    if (index && u32_buffer(index, &idx) < 0) {
        PyBuffer_Release(&cls);
        return NULL;
    }
    size_t ncls = (size_t)cls.len / 4;
    const uint32_t *c = cls.buf;
    if (index) {
        table = (size_t)idx.len / 4 >= nrec ? PyMem_Malloc(nrec * sizeof *table) : NULL;
        for (size_t i = 0; table && i < nrec; i++) {
            uint32_t at = ((const uint32_t *)idx.buf)[i];
            if (at >= ncls) {
                PyMem_Free(table);
                table = NULL;
                break;
            }
            table[i] = c[at];
        }
        c = table;
        ncls = table ? nrec : 0;
    }
    if (ncls >= nrec) {
        Py_BEGIN_ALLOW_THREADS rc = geo_classify4(&self->walk, c, ncls, &o4);
        if (rc == 0)
            rc = geo_classify6(&self->walk, c, ncls, &o4, &o6);
        Py_END_ALLOW_THREADS
    }
    PyMem_Free(table);
    PyBuffer_Release(&cls);
    if (index)
        PyBuffer_Release(&idx);
    if (rc < 0) {
        geo_out_free(&o4);
        geo_out_free(&o6);
        return ncls >= nrec
                   ? PyErr_NoMemory()
                   : PyErr_Format(PyExc_ValueError, "classify: too few classes or a bad index");
    }
    PyObject *a = out_bytes(&o4);
    PyObject *b = a ? out_bytes(&o6) : (geo_out_free(&o6), NULL);
    if (!a || !b) {
        Py_XDECREF(a);
        return NULL;
    }
    PyObject *out = PySequence_Concat(a, b);
    Py_DECREF(a);
    Py_DECREF(b);
    return out;
}

static PyMethodDef tree_methods[] = {
    {"offsets", (PyCFunction)tree_offsets, METH_NOARGS, "absolute data offsets, uint32 each"},
    {"city", (PyCFunction)tree_city, METH_NOARGS,
     "(continent, country, subdivision, lat, lon) per record"},
    {"places", (PyCFunction)tree_places, METH_NOARGS,
     "(index, distinct places): city() deduplicated"},
    {"asn", (PyCFunction)tree_asn, METH_NOARGS, "autonomous_system_number (or None) per record"},
    {"classify", (PyCFunction)tree_classify, METH_VARARGS,
     "merged ranges for a record -> class array"},
    {NULL}};

static PyGetSetDef tree_getset[] = {
    {"records", (getter)tree_records, NULL, "distinct data records", NULL},
    {"leaves", (getter)tree_leaves, NULL, "(IPv4, IPv6) leaves after merging equal records", NULL},
    {NULL}};

PyTypeObject gp_tree_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "geodns._native.Tree",
    .tp_basicsize = sizeof(TreeObject),
    .tp_dealloc = (destructor)tree_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One walk of an MMDB search tree (a buffer, never a path).",
    .tp_methods = tree_methods,
    .tp_getset = tree_getset,
    .tp_new = tree_new,
};

/* overlay(width, starts_a, cls_a, starts_b, cls_b, nb) -> (starts, keys), key = a*nb + b */
static PyObject *overlay(PyObject *mod, PyObject *args)
{
    int width, rc;
    unsigned long nb;
    Py_buffer sa, ca, sb, cb;
    gd_out o = {0};
    if (!PyArg_ParseTuple(args, "iy*y*y*y*k", &width, &sa, &ca, &sb, &cb, &nb))
        return NULL;
    size_t na = (size_t)ca.len / 4, nbr = (size_t)cb.len / 4;
    int ok = (width == 4 || width == 16) && nb <= UINT32_MAX && na && nbr &&
             (size_t)sa.len == na * (size_t)width && (size_t)sb.len == nbr * (size_t)width &&
             ca.len % 4 == 0 && cb.len % 4 == 0;
    rc = -1;
    if (ok) {
        Py_BEGIN_ALLOW_THREADS rc =
            geo_overlay(width, sa.buf, ca.buf, na, sb.buf, cb.buf, nbr, (uint32_t)nb, &o);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&sa);
    PyBuffer_Release(&ca);
    PyBuffer_Release(&sb);
    PyBuffer_Release(&cb);
    if (rc < 0) {
        geo_out_free(&o);
        return PyErr_Format(PyExc_ValueError, "overlay: bad arrays or keys past 2**32");
    }
    return out_bytes(&o);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* remap(width, starts, keys, known, cls) -> (starts, cls): each key found in `known`
 * (sorted uint32) becomes the class at the same index of `cls`; equal neighbours merged. */
static PyObject *remap(PyObject *mod, PyObject *args)
{
    int width;
    Py_buffer s, k, kn, t;
    gd_out o = {0};
    if (!PyArg_ParseTuple(args, "iy*y*y*y*", &width, &s, &k, &kn, &t))
        return NULL;
    size_t n = (size_t)k.len / 4, nt = (size_t)t.len / 4;
    int bad = !(width == 4 || width == 16) || k.len % 4 || t.len % 4 || kn.len != t.len ||
              (size_t)s.len != n * (size_t)width;
    o.width = width;
    for (size_t i = 0; !bad && i < n; i++) {
        const uint32_t *hit = bsearch((const uint32_t *)k.buf + i, kn.buf, nt, 4, cmp_u32);
        bad = !hit || geo_out_push(&o, (const uint8_t *)s.buf + i * (size_t)width,
                                   ((const uint32_t *)t.buf)[hit - (const uint32_t *)kn.buf]) < 0;
    }
    PyBuffer_Release(&s);
    PyBuffer_Release(&k);
    PyBuffer_Release(&kn);
    PyBuffer_Release(&t);
    if (bad) {
        geo_out_free(&o);
        return PyErr_Format(PyExc_ValueError, "remap: bad arrays or a key not in the table");
    }
    return out_bytes(&o);
}

typedef struct {
    PyObject_HEAD PyObject *keep[4];
    gd_ranges r;
} RangesObject;

static void ranges_dealloc(RangesObject *self)
{
    for (int i = 0; i < 4; i++)
        Py_XDECREF(self->keep[i]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *ranges_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    PyObject *b[4];
    if (!PyArg_ParseTuple(args, "SSSS", &b[0], &b[1], &b[2], &b[3]))
        return NULL;
    Py_ssize_t l[4];
    for (int i = 0; i < 4; i++)
        l[i] = PyBytes_GET_SIZE(b[i]);
    if (l[0] % 4 || l[0] != l[1] || l[2] % 16 || l[2] / 16 != l[3] / 4 || l[3] % 4) {
        PyErr_SetString(PyExc_ValueError, "Ranges: arrays of mismatched lengths");
        return NULL;
    }
    RangesObject *self = (RangesObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    for (int i = 0; i < 4; i++)
        self->keep[i] = Py_NewRef(b[i]);
    self->r = (gd_ranges){(const uint32_t *)PyBytes_AS_STRING(b[0]),
                          (const uint32_t *)PyBytes_AS_STRING(b[1]),
                          (size_t)l[0] / 4,
                          (const uint8_t(*)[16])PyBytes_AS_STRING(b[2]),
                          (const uint32_t *)PyBytes_AS_STRING(b[3]),
                          (size_t)l[3] / 4};
    if (!geo_ranges_valid(&self->r)) {
        Py_DECREF(self);
        PyErr_SetString(PyExc_ValueError, "Ranges: not sorted ranges starting at 0");
        return NULL;
    }
    return (PyObject *)self;
}

static PyObject *ranges_find(RangesObject *self, PyObject *arg)
{
    int scope = 0;
    uint32_t cls;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "find: packed address bytes expected");
        return NULL;
    }
    const uint8_t *p = (const uint8_t *)PyBytes_AS_STRING(arg);
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    if (n == 4)
        cls = geo_find4(&self->r,
                        (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3],
                        &scope);
    else if (n == 16)
        cls = geo_find6(&self->r, p, &scope);
    else {
        PyErr_SetString(PyExc_ValueError, "find: 4 or 16 bytes expected");
        return NULL;
    }
    return Py_BuildValue("Ii", cls, scope);
}

static PyMethodDef ranges_methods[] = {
    {"find", (PyCFunction)ranges_find, METH_O, "(class, scope) of a packed address"}, {NULL}};

PyTypeObject gp_ranges_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "geodns._native.Ranges",
    .tp_basicsize = sizeof(RangesObject),
    .tp_dealloc = (destructor)ranges_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Merged ranges (the csrc/geo/ranges.h layout) with geo_find4/geo_find6.",
    .tp_methods = ranges_methods,
    .tp_new = ranges_new,
};

PyMethodDef gp_geo_functions[] = {
    {"overlay", overlay, METH_VARARGS, "common refinement of two range lists"},
    {"remap", remap, METH_VARARGS, "rename classes through a table, merging"},
    {NULL}};
