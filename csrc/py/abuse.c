/* geodns._native: thin Python wrappers around the native SipHash, cookie and RRL code
   (csrc/common/siphash.c, csrc/cookies/cookies.c, csrc/rrl/rrl.c), so tests can compare them with
   the Python modules on many inputs, and so a worker's Python handler can share the very tables its
   native threads use (capsule(): a "gd_cookies" / "gd_rrl" pointer for geodns._native). */
#include "py/py.h"
#include "py/abuse.h"

#include <arpa/inet.h>
#include <string.h>

#include "cookies/cookies.h"
#include "rrl/rrl.h"
#include "common/siphash.h"

int gp_parse_host(PyObject *host, int *family, uint8_t addr[16])
{
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(host, &n);
    if (s == NULL)
        return -1;
    char buf[64];
    const char *pct = memchr(s, '%', (size_t)n);
    size_t len = pct ? (size_t)(pct - s) : (size_t)n;
    if (len >= sizeof buf)
        goto bad;
    memcpy(buf, s, len);
    buf[len] = 0;
    if (memchr(buf, ':', len) == NULL) {
        *family = 4;
        if (inet_pton(AF_INET, buf, addr) == 1)
            return 0;
    } else {
        *family = 6;
        if (inet_pton(AF_INET6, buf, addr) == 1)
            return 0;
    }
bad:
    PyErr_Format(PyExc_ValueError, "not an IP address: %R", host);
    return -1;
}

static PyObject *py_siphash(PyObject *self, PyObject *args)
{
    Py_buffer key, data;
    if (!PyArg_ParseTuple(args, "y*y*", &key, &data))
        return NULL;
    PyObject *res = NULL;
    if (key.len != GD_SIP_KEY)
        PyErr_SetString(PyExc_ValueError, "a SipHash key is 16 bytes");
    else
        res = PyLong_FromUnsignedLongLong(common_siphash24(key.buf, data.buf, (size_t)data.len));
    PyBuffer_Release(&key);
    PyBuffer_Release(&data);
    return res;
}

static PyObject *py_server_cookie(PyObject *self, PyObject *args)
{
    Py_buffer secret, client, addr;
    unsigned long long ts;
    if (!PyArg_ParseTuple(args, "y*y*y*K", &secret, &client, &addr, &ts))
        return NULL;
    PyObject *res = NULL;
    if (secret.len != GD_COOKIE_SECRET || client.len != 8 || addr.len > 16) {
        PyErr_SetString(PyExc_ValueError, "secret 16 bytes, client 8, address 4 or 16");
    } else {
        uint8_t out[16];
        cookies_make(secret.buf, client.buf, addr.buf, (size_t)addr.len, (uint32_t)ts, out);
        res = PyBytes_FromStringAndSize((const char *)out, 16);
    }
    PyBuffer_Release(&secret);
    PyBuffer_Release(&client);
    PyBuffer_Release(&addr);
    return res;
}

static PyObject *py_valid(PyObject *self, PyObject *args)
{
    Py_buffer secret, body, addr;
    long long now;
    if (!PyArg_ParseTuple(args, "y*y*y*L", &secret, &body, &addr, &now))
        return NULL;
    PyObject *res = NULL;
    if (secret.len != GD_COOKIE_SECRET || body.len < 8 || addr.len > 16)
        PyErr_SetString(PyExc_ValueError, "secret 16 bytes, body 8 or more, address <= 16");
    else
        res = PyBool_FromLong(
            cookies_valid(secret.buf, body.buf, (size_t)body.len, addr.buf, (size_t)addr.len, now));
    PyBuffer_Release(&secret);
    PyBuffer_Release(&body);
    PyBuffer_Release(&addr);
    return res;
}

static PyObject *py_age(PyObject *self, PyObject *args)
{
    unsigned long long ts;
    long long now;
    if (!PyArg_ParseTuple(args, "KL", &ts, &now))
        return NULL;
    return PyLong_FromLongLong(cookies_age((uint32_t)ts, now));
}

static PyObject *py_well_formed(PyObject *self, PyObject *arg)
{
    Py_ssize_t n = PyObject_Length(arg);
    if (n < 0)
        return NULL;
    return PyBool_FromLong(cookies_well_formed((size_t)n));
}

/* ---- Cookies: a gd_cookies ---- */

typedef struct {
    PyObject_HEAD gd_cookies *c;
} CookiesObject;

static int Cookies_init(CookiesObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"secret", "slots", NULL};
    Py_buffer secret;
    Py_ssize_t slots = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|n", names, &secret, &slots))
        return -1;
    int ok = secret.len == GD_COOKIE_SECRET && slots >= 0;
    if (ok) {
        cookies_free(self->c);
        self->c = cookies_new(secret.buf, (size_t)slots);
    }
    PyBuffer_Release(&secret);
    if (!ok || self->c == NULL) {
        PyErr_SetString(PyExc_ValueError, "a 16-byte secret and a power-of-two slot count");
        return -1;
    }
    return 0;
}

static void Cookies_dealloc(CookiesObject *self)
{
    cookies_free(self->c);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static gd_cookies *cookies_of(CookiesObject *self)
{
    if (self->c == NULL)
        PyErr_SetString(PyExc_RuntimeError, "Cookies not initialised");
    return self->c;
}

/* answer(body, address, now, counted=True) -> (result, option, expires); result -1: not
   well formed (nothing written, nothing counted) */
static PyObject *Cookies_answer(CookiesObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"body", "address", "now", "counted", NULL};
    Py_buffer body, addr;
    PyObject *where;
    long long now;
    int counted = 1, family;
    uint8_t parsed[16];
    if (cookies_of(self) == NULL)
        return NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*OL|p", names, &body, &where, &now, &counted))
        return NULL;
    if (PyUnicode_Check(where)) { /* a host string, as the handler has it */
        if (gp_parse_host(where, &family, parsed) < 0) {
            PyBuffer_Release(&body);
            return NULL;
        }
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (family == 6 && memcmp(parsed, mapped, 12) == 0) /* IPv4-mapped: the IPv4 client */
            memmove(parsed, parsed + 12, 4), family = 4;    /* (as the native paths hash it) */
        addr.buf = parsed, addr.len = family == 4 ? 4 : 16, addr.obj = NULL;
    } else if (PyObject_GetBuffer(where, &addr, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&body);
        return NULL;
    }
    PyObject *res = NULL;
    if (addr.len != 4 && addr.len != 16) {
        PyErr_SetString(PyExc_ValueError, "an address is 4 or 16 bytes");
    } else {
        uint8_t out[GD_COOKIE_OPTION];
        int64_t expires = 0;
        /* the GIL stays held: the table's locks are spin locks held for nanoseconds */
        int r = (counted ? cookies_answer : cookies_answer_uncounted)(
            self->c, body.buf, (size_t)body.len, addr.buf, (size_t)addr.len, now, out, &expires);
        if (r == GD_COOKIE_MALFORMED)
            res = Py_BuildValue("iyL", -1, "", 0LL);
        else
            res = Py_BuildValue("iy#L", r, (const char *)out, (Py_ssize_t)GD_COOKIE_OPTION,
                                (long long)expires);
    }
    PyBuffer_Release(&body);
    if (addr.obj != NULL)
        PyBuffer_Release(&addr);
    return res;
}

static PyObject *Cookies_counts(CookiesObject *self, PyObject *unused)
{
    uint64_t n[4];
    if (cookies_of(self) == NULL)
        return NULL;
    cookies_counts(self->c, n);
    return Py_BuildValue("{sKsKsKsK}", "new", (unsigned long long)n[0], "valid",
                         (unsigned long long)n[1], "invalid", (unsigned long long)n[2], "malformed",
                         (unsigned long long)n[3]);
}

static PyObject *Cookies_count(CookiesObject *self, PyObject *arg)
{
    long r = PyLong_AsLong(arg);
    if (r == -1 && PyErr_Occurred())
        return NULL;
    if (cookies_of(self) == NULL)
        return NULL;
    if (r < 0 || r > GD_COOKIE_MALFORMED) {
        PyErr_SetString(PyExc_ValueError, "a result is 0 (new) to 3 (malformed)");
        return NULL;
    }
    cookies_count(self->c, (int)r);
    Py_RETURN_NONE;
}

static PyObject *Cookies_capsule(CookiesObject *self, PyObject *unused)
{
    if (cookies_of(self) == NULL)
        return NULL;
    return PyCapsule_New(self->c, "gd_cookies", NULL);
}

static PyMethodDef Cookies_methods[] = {
    {"answer", (PyCFunction)(void (*)(void))Cookies_answer, METH_VARARGS | METH_KEYWORDS,
     "answer(body, address, now, counted=True) -> (result, option, expires): the native\n"
     "ServerCookies.option(); address: 4 or 16 packed bytes, or a host string;\n"
     "result 0 new, 1 valid, 2 invalid, -1 not well formed"},
    {"count", (PyCFunction)Cookies_count, METH_O, "count(result): one more of that result"},
    {"counts", (PyCFunction)Cookies_counts, METH_NOARGS, "results counted so far"},
    {"capsule", (PyCFunction)Cookies_capsule, METH_NOARGS,
     "a capsule named gd_cookies holding the table (valid while this object lives)"},
    {NULL, NULL, 0, NULL},
};

PyTypeObject gp_cookies_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "geodns._native.Cookies",
    .tp_basicsize = sizeof(CookiesObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A worker's native server-cookie state (csrc/cookies/cookies.h).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Cookies_init,
    .tp_dealloc = (destructor)Cookies_dealloc,
    .tp_methods = Cookies_methods,
};

static PyObject *py_rrl_kind(PyObject *self, PyObject *arg)
{
    Py_buffer resp;
    if (PyObject_GetBuffer(arg, &resp, PyBUF_SIMPLE) < 0)
        return NULL;
    int kind = rrl_kind(resp.buf, (size_t)resp.len);
    PyBuffer_Release(&resp);
    return PyLong_FromLong(kind);
}

static PyObject *py_rrl_question(PyObject *self, PyObject *arg)
{
    Py_buffer resp;
    uint8_t out[GD_RRL_QUESTION_MAX];
    if (PyObject_GetBuffer(arg, &resp, PyBUF_SIMPLE) < 0)
        return NULL;
    size_t n = rrl_question(resp.buf, (size_t)resp.len, out);
    PyBuffer_Release(&resp);
    return PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)n);
}

static PyObject *py_slip(PyObject *self, PyObject *args)
{
    Py_buffer query, resp, cookie;
    unsigned int payload;
    if (!PyArg_ParseTuple(args, "y*y*Iy*", &query, &resp, &payload, &cookie))
        return NULL;
    PyObject *res = NULL;
    size_t cap = 12 + GD_RRL_QUESTION_MAX + 11 + (size_t)cookie.len;
    uint8_t *out = PyMem_Malloc(cap);
    if (out == NULL) {
        PyErr_NoMemory();
    } else {
        size_t n = rrl_slip(query.buf, (size_t)query.len, resp.buf, (size_t)resp.len, payload,
                            cookie.len ? cookie.buf : NULL, (size_t)cookie.len, out, cap);
        res = n ? PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)n)
                : (Py_INCREF(Py_None), Py_None);
        PyMem_Free(out);
    }
    PyBuffer_Release(&query);
    PyBuffer_Release(&resp);
    PyBuffer_Release(&cookie);
    return res;
}

PyMethodDef gp_abuse_functions[] = {
    {"rrl_kind", py_rrl_kind, METH_O, "rrl_kind(reply) -> 0 answer, 1 NXDOMAIN, 2 error"},
    {"rrl_question", py_rrl_question, METH_O,
     "rrl_question(reply) -> its question lowercased (an answer's account name), or b''"},
    {"slip", py_slip, METH_VARARGS,
     "slip(query, reply, payload, cookie_option) -> assemble.limited()'s bytes, or None"},
    {"siphash", py_siphash, METH_VARARGS, "siphash(key, data) -> int: SipHash-2-4"},
    {"server_cookie", py_server_cookie, METH_VARARGS,
     "server_cookie(secret, client, address, timestamp) -> 16 bytes"},
    {"valid", py_valid, METH_VARARGS, "valid(secret, body, address, now) -> bool"},
    {"age", py_age, METH_VARARGS, "age(timestamp, now) -> int (serial arithmetic)"},
    {"well_formed", py_well_formed, METH_O, "well_formed(body) -> bool"},
    {NULL, NULL, 0, NULL},
};
