/* The Server type's Python face: created with a worker's UDP descriptors, it starts and
   stops the native threads, swaps their table, and gives Python the datagrams they hand
   over (drain) and their counters. */
#define PY_SSIZE_T_CLEAN
#include "py/py.h"
#include "serve/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Release the retired tables no thread can still read. Holds the GIL. */
static void gn_reclaim(gp_server *self)
{
    gn_server *s = &self->c;
    Py_ssize_t n = PyList_GET_SIZE(self->retired);
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        PyObject *pair = PyList_GET_ITEM(self->retired, i);
        uint64_t epoch = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(pair, 0));
        int busy = 0;
        for (int j = 0; j < s->nthreads && s->running; j++)
            if (atomic_load(&s->th[j].seen) < epoch)
                busy = 1;
        if (!busy)
            PySequence_DelItem(self->retired, i);
    }
}

/* Publish `obj` in *slot (its object reference in *holder); the one it replaces is
   released once no thread can read it. */
static int swap(gp_server *self, PyObject *obj, PyObject **holder, void *slot, int is_table)
{
    gn_server *s = &self->c;
    Py_INCREF(obj);
    PyObject *old = *holder;
    *holder = obj;
    if (is_table)
        atomic_store((_Atomic(gn_table *) *)slot, &((gp_table *)obj)->c);
    else
        atomic_store((_Atomic(gn_decisions *) *)slot, &((gp_decisions *)obj)->c);
    uint64_t epoch = atomic_fetch_add(&s->epoch, 1) + 1;
    if (old != NULL) {
        PyObject *pair = Py_BuildValue("(KN)", (unsigned long long)epoch, old);
        if (pair == NULL || PyList_Append(self->retired, pair) < 0) {
            Py_XDECREF(pair);
            return -1;
        }
        Py_DECREF(pair);
    }
    gn_reclaim(self);
    return 0;
}

static int gn_set_table(gp_server *self, PyObject *table)
{
    gn_server *s = &self->c;
    if (!PyObject_TypeCheck(table, &gp_table_type)) {
        PyErr_SetString(PyExc_TypeError, "a geodns._native.Table");
        return -1;
    }
    return swap(self, table, &self->current, &s->cur, 1);
}

static int gn_set_decisions(gp_server *self, PyObject *dec)
{
    gn_server *s = &self->c;
    if (!PyObject_TypeCheck(dec, &gp_decisions_type)) {
        PyErr_SetString(PyExc_TypeError, "a geodns._native.Decisions");
        return -1;
    }
    return swap(self, dec, &self->current_dec, &s->dec, 0);
}

static void gn_stop_threads(gn_server *s)
{
    if (!s->running)
        return;
    uint64_t one = 1;
    ssize_t w = write(s->stopfd, &one, sizeof one);
    (void)w;
    Py_BEGIN_ALLOW_THREADS for (int i = 0; i < s->nthreads; i++) pthread_join(s->th[i].tid, NULL);
    Py_END_ALLOW_THREADS s->running = 0;
}

static void free_threads(gn_server *s)
{
    for (int i = 0; s->th != NULL && i < s->nthreads; i++) {
        free(s->th[i].in);
        free(s->th[i].out);
    }
    free(s->th);
    s->th = NULL;
}

static void server_dealloc(gp_server *self)
{
    gn_server *s = &self->c;
    gn_stop_threads(s);
    free_threads(s);
    for (size_t i = 0; i < s->qlen; i++)
        free(s->ring[(s->qhead + i) % s->qcap]);
    free(s->ring);
    if (s->stopfd >= 0)
        close(s->stopfd);
    if (s->wakefd >= 0)
        close(s->wakefd);
    if (s->qcap)
        pthread_mutex_destroy(&s->qlock);
    Py_XDECREF(self->current);
    Py_XDECREF(self->current_dec);
    Py_XDECREF(self->cookies_ref);
    Py_XDECREF(self->rrl_ref);
    Py_XDECREF(self->retired);
    Py_XDECREF(self->log_ref); /* observe */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Server(fds, threads=1, queue=4096, reply_size=1232) */
static int server_init(gp_server *self, PyObject *args, PyObject *kw)
{
    gn_server *s = &self->c;
    static char *names[] = {"fds", "threads", "queue", "reply_size", NULL};
    PyObject *fds;
    int threads = 1;
    unsigned queue = 4096, reply = 1232;
    s->stopfd = s->wakefd = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!|iII", names, &PyList_Type, &fds, &threads,
                                     &queue, &reply))
        return -1;
    Py_ssize_t n = PyList_GET_SIZE(fds);
    if (n < 1 || n > MAX_FDS || threads < 1 || threads > MAX_THREADS || queue < 1 ||
        reply > 65535 || s->th != NULL) {
        PyErr_SetString(PyExc_ValueError, "1-8 descriptors, 1-16 threads, a queue, once");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int fd = (int)PyLong_AsLong(PyList_GET_ITEM(fds, i));
        if (fd < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "a negative descriptor");
            return -1;
        }
        s->fds[i] = fd;
    }
    s->nfds = (int)n;
    self->retired = PyList_New(0);
    s->ring = calloc(queue, sizeof *s->ring);
    s->th = calloc((size_t)threads, sizeof *s->th);
    s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (self->retired == NULL || s->ring == NULL || s->th == NULL || s->stopfd < 0 ||
        s->wakefd < 0) {
        PyErr_SetString(PyExc_OSError, "no memory or descriptors for a native server");
        return -1;
    }
    pthread_mutex_init(&s->qlock, NULL);
    s->qcap = queue;
    s->nthreads = threads;
    size_t cap = reply < GN_UDP_SIZE ? GN_UDP_SIZE : reply;
    for (int i = 0; i < threads; i++) {
        gn_thread *th = &s->th[i];
        th->s = s;
        th->out_cap = cap;
        th->in = malloc((size_t)BATCH * RECV_SIZE);
        th->out = malloc((size_t)BATCH * cap);
        atomic_store(&th->seen, IDLE);
        if (th->in == NULL || th->out == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

static PyObject *server_set_table(gp_server *self, PyObject *table)
{
    if (gn_set_table(self, table) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *server_set_decisions(gp_server *self, PyObject *dec)
{
    if (gn_set_decisions(self, dec) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* set_cookies(capsule, owner): the worker's gd_cookies table (geodns._native), shared
   with its Python handler; `owner` (the object the capsule points into) is kept alive.
   Before start() only: the threads read the pointer without synchronisation. */
static PyObject *server_set_cookies(gp_server *self, PyObject *args)
{
    gn_server *s = &self->c;
    PyObject *cap, *owner;
    if (!PyArg_ParseTuple(args, "OO", &cap, &owner))
        return NULL;
    if (s->running) {
        PyErr_SetString(PyExc_RuntimeError, "set_cookies before start()");
        return NULL;
    }
    gd_cookies *c = PyCapsule_GetPointer(cap, "gd_cookies");
    if (c == NULL)
        return NULL;
    Py_INCREF(owner);
    Py_XSETREF(self->cookies_ref, owner);
    s->cookies = c;
    Py_RETURN_NONE;
}

/* set_rrl(capsule, owner): the worker's gd_rrl table, as set_cookies. */
static PyObject *server_set_rrl(gp_server *self, PyObject *args)
{
    gn_server *s = &self->c;
    PyObject *cap, *owner;
    if (!PyArg_ParseTuple(args, "OO", &cap, &owner))
        return NULL;
    if (s->running) {
        PyErr_SetString(PyExc_RuntimeError, "set_rrl before start()");
        return NULL;
    }
    gd_rrl *r = PyCapsule_GetPointer(cap, "gd_rrl");
    if (r == NULL)
        return NULL;
    Py_INCREF(owner);
    Py_XSETREF(self->rrl_ref, owner);
    s->rrl = r;
    Py_RETURN_NONE;
}

static PyObject *server_start(gp_server *self, PyObject *unused)
{
    gn_server *s = &self->c;
    if (s->running || self->current == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "already running, or no table yet");
        return NULL;
    }
    s->running = 1;
    for (int i = 0; i < s->nthreads; i++) {
        int err = pthread_create(&s->th[i].tid, NULL, serve_thread, &s->th[i]);
        if (err) {
            s->nthreads = i; /* the ones started are stopped; the rest never ran */
            gn_stop_threads(s);
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    Py_RETURN_NONE;
}

static PyObject *server_stop(gp_server *self, PyObject *unused)
{
    gn_server *s = &self->c;
    gn_stop_threads(s);
    gn_reclaim(self);
    Py_RETURN_NONE;
}

static PyObject *address(const struct sockaddr_storage *a)
{
    char host[INET6_ADDRSTRLEN];
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const void *)a;
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
        return Py_BuildValue("(si)", host, ntohs(v4->sin_port));
    }
    const struct sockaddr_in6 *v6 = (const void *)a;
    inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    return Py_BuildValue("(siII)", host, ntohs(v6->sin6_port), ntohl(v6->sin6_flowinfo),
                         v6->sin6_scope_id);
}

/* drain() -> [(data, address, socket index)]: what the threads handed to Python. */
static PyObject *server_drain(gp_server *self, PyObject *unused)
{
    gn_server *s = &self->c;
    uint64_t v;
    ssize_t r = read(s->wakefd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&s->qlock);
    size_t n = s->qlen, head = s->qhead;
    gn_queued **items = malloc((n ? n : 1) * sizeof *items);
    if (items != NULL) {
        for (size_t i = 0; i < n; i++)
            items[i] = s->ring[(head + i) % s->qcap];
        s->qlen = 0;
        s->qhead = 0;
    }
    pthread_mutex_unlock(&s->qlock);
    if (items == NULL)
        return PyErr_NoMemory();
    PyObject *out = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; i < n; i++) {
        gn_queued *q = items[i];
        if (out != NULL) {
            PyObject *t = Py_BuildValue("(y#Ni)", q->data, (Py_ssize_t)q->len, address(&q->addr),
                                        q->fd_index);
            if (t == NULL)
                Py_CLEAR(out);
            else
                PyList_SET_ITEM(out, (Py_ssize_t)i, t);
        }
        free(q);
    }
    free(items);
    gn_reclaim(self);
    return out;
}

/* counts() -> {key: answers} summed over threads since start; a key is GN_CKEY (zone
   index + 1 << 32 | qtype << 8 | rcode) or GN_PKEY (1 << 63 | by_pool index). */
static PyObject *server_counts(gp_server *self, PyObject *unused)
{
    gn_server *s = &self->c;
    gn_reclaim(self); /* called every few seconds: retired tables go even with nothing handed */
    PyObject *out = PyDict_New();
    for (int i = 0; out != NULL && i < s->nthreads; i++) {
        gn_thread *th = &s->th[i];
        for (int j = 0; j < COUNT_SLOTS; j++) {
            uint64_t key = atomic_load_explicit(&th->keys[j], memory_order_acquire);
            if (key == 0)
                continue;
            uint64_t n = atomic_load_explicit(&th->counts[j], memory_order_relaxed);
            PyObject *k = PyLong_FromUnsignedLongLong(key);
            PyObject *old = k ? PyDict_GetItemWithError(out, k) : NULL;
            unsigned long long total = n + (old ? PyLong_AsUnsignedLongLong(old) : 0);
            PyObject *val = PyLong_FromUnsignedLongLong(total);
            if (k == NULL || val == NULL || PyDict_SetItem(out, k, val) < 0)
                Py_CLEAR(out);
            Py_XDECREF(k);
            Py_XDECREF(val);
        }
    }
    return out;
}

static PyObject *server_stats(gp_server *self, PyObject *unused)
{
    gn_server *s = &self->c;
    unsigned long long answered = 0, handed = 0, truncated = 0;
    for (int i = 0; i < s->nthreads; i++) {
        answered += atomic_load(&s->th[i].answered);
        handed += atomic_load(&s->th[i].handed);
        truncated += atomic_load(&s->th[i].truncated);
    }
    pthread_mutex_lock(&s->qlock);
    size_t queued = s->qlen;
    pthread_mutex_unlock(&s->qlock);
    return Py_BuildValue("{sKsKsKsnsnsK}", "answered", answered, "handed", handed, "dropped",
                         (unsigned long long)atomic_load(&s->dropped), "queued", (Py_ssize_t)queued,
                         "retired", PyList_GET_SIZE(self->retired), "truncated", truncated);
}

static PyObject *server_wakefd(gp_server *self, void *unused)
{
    gn_server *s = &self->c;
    return PyLong_FromLong(s->wakefd);
}

static PyObject *server_running(gp_server *self, void *unused)
{
    gn_server *s = &self->c;
    return PyBool_FromLong(s->running);
}

static PyMethodDef server_methods[] = {
    {"set_table", (PyCFunction)server_set_table, METH_O, "Swap the table (epoch scheme)."},
    {"set_decisions", (PyCFunction)server_set_decisions, METH_O,
     "Swap the policy decisions (epoch scheme)."},
    {"set_cookies", (PyCFunction)server_set_cookies, METH_VARARGS,
     "The worker's server cookie table (a gd_cookies capsule), before start()."},
    {"set_rrl", (PyCFunction)server_set_rrl, METH_VARARGS,
     "The worker's RRL table (a gd_rrl capsule), before start()."},
    {"start", (PyCFunction)server_start, METH_NOARGS, "Start the native threads."},
    {"stop", (PyCFunction)server_stop, METH_NOARGS, "Stop them: nothing more is read."},
    {"drain", (PyCFunction)server_drain, METH_NOARGS, "Datagrams handed to Python."},
    {"counts", (PyCFunction)server_counts, METH_NOARGS, "Answers by (zone, qtype, rcode)."},
    {"stats", (PyCFunction)server_stats, METH_NOARGS, "Answered, handed, dropped, queued."},
    {"set_log", (PyCFunction)gp_server_set_log, METH_VARARGS, "The query log (py/qlog.c)."},
    {"observed", (PyCFunction)gp_server_observed, METH_NOARGS, "Histograms (py/qlog.c)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef server_getset[] = {
    {"wakefd", (getter)server_wakefd, NULL, "Readable when drain() has work.", NULL},
    {"running", (getter)server_running, NULL, "Whether the threads run.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject gp_server_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "geodns._native.Server",
    .tp_basicsize = sizeof(gp_server),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Native threads serving UDP sockets from a Table; the rest goes to Python.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)server_init,
    .tp_dealloc = (destructor)server_dealloc,
    .tp_methods = server_methods,
    .tp_getset = server_getset,
};
