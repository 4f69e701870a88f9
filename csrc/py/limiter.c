/* geodns._native.RateLimiter: a gd_rrl (csrc/rrl/rrl.h) with rrl.RateLimiter's constructor
   and verdict(host, kind, name), so tests compare the two and a worker's Python handler can
   spend from the same accounts as its native threads (capsule()). */
#include "py/py.h"
#include "py/abuse.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "rrl/rrl.h"

typedef struct {
    PyObject_HEAD gd_rrl *r;
    PyObject *clock; /* a callable giving seconds, or NULL: CLOCK_MONOTONIC */
} RrlObject;

/* "net/prefix" (or a bare address: all bits) into a gd_net; -1 with ValueError if not. */
static int parse_net(PyObject *item, gd_net *net)
{
    PyObject *text = PyObject_Str(item);
    if (text == NULL)
        return -1;
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(text, &n);
    int rc = -1;
    if (s != NULL) {
        const char *slash = memchr(s, '/', (size_t)n);
        PyObject *host = PyUnicode_FromStringAndSize(s, slash ? slash - s : n);
        if (host != NULL && gp_parse_host(host, &net->family, net->addr) == 0) {
            int top = net->family == 4 ? 32 : 128;
            char *end = NULL;
            long p = slash ? strtol(slash + 1, &end, 10) : top;
            if (slash && (end == slash + 1 || *end != 0 || p < 0 || p > top))
                PyErr_Format(PyExc_ValueError, "not a network: %R", text);
            else
                net->prefix = (int)p, rc = 0;
        }
        Py_XDECREF(host);
    }
    Py_DECREF(text);
    return rc;
}

static int Rrl_init(RrlObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"rates",    "window", "slip", "ipv4_prefix", "ipv6_prefix", "exempt",
                            "log_only", "clock",  "size", "all_rate",    NULL};
    gd_rrl_config cfg = {.window = 15.0, .slip = 2, .ipv4_prefix = 24, .ipv6_prefix = 56};
    PyObject *exempt = NULL, *clock = Py_None;
    unsigned int slip = 2;
    Py_ssize_t size = GD_RRL_SLOTS;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "(ddd)|$dIiiOpOnd", names, &cfg.rates[0],
                                     &cfg.rates[1], &cfg.rates[2], &cfg.window, &slip,
                                     &cfg.ipv4_prefix, &cfg.ipv6_prefix, &exempt, &cfg.log_only,
                                     &clock, &size, &cfg.all_rate))
        return -1;
    cfg.slip = slip;
    if (size <= 0) {
        PyErr_SetString(PyExc_ValueError, "the table size must be a power of two");
        return -1;
    }
    cfg.slots = (size_t)size;
    gd_net *nets = NULL; /* rrl_new copies them */
    if (exempt != NULL) {
        PyObject *seq = PySequence_Fast(exempt, "exempt must be a sequence of networks");
        if (seq == NULL)
            return -1;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        nets = PyMem_Calloc(n ? (size_t)n : 1, sizeof *nets);
        if (nets == NULL) {
            Py_DECREF(seq);
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            if (parse_net(PySequence_Fast_GET_ITEM(seq, i), &nets[i]) < 0) {
                Py_DECREF(seq);
                PyMem_Free(nets);
                return -1;
            }
        }
        cfg.exempt = nets, cfg.n_exempt = (size_t)n;
        Py_DECREF(seq);
    }
    rrl_free(self->r);
    self->r = rrl_new(&cfg);
    PyMem_Free(nets);
    if (self->r == NULL) {
        PyErr_SetString(PyExc_ValueError, "the table size must be a power of two, prefixes valid");
        return -1;
    }
    Py_XSETREF(self->clock, clock == Py_None ? NULL : Py_NewRef(clock));
    return 0;
}

static void Rrl_dealloc(RrlObject *self)
{
    rrl_free(self->r);
    Py_XDECREF(self->clock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* (host, kind, name[, now]) parsed; now from the clock when not given. -1 on error. */
static int key_args(RrlObject *self, PyObject *args, int *family, uint8_t addr[16], int *kind,
                    Py_buffer *name, double *now)
{
    PyObject *host, *when = NULL;
    if (self->r == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "RateLimiter not initialised");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "Uiy*|O", &host, kind, name, &when))
        return -1;
    if (gp_parse_host(host, family, addr) < 0)
        goto fail;
    if (when == NULL && self->clock != NULL)
        when = PyObject_CallNoArgs(self->clock);
    else
        Py_XINCREF(when);
    if (when == NULL && self->clock != NULL)
        goto fail;
    if (when != NULL) {
        *now = PyFloat_AsDouble(when);
        Py_DECREF(when);
        if (*now == -1.0 && PyErr_Occurred())
            goto fail;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        *now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
    return 0;
fail:
    PyBuffer_Release(name);
    return -1;
}

static PyObject *Rrl_verdict(RrlObject *self, PyObject *args)
{
    int family, kind;
    uint8_t addr[16];
    Py_buffer name;
    double now;
    if (key_args(self, args, &family, addr, &kind, &name, &now) < 0)
        return NULL;
    int v = rrl_verdict(self->r, family, addr, kind, name.buf, (size_t)name.len, now);
    PyBuffer_Release(&name);
    return PyLong_FromLong(v);
}

static PyObject *Rrl_slot(RrlObject *self, PyObject *args)
{
    int family, kind;
    uint8_t addr[16];
    Py_buffer name;
    double now = 0;
    if (key_args(self, args, &family, addr, &kind, &name, &now) < 0)
        return NULL;
    size_t slot = rrl_slot(self->r, family, addr, kind, name.buf, (size_t)name.len);
    PyBuffer_Release(&name);
    return PyLong_FromSize_t(slot);
}

static PyObject *Rrl_take_limited(RrlObject *self, PyObject *unused)
{
    int family = 0;
    uint8_t addr[16] = {0};
    char text[INET6_ADDRSTRLEN];
    uint64_t n = rrl_take_limited(self->r, &family, addr);
    if (n == 0)
        return Py_BuildValue("(KO)", 0ULL, Py_None);
    inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, text, sizeof text);
    return Py_BuildValue("(Ks)", (unsigned long long)n, text);
}

static PyObject *Rrl_table_bytes(RrlObject *self, PyObject *unused)
{
    return PyLong_FromSize_t(rrl_table_bytes(self->r));
}

static PyObject *Rrl_capsule(RrlObject *self, PyObject *unused)
{
    return PyCapsule_New(self->r, "gd_rrl", NULL);
}

static PyMethodDef Rrl_methods[] = {
    {"verdict", (PyCFunction)Rrl_verdict, METH_VARARGS,
     "verdict(host, kind, name[, now]) -> OK 0, SLIP 1, DROP 2, LOG_ONLY 3 (rrl.py's)"},
    {"slot", (PyCFunction)Rrl_slot, METH_VARARGS, "slot(host, kind, name): where a key lands"},
    {"take_limited", (PyCFunction)Rrl_take_limited, METH_NOARGS,
     "(limited since the last call, the latest limited source or None): for the log line"},
    {"table_bytes", (PyCFunction)Rrl_table_bytes, METH_NOARGS, "what the accounts take"},
    {"capsule", (PyCFunction)Rrl_capsule, METH_NOARGS,
     "a capsule named gd_rrl holding the table (valid while this object lives)"},
    {NULL, NULL, 0, NULL},
};

PyTypeObject gp_limiter_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "geodns._native.RateLimiter",
    .tp_basicsize = sizeof(RrlObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A worker's native RRL table (csrc/rrl/rrl.h) with rrl.RateLimiter's interface.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Rrl_init,
    .tp_dealloc = (destructor)Rrl_dealloc,
    .tp_methods = Rrl_methods,
};
