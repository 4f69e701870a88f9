/* The module and its Table type: what geodns/dns/native.py fills from a compiled Table,
   and answer(), the entry point the differential tests call without sockets. */
#define PY_SSIZE_T_CLEAN
#include "py/py.h"
#include "answer/answer.h"

#include <stdlib.h>
#include <string.h>

static void table_dealloc(gp_table *self)
{
    gn_table *t = &self->c;
    common_buf_free(&t->arena);
    common_set_free(&t->entries);
    common_set_free(&t->zones);
    common_set_free(&t->names);
    common_set_free(&t->cuts);
    common_set_free(&t->nodata); /* DNSSEC: signed NODATA (py/signed.c) */
    free(t->ents);
    free(t->zv);
    free(t->heads);
    log_names_free(t->log_names); /* observe: the query log's texts (py/qlog.c) */
    Py_XDECREF(self->keep);       /* DNSSEC: the zones' signing keys (py/signed.c) */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Table(plain0, plain1, ecs_head0, ecs_head1, payload, ecs_enabled, cookies, nsid, known,
         max_source_v4=24, max_source_v6=56) */
static int table_init(gp_table *self, PyObject *args, PyObject *kw)
{
    gn_table *t = &self->c;
    Py_buffer p0, p1, e0, e1, known;
    unsigned payload, max_v4 = 24, max_v6 = 56;
    int ecs, cookies, nsid;
    if (!PyArg_ParseTuple(args, "y*y*y*y*Ipppy*|II", &p0, &p1, &e0, &e1, &payload, &ecs, &cookies,
                          &nsid, &known, &max_v4, &max_v6))
        return -1;
    int ok = p0.len == 11 && p1.len == 11 && e0.len == 9 && e1.len == 9 &&
             known.len == sizeof t->opts.known && payload >= 512 && payload <= 65535 &&
             max_v4 <= 32 && max_v6 <= 128;
    if (ok) {
        memcpy(t->opts.plain[0], p0.buf, 11);
        memcpy(t->opts.plain[1], p1.buf, 11);
        memcpy(t->opts.ecs_head[0], e0.buf, 9);
        memcpy(t->opts.ecs_head[1], e1.buf, 9);
        memcpy(t->opts.known, known.buf, sizeof t->opts.known);
        t->opts.payload = (uint16_t)payload;
        t->opts.ecs_enabled = (uint8_t)ecs;
        t->opts.cookies = (uint8_t)cookies;
        t->opts.nsid = (uint8_t)nsid;
        t->opts.max_v4 = (uint8_t)max_v4;
        t->opts.max_v6 = (uint8_t)max_v6;
    }
    PyBuffer_Release(&p0), PyBuffer_Release(&p1), PyBuffer_Release(&e0);
    PyBuffer_Release(&e1), PyBuffer_Release(&known);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "bad OPT pieces, payload or type bitmap");
        return -1;
    }
    return 0;
}

static PyObject *no_memory(void)
{
    return PyErr_NoMemory();
}

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return p;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *np = realloc(p, ncap * size);
    if (np != NULL)
        *cap = ncap;
    return np;
}

/* add_zone(origin, soa_template, pointer_positions, wildcards, cuts, signed=False)
   -> zone index; signed: a DO query for the zone goes to Python (signed answers) */
static PyObject *table_add_zone(gp_table *self, PyObject *args)
{
    gn_table *t = &self->c;
    Py_buffer origin, soa;
    PyObject *ptrs;
    int wildcards, cuts, signed_ = 0;
    if (!PyArg_ParseTuple(args, "y*y*O!pp|p", &origin, &soa, &PyTuple_Type, &ptrs, &wildcards,
                          &cuts, &signed_))
        return NULL;
    PyObject *res = NULL;
    Py_ssize_t np = PyTuple_GET_SIZE(ptrs);
    if (np > 8 || soa.len > 512 || origin.len > GN_MAX_NAME || t->n_zones >= 65535) {
        PyErr_SetString(PyExc_ValueError, "zone beyond the native table's limits");
        goto done;
    }
    gn_zone *zv = grow(t->zv, &t->cap_zones, t->n_zones, sizeof *zv);
    if (zv == NULL) {
        no_memory();
        goto done;
    }
    t->zv = zv;
    gn_zone *z = &zv[t->n_zones];
    memset(z, 0, sizeof *z);
    for (Py_ssize_t i = 0; i < np; i++) {
        long v = PyLong_AsLong(PyTuple_GET_ITEM(ptrs, i));
        if (v < 0 || v + 2 > soa.len) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "pointer outside the SOA record");
            goto done;
        }
        z->ptr[i] = (uint16_t)v;
    }
    z->nptr = (uint8_t)np;
    z->wildcards = (uint8_t)wildcards;
    z->cuts = (uint8_t)cuts;
    z->signed_ = (uint8_t)signed_;
    z->origin_len = (uint16_t)origin.len;
    z->soa_len = (uint16_t)soa.len;
    if (common_buf_add(&t->arena, origin.buf, origin.len, &z->origin_off) < 0 ||
        common_buf_add(&t->arena, soa.buf, soa.len, &z->soa_off) < 0 ||
        common_set_put(&t->zones, &t->arena, origin.buf, origin.len, 0, (uint32_t)t->n_zones) < 0) {
        no_memory();
        goto done;
    }
    res = PyLong_FromSize_t(t->n_zones++);
done:
    PyBuffer_Release(&origin);
    PyBuffer_Release(&soa);
    return res;
}

/* add_names(zone, names, cut, value=0): every name in an iterable of bytes into the
   zone's names (cut false) or delegation points (cut true); value GN_NAME_PYTHON marks
   a name whose missing types the entries do not settle (a CNAME owner, a wildcard with a
   CNAME, NS or SOA): a question for one of them is Python's, not NODATA. */
static PyObject *table_add_names(gp_table *self, PyObject *args)
{
    gn_table *t = &self->c;
    unsigned zone, value = 0;
    PyObject *names;
    int cut;
    if (!PyArg_ParseTuple(args, "IOp|I", &zone, &names, &cut, &value))
        return NULL;
    if (zone >= t->n_zones)
        return PyErr_Format(PyExc_ValueError, "no zone %u", zone);
    PyObject *iter = PyObject_GetIter(names), *item;
    if (iter == NULL)
        return NULL;
    gn_set *set = cut ? &t->cuts : &t->names;
    while ((item = PyIter_Next(iter)) != NULL) {
        char *p;
        Py_ssize_t n;
        int bad = PyBytes_AsStringAndSize(item, &p, &n) < 0;
        if (!bad &&
            common_set_put(set, &t->arena, (uint8_t *)p, (size_t)n, (uint16_t)zone, value) < 0)
            bad = (no_memory(), 1);
        Py_DECREF(item);
        if (bad) {
            Py_DECREF(iter);
            return NULL;
        }
    }
    Py_DECREF(iter);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* add_entry(key, kind, zone, qtype, heads (80 bytes or b""), body, policy slot=0,
   chain=False): chain, a POLICY entry whose body is a CNAME chain's records */
static PyObject *table_add_entry(gp_table *self, PyObject *args)
{
    gn_table *t = &self->c;
    Py_buffer key, heads, body;
    int kind, chain = 0;
    unsigned zone, qtype, slot = 0;
    if (!PyArg_ParseTuple(args, "y*iIIy*y*|Ip", &key, &kind, &zone, &qtype, &heads, &body, &slot,
                          &chain))
        return NULL;
    PyObject *res = NULL;
    long hi = 0;
    int fixed = kind == GN_STATIC || kind == GN_REFERRAL;
    if (zone >= t->n_zones || kind < 0 || kind > GN_REFERRAL || (fixed && heads.len != 80) ||
        qtype > 0xFFFF || (chain && kind != GN_POLICY)) {
        PyErr_SetString(PyExc_ValueError, "bad entry");
        goto done;
    }
    gn_entry *ev = grow(t->ents, &t->cap_ents, t->n_ents, sizeof *ev);
    if (ev == NULL || (fixed && (hi = gp_intern_heads(t, heads.buf)) < 0)) {
        no_memory();
        goto done;
    }
    t->ents = ev;
    gn_entry *e = &ev[t->n_ents];
    memset(e, 0, sizeof *e);
    e->kind = (uint8_t)kind;
    e->zone = (uint16_t)zone;
    e->qtype = qtype;
    e->heads = (uint16_t)hi;
    e->policy = slot;
    e->chain = (uint8_t)chain;
    e->body_len = (uint32_t)body.len;
    if (common_buf_add(&t->arena, body.buf, body.len, &e->body_off) < 0 ||
        common_set_put(&t->entries, &t->arena, key.buf, key.len, 0, (uint32_t)t->n_ents) < 0) {
        no_memory();
        goto done;
    }
    t->n_ents++;
    res = Py_None;
    Py_INCREF(res);
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&heads);
    PyBuffer_Release(&body);
    return res;
}

/* answer(query, source=b"", decisions=None, cookies=None, now=0, rrl=None, clock=0.0)
   -> (reply, (zone index, qtype or -1 for "other", rcode), pool, action) or None: what a native
   thread does with this datagram from `source` (4 or 16 packed bytes; None: it goes to the Python
   handler; reply None: dropped by RRL). pool: the by_pool key counted (slot << 8 | the
   pool's index in its tree), or -1; action:
   the stats.RRL_ACTIONS index counted, or -1. cookies: a gd_cookies capsule, now: the wall
   clock in seconds for it; rrl: a gd_rrl capsule, clock: the monotonic seconds for it;
   draws: 8 writable bytes, the random draws' state (advanced), else the thread's own;
   max_size: what the transport carries (0: a datagram; TCP 65535). */
static PyObject *table_answer(gp_table *self, PyObject *args)
{
    gn_table *t = &self->c;
    Py_buffer q, a = {0};
    Py_buffer draws = {0};
    PyObject *dec = Py_None, *jar = Py_None, *lim = Py_None;
    long long now = 0;
    double clock = 0.0;
    unsigned max_size = 0;
    PyObject *dobj = Py_None;
    if (!PyArg_ParseTuple(args, "y*|y*OOLOdOI", &q, &a, &dec, &jar, &now, &lim, &clock, &dobj,
                          &max_size))
        return NULL;
    if (dobj != Py_None && PyObject_GetBuffer(dobj, &draws, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&q);
        if (a.buf != NULL)
            PyBuffer_Release(&a);
        return NULL;
    }
    gd_rrl *rrl = NULL;
    gn_source src = {.family = a.len == 4 ? 4 : 6, .now = now, .max_size = max_size};
    int bad = (a.buf != NULL && a.len != 4 && a.len != 16) || max_size > 65535 ||
              (dec != Py_None && !PyObject_TypeCheck(dec, &gp_decisions_type)) ||
              (draws.buf != NULL && draws.len != 8); /* draws: the random state, updated */
    uint64_t state = 0;
    if (!bad && draws.buf != NULL) {
        memcpy(&state, draws.buf, 8);
        src.draw = &state;
    }
    if (!bad && jar != Py_None)
        bad = (src.cookies = PyCapsule_GetPointer(jar, "gd_cookies")) == NULL;
    if (!bad && lim != Py_None)
        bad = (rrl = PyCapsule_GetPointer(lim, "gd_rrl")) == NULL;
    if (!bad && a.buf != NULL)
        memcpy(src.addr, a.buf, (size_t)a.len);
    uint8_t *out = bad ? NULL : malloc(65536);
    uint64_t ckey = 0, pkey = 0, akey = 0;
    size_t n = 0, sent = 0;
    if (out != NULL)
        n = answer_reply(t, dec == Py_None ? NULL : &((gp_decisions *)dec)->c, a.buf ? &src : NULL,
                         q.buf, (size_t)q.len, out, 65536, &ckey, &pkey);
    sent = n;
    if (n && rrl != NULL && a.buf != NULL)
        sent = rrl_limit(t, rrl, &src, q.buf, (size_t)q.len, out, n, ckey, clock, &akey);
    PyBuffer_Release(&q);
    if (draws.buf != NULL) {
        if (!bad)
            memcpy(draws.buf, &state, 8);
        PyBuffer_Release(&draws);
    }
    if (a.buf != NULL)
        PyBuffer_Release(&a);
    if (bad) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "a 4 or 16 byte source, a Decisions");
        return NULL;
    }
    if (out == NULL)
        return PyErr_NoMemory();
    PyObject *res = Py_None;
    if (n == 0) {
        Py_INCREF(res);
    } else {
        long zone = (long)(ckey >> 32) - 1;
        unsigned qtype = (unsigned)(ckey >> 8) & 0xFFFFFF, rcode = (unsigned)ckey & 0xFF;
        long long pool = pkey ? (long long)(pkey & ~(1ull << 63)) : -1;
        long action = akey ? (long)(akey & 3) : -1;
        PyObject *reply = sent ? PyBytes_FromStringAndSize((char *)out, (Py_ssize_t)sent)
                               : (Py_INCREF(Py_None), Py_None);
        long label = qtype == GN_QTYPE_OTHER ? -1 : (long)qtype; /* stats.QTYPE_OTHER */
        res = reply ? Py_BuildValue("N(llI)Ll", reply, zone, label, rcode, pool, action) : NULL;
    }
    free(out);
    return res;
}

/* set_identity(nsid_option, id_record, version_record): who answers (dns/identity.py),
   pre-encoded: our NSID option (code, length, instance name) and the CH TXT records of
   id.server./hostname.bind. and version.server./version.bind. (b"": REFUSED). Before the
   table is served. */
static PyObject *table_set_identity(gp_table *self, PyObject *args)
{
    gn_ident *id = &self->c.ident;
    Py_buffer n, i, v;
    if (!PyArg_ParseTuple(args, "y*y*y*", &n, &i, &v))
        return NULL;
    int ok = n.len >= 4 && n.len <= GN_IDENT_MAX && i.len <= GN_IDENT_MAX && v.len <= GN_IDENT_MAX;
    if (ok) {
        memcpy(id->nsid, n.buf, (size_t)n.len);
        memcpy(id->id_rec, i.buf, (size_t)i.len);
        memcpy(id->ver_rec, v.buf, (size_t)v.len);
        id->nsid_len = (uint16_t)n.len, id->id_len = (uint16_t)i.len;
        id->ver_len = (uint16_t)v.len;
        id->set = 1;
    }
    PyBuffer_Release(&n), PyBuffer_Release(&i), PyBuffer_Release(&v);
    if (!ok)
        return PyErr_Format(PyExc_ValueError, "identity over %d bytes", GN_IDENT_MAX);
    Py_RETURN_NONE;
}

/* seal(): give back what growth reserved (the table is complete; workers fork it). */
static PyObject *table_seal(gp_table *self, PyObject *unused)
{
    gn_table *t = &self->c;
    if (t->arena.n && t->arena.n < t->arena.cap) {
        uint8_t *p = realloc(t->arena.p, t->arena.n);
        if (p != NULL)
            t->arena.p = p, t->arena.cap = t->arena.n;
    }
    gn_set *sets[] = {&t->entries, &t->zones, &t->names, &t->cuts};
    for (size_t i = 0; i < 4; i++) {
        gn_set *set = sets[i];
        if (set->n && set->n < set->cap) {
            gn_item *it = realloc(set->items, set->n * sizeof *it);
            if (it != NULL)
                set->items = it, set->cap = set->n;
        }
    }
    if (t->n_ents && t->n_ents < t->cap_ents) {
        gn_entry *e = realloc(t->ents, t->n_ents * sizeof *e);
        if (e != NULL)
            t->ents = e, t->cap_ents = t->n_ents;
    }
    Py_RETURN_NONE;
}

static PyObject *table_nbytes(gp_table *self, PyObject *unused)
{
    gn_table *t = &self->c;
    size_t n = t->arena.cap + common_set_bytes(&t->entries) + common_set_bytes(&t->zones) +
               common_set_bytes(&t->names) + common_set_bytes(&t->cuts) +
               common_set_bytes(&t->nodata) + t->cap_ents * sizeof(gn_entry) +
               t->cap_zones * sizeof(gn_zone) + t->cap_heads * 80;
    return PyLong_FromSize_t(n);
}

static PyMethodDef table_methods[] = {
    {"add_zone", (PyCFunction)table_add_zone, METH_VARARGS, "Add a zone; its index."},
    {"add_names", (PyCFunction)table_add_names, METH_VARARGS, "Names (or cuts) of a zone."},
    {"add_entry", (PyCFunction)table_add_entry, METH_VARARGS, "One exact question."},
    {"answer", (PyCFunction)table_answer, METH_VARARGS, "The native reply, or None."},
    {"add_signed", (PyCFunction)gp_table_add_signed, METH_VARARGS,
     "A static entry's signed answer."},
    {"add_nodata", (PyCFunction)gp_table_add_nodata, METH_VARARGS, "A name's signed NODATA."},
    {"set_denial", (PyCFunction)gp_table_set_denial, METH_VARARGS, "A zone's compact denial."},
    {"set_signed_until", (PyCFunction)gp_table_set_signed_until, METH_VARARGS,
     "Signed week's end."},
    {"nbytes", (PyCFunction)table_nbytes, METH_NOARGS, "Bytes the table holds."},
    {"seal", (PyCFunction)table_seal, METH_NOARGS, "Give back growth reserve."},
    {"set_identity", (PyCFunction)table_set_identity, METH_VARARGS, "NSID and CHAOS answers."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject gp_table_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "geodns._native.Table",
    .tp_basicsize = sizeof(gp_table),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The flat table native threads answer from (immutable once served).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)table_init,
    .tp_dealloc = (destructor)table_dealloc,
    .tp_methods = table_methods,
};
