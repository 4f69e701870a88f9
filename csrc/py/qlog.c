/* The query log as Python holds it (geodns._native.QueryLog): its rings and writer thread
   (csrc/log/), what the event loop pushes for the answers it makes, the texts a native
   table's answers are logged by, and the Server methods that attach the log to the native
   threads and read their histograms (csrc/serve/observe.h). */
#define PY_SSIZE_T_CLEAN
#include "py/py.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static void qlog_free(log_writer *w)
{
    for (int i = 0; i < LOG_MAX_RINGS; i++)
        log_ring_free(&w->rings[i]);
    free(w->path);
    free(w->identity);
    w->path = NULL;
    w->identity = NULL;
}

static void qlog_dealloc(gp_qlog *self)
{
    Py_BEGIN_ALLOW_THREADS log_writer_stop(&self->c);
    Py_END_ALLOW_THREADS qlog_free(&self->c);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* mnemonics: {code: text} into a table of fixed-width texts */
static int mnemonics(PyObject *map, log_style *st, int rcodes)
{
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    int wide = 0;
    while (map != NULL && PyDict_Next(map, &pos, &k, &v)) {
        long code = PyLong_AsLong(k);
        const char *text = PyUnicode_AsUTF8(v);
        if ((code == -1 && PyErr_Occurred()) || text == NULL)
            return -1;
        if (strlen(text) >= 12 || code < 0)
            continue;
        if (rcodes && code < 32)
            strcpy(st->rcodes[code], text);
        else if (!rcodes && code < 256)
            strcpy(st->types[code], text);
        else if (!rcodes && code < 65536 && wide < 8) {
            strcpy(st->wide[wide], text);
            st->wide_code[wide++] = (uint16_t)code;
        }
    }
    return 0;
}

/* QueryLog(threads, fd=-1, dnstap=None, json=False, types=None, rcodes=None, max_v4=24,
            max_v6=56, identity=b""): rings for `threads` native threads and one for the
   event loop; lines to fd (-1: none), dnstap to the unix socket at `dnstap` (None: none). */
static int qlog_init(gp_qlog *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"threads", "fd",     "dnstap", "json",     "types",
                            "rcodes",  "max_v4", "max_v6", "identity", NULL};
    log_writer *w = &self->c;
    int threads, fd = -1, json = 0;
    unsigned max_v4 = 24, max_v6 = 56;
    const char *path = NULL;
    PyObject *types = NULL, *rcodes = NULL;
    Py_buffer id = {0};
    if (w->nrings) {
        PyErr_SetString(PyExc_RuntimeError, "QueryLog: once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kw, "i|izpO!O!IIy*", names, &threads, &fd, &path, &json,
                                     &PyDict_Type, &types, &PyDict_Type, &rcodes, &max_v4, &max_v6,
                                     &id))
        return -1;
    if (threads < 0 || threads + 1 > LOG_MAX_RINGS) {
        PyBuffer_Release(&id);
        PyErr_SetString(PyExc_ValueError, "QueryLog: 0-16 threads");
        return -1;
    }
    w->fd = fd;
    w->tap = -1;
    w->style.json = json;
    w->style.max_v4 = max_v4;
    w->style.max_v6 = max_v6;
    w->path = path ? strdup(path) : NULL;
    w->identity = malloc(id.len ? (size_t)id.len : 1);
    if (w->identity != NULL && id.len)
        memcpy(w->identity, id.buf, (size_t)id.len);
    w->identity_len = (size_t)id.len;
    PyBuffer_Release(&id);
    if (mnemonics(types, &w->style, 0) < 0 || mnemonics(rcodes, &w->style, 1) < 0)
        return -1;
    for (int i = 0; i < threads + 1; i++)
        if (log_ring_init(&w->rings[i], LOG_RING_BYTES) < 0) {
            PyErr_NoMemory();
            return -1;
        }
    if ((path && w->path == NULL) || w->identity == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    w->nrings = threads + 1;
    return 0;
}

static PyObject *qlog_start(gp_qlog *self, PyObject *unused)
{
    if (self->c.running || self->c.nrings == 0) {
        PyErr_SetString(PyExc_RuntimeError, "QueryLog: already started");
        return NULL;
    }
    if (log_writer_start(&self->c) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* stop(): every record pushed so far is written, then the thread ends (dnstap: STOP). */
static PyObject *qlog_stop(gp_qlog *self, PyObject *unused)
{
    Py_BEGIN_ALLOW_THREADS log_writer_stop(&self->c);
    Py_END_ALLOW_THREADS Py_RETURN_NONE;
}

static int pack(const char *host, uint8_t addr[16], uint8_t *family)
{
    char h[INET6_ADDRSTRLEN + 1];
    size_t n = strcspn(host, "%");
    if (n >= sizeof h)
        return -1;
    memcpy(h, host, n);
    h[n] = 0;
    if (inet_pton(AF_INET, h, addr) == 1) {
        *family = 4;
        return 0;
    }
    *family = 6;
    return inet_pton(AF_INET6, h, addr) == 1 ? 0 : -1;
}

/* push(query, response, client, port, local, lport, tcp, zone, pool, ns, flags, native):
   one answer the event loop made (its ring: never full-blocking; False when dropped). */
static PyObject *qlog_push(gp_qlog *self, PyObject *args)
{
    log_writer *w = &self->c;
    Py_buffer q, r;
    const char *host, *local, *zone, *pool;
    Py_ssize_t zlen, plen;
    unsigned port, lport;
    int tcp, flags, native;
    unsigned long long ns;
    if (!PyArg_ParseTuple(args, "y*y*sIsIpz#z#Kip", &q, &r, &host, &port, &local, &lport, &tcp,
                          &zone, &zlen, &pool, &plen, &ns, &flags, &native))
        return NULL;
    log_head h;
    memset(&h, 0, sizeof h);
    uint8_t lfamily = 0;
    int ok = w->nrings > 0 && q.len <= 65535 && r.len <= 65535 &&
             pack(host, h.addr, &h.family) == 0 &&
             (local[0] == 0 || pack(local, h.laddr, &lfamily) == 0); /* "": not known */
    if (ok) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t at = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - (int64_t)ns;
        h.flags = (uint8_t)flags;
        h.transport = tcp ? LOG_TCP : LOG_UDP;
        h.path = native ? 0 : 1;
        h.port = (uint16_t)port;
        h.lport = (uint16_t)lport;
        h.sec = at / 1000000000;
        h.nsec = (uint32_t)(at % 1000000000);
        h.ns = ns;
        h.qlen = (uint16_t)q.len;
        h.rlen = (uint16_t)r.len;
        h.zlen = zone ? (uint8_t)(zlen > 255 ? 255 : zlen) : 0;
        h.plen = pool ? (uint8_t)(plen > 255 ? 255 : plen) : 0;
        ok = log_push(&w->rings[w->nrings - 1], &h, q.buf, r.buf, zone ? zone : "",
                      pool ? pool : "") == 0;
    }
    PyBuffer_Release(&q);
    PyBuffer_Release(&r);
    return PyBool_FromLong(ok);
}

static PyObject *qlog_stats(gp_qlog *self, PyObject *unused)
{
    log_writer *w = &self->c;
    unsigned long long dropped = 0;
    for (int i = 0; i < w->nrings; i++)
        dropped += atomic_load(&w->rings[i].dropped);
    return Py_BuildValue("{sKsKsKsKsK}", "written", (unsigned long long)atomic_load(&w->written),
                         "dropped", dropped, "tapped", (unsigned long long)atomic_load(&w->tapped),
                         "tap_lost", (unsigned long long)atomic_load(&w->tap_lost), "tap_connects",
                         (unsigned long long)atomic_load(&w->tap_connects));
}

static PyObject *qlog_connected(gp_qlog *self, void *unused)
{
    return PyBool_FromLong(atomic_load(&self->c.tap_connects) > 0);
}

static PyMethodDef qlog_methods[] = {
    {"start", (PyCFunction)qlog_start, METH_NOARGS, "Start the writer thread."},
    {"stop", (PyCFunction)qlog_stop, METH_NOARGS, "Write what is pushed, then stop."},
    {"push", (PyCFunction)qlog_push, METH_VARARGS, "One answer from the event loop."},
    {"stats", (PyCFunction)qlog_stats, METH_NOARGS, "Written, dropped, dnstap counters."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef qlog_getset[] = {
    {"connected", (getter)qlog_connected, NULL, "dnstap connected at least once.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject gp_qlog_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "geodns._native.QueryLog",
    .tp_basicsize = sizeof(gp_qlog),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The query log: per-thread rings, one writer thread (lines, dnstap).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)qlog_init,
    .tp_dealloc = (destructor)qlog_dealloc,
    .tp_methods = qlog_methods,
    .tp_getset = qlog_getset,
};

/* Server.set_log(qlog, sample, flags): each native thread pushes to its own ring of qlog
   (flags: LOG_TEXT | LOG_DNSTAP; sample: the fraction of answers logged). Before start(). */
PyObject *gp_server_set_log(gp_server *self, PyObject *args)
{
    gn_server *s = &self->c;
    gp_qlog *q;
    double sample;
    int flags;
    if (!PyArg_ParseTuple(args, "O!di", &gp_qlog_type, &q, &sample, &flags))
        return NULL;
    if (s->running || q->used || q->c.nrings < s->nthreads + 1) {
        PyErr_SetString(PyExc_RuntimeError, "set_log before start(), one ring per thread");
        return NULL;
    }
    for (int i = 0; i < s->nfds; i++) {
        socklen_t len = sizeof s->local[i];
        if (getsockname(s->fds[i], (struct sockaddr *)&s->local[i], &len) < 0)
            memset(&s->local[i], 0, sizeof s->local[i]);
    }
    for (int i = 0; i < s->nthreads; i++)
        s->th[i].ring = &q->c.rings[i];
    q->used = 1;
    s->log = &q->c;
    s->log_flags = (uint8_t)flags;
    s->log_sample = sample >= 1.0 ? UINT32_MAX : (uint32_t)(sample * 4294967296.0);
    Py_INCREF(q);
    Py_XSETREF(self->log_ref, (PyObject *)q);
    Py_RETURN_NONE;
}

static PyObject *summed(gn_server *s, size_t offset, int n)
{
    PyObject *out = PyList_New(n);
    for (int b = 0; out != NULL && b < n; b++) {
        unsigned long long total = 0;
        for (int i = 0; i < s->nthreads; i++) {
            _Atomic uint64_t *c = (_Atomic uint64_t *)((char *)&s->th[i].obs + offset);
            total += atomic_load_explicit(&c[b], memory_order_relaxed);
        }
        PyObject *v = PyLong_FromUnsignedLongLong(total);
        if (v == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, b, v);
    }
    return out;
}

static unsigned long long one(gn_server *s, size_t offset)
{
    unsigned long long total = 0;
    for (int i = 0; i < s->nthreads; i++)
        total += atomic_load((_Atomic uint64_t *)((char *)&s->th[i].obs + offset));
    return total;
}

/* observed() -> the threads' histograms summed: latency (buckets, ns), request and
   response sizes (buckets, bytes), GeoIP class lookups, query log records dropped. */
PyObject *gp_server_observed(gp_server *self, PyObject *unused)
{
    gn_server *s = &self->c;
    unsigned long long dropped = 0;
    for (int i = 0; i < s->nthreads; i++)
        if (s->th[i].ring != NULL)
            dropped += atomic_load(&s->th[i].ring->dropped);
    return Py_BuildValue("{sNsKsNsKsNsKsKsK}", "latency",
                         summed(s, offsetof(serve_obs, lat), SERVE_LAT_BOUNDS + 1), "latency_ns",
                         one(s, offsetof(serve_obs, lat_ns)), "request",
                         summed(s, offsetof(serve_obs, req), SERVE_SIZE_BOUNDS + 1),
                         "request_bytes", one(s, offsetof(serve_obs, req_bytes)), "response",
                         summed(s, offsetof(serve_obs, resp), SERVE_SIZE_BOUNDS + 1),
                         "response_bytes", one(s, offsetof(serve_obs, resp_bytes)), "geo",
                         one(s, offsetof(serve_obs, geo)), "log_dropped", dropped);
}

/* table_log_names(table, zones, pools): the texts the query log names a table's answers
   by (zone i; pool p of policy slot s: pools[s][p]). Before the table serves. */
static PyObject *table_log_names(PyObject *mod, PyObject *args)
{
    gp_table *t;
    PyObject *zones, *pools;
    if (!PyArg_ParseTuple(args, "O!O!O!", &gp_table_type, &t, &PyList_Type, &zones, &PyList_Type,
                          &pools))
        return NULL;
    Py_ssize_t nz = PyList_GET_SIZE(zones), ns = PyList_GET_SIZE(pools), np = 0;
    size_t text = 0;
    for (Py_ssize_t i = 0; i < nz; i++) {
        Py_ssize_t n;
        if (PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(zones, i), &n) == NULL)
            return NULL;
        text += (size_t)n;
    }
    for (Py_ssize_t i = 0; i < ns; i++) {
        PyObject *slot = PyList_GET_ITEM(pools, i);
        if (!PyList_Check(slot)) {
            PyErr_SetString(PyExc_TypeError, "pools: a list of lists of str");
            return NULL;
        }
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(slot); j++) {
            Py_ssize_t n;
            if (PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(slot, j), &n) == NULL)
                return NULL;
            text += (size_t)n;
            np++;
        }
    }
    log_names *names = log_names_new((uint32_t)nz, (uint32_t)ns, (uint32_t)np, text);
    if (names == NULL)
        return PyErr_NoMemory();
    uint32_t at = 0, p = 0;
    for (Py_ssize_t i = 0; i < nz; i++) {
        Py_ssize_t n;
        const char *z = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(zones, i), &n);
        names->zone[i] = at;
        memcpy(names->text + at, z, (size_t)n);
        at += (uint32_t)n;
    }
    names->zone[nz] = at;
    for (Py_ssize_t i = 0; i < ns; i++) {
        PyObject *slot = PyList_GET_ITEM(pools, i);
        names->first[i] = p;
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(slot); j++, p++) {
            Py_ssize_t n;
            const char *z = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(slot, j), &n);
            names->pool[p] = at;
            memcpy(names->text + at, z, (size_t)n);
            at += (uint32_t)n;
        }
    }
    names->first[ns] = p;
    names->pool[np] = at;
    log_names_free(t->c.log_names);
    t->c.log_names = names;
    Py_RETURN_NONE;
}

PyMethodDef gp_qlog_functions[] = {
    {"table_log_names", table_log_names, METH_VARARGS,
     "table_log_names(table, zones, pools): the texts its answers are logged by."},
    {NULL, NULL, 0, NULL},
};

int gp_observe_constants(PyObject *m)
{
    PyObject *lat = PyTuple_New(SERVE_LAT_BOUNDS), *size = PyTuple_New(SERVE_SIZE_BOUNDS);
    for (int i = 0; lat != NULL && i < SERVE_LAT_BOUNDS; i++)
        PyTuple_SET_ITEM(lat, i, PyFloat_FromDouble((double)serve_latency_bounds[i] / 1e9));
    for (int i = 0; size != NULL && i < SERVE_SIZE_BOUNDS; i++)
        PyTuple_SET_ITEM(size, i, PyLong_FromUnsignedLong(serve_size_bounds[i]));
    if (lat == NULL || size == NULL || PyModule_AddObject(m, "LATENCY_BOUNDS", lat) < 0 ||
        PyModule_AddObject(m, "SIZE_BOUNDS", size) < 0) {
        Py_XDECREF(lat);
        Py_XDECREF(size);
        return -1;
    }
    return PyModule_AddIntConstant(m, "LOG_TEXT", LOG_TEXT) < 0 ||
                   PyModule_AddIntConstant(m, "LOG_DNSTAP", LOG_DNSTAP) < 0
               ? -1
               : 0;
}
