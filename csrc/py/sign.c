/* geodns._native.SigningKey: the DNSSEC signer of csrc/sign/ as Python holds it, one per key
   (geodns/dnssec/signer.py), and SIGN_LIBRARY (libcrypto's version, for `geodns version`).
   Built only where libcrypto's headers are (setup.py defines GEODNS_SIGN); elsewhere the
   module has neither and geodns signs with the `cryptography` package. */
#include "py/py.h"
#include "sign/sign.h"

typedef struct {
    PyObject_HEAD sign_key *key;
    int algorithm;
} gp_signkey;

static int signkey_init(gp_signkey *self, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"algorithm", "private", NULL};
    int algorithm;
    Py_buffer priv;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iy*", names, &algorithm, &priv))
        return -1;
    sign_key *key = sign_key_new(algorithm, priv.buf, (size_t)priv.len);
    PyBuffer_Release(&priv);
    if (key == NULL) {
        PyErr_Format(PyExc_ValueError,
                     "not a usable private key for DNSSEC algorithm %d (13: a P-256 scalar "
                     "in [1, n-1], 15: an Ed25519 seed; 32 bytes each)",
                     algorithm);
        return -1;
    }
    if (self->key != NULL) { /* a sign() may be running without the GIL: never swap under it */
        sign_key_free(key);
        PyErr_SetString(PyExc_TypeError, "SigningKey is already initialised");
        return -1;
    }
    self->key = key;
    self->algorithm = algorithm;
    return 0;
}

static void signkey_dealloc(gp_signkey *self)
{
    sign_key_free(self->key);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ready(gp_signkey *self)
{
    if (self->key != NULL)
        return 1;
    PyErr_SetString(PyExc_RuntimeError, "SigningKey was not initialised");
    return 0;
}

/* sign(data) -> the 64-byte signature (r||s for 13), without the GIL: the key is only read */
static PyObject *signkey_sign(gp_signkey *self, PyObject *arg)
{
    Py_buffer data;
    uint8_t out[SIGN_MAX_SIG];
    size_t got;
    if (!ready(self) || PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0)
        return NULL;
    PyThreadState *saved = PyEval_SaveThread();
    got = sign_key_sign(self->key, data.buf, (size_t)data.len, out, sizeof out);
    PyEval_RestoreThread(saved);
    PyBuffer_Release(&data);
    if (got == 0)
        return PyErr_Format(PyExc_RuntimeError, "libcrypto failed to sign");
    return PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)got);
}

static PyObject *signkey_public(gp_signkey *self, void *closure)
{
    uint8_t out[SIGN_MAX_PUBLIC];
    if (!ready(self))
        return NULL;
    size_t got = sign_key_public(self->key, out, sizeof out);
    if (got == 0)
        return PyErr_Format(PyExc_RuntimeError, "libcrypto failed to derive the public key");
    return PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)got);
}

static PyObject *signkey_algorithm(gp_signkey *self, void *closure)
{
    return PyLong_FromLong(self->algorithm);
}

static PyMethodDef signkey_methods[] = {
    {"sign", (PyCFunction)signkey_sign, METH_O,
     "sign(data) -> the DNSSEC signature of data (64 bytes; deterministic)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef signkey_getset[] = {
    {"public", (getter)signkey_public, NULL, "the DNSKEY public key field", NULL},
    {"algorithm", (getter)signkey_algorithm, NULL, "the DNSSEC algorithm (13 or 15)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject gp_signkey_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "geodns._native.SigningKey",
    .tp_doc = "SigningKey(algorithm, private): a DNSSEC signing key in libcrypto (13: ECDSA "
              "P-256/SHA-256 with RFC 6979 nonces, 15: Ed25519)",
    .tp_basicsize = sizeof(gp_signkey),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)signkey_init,
    .tp_dealloc = (destructor)signkey_dealloc,
    .tp_methods = signkey_methods,
    .tp_getset = signkey_getset,
};

/* The answering threads' view of a SigningKey (answer/denial.c signs through these): its
   key, NULL when o is not an initialised SigningKey. */
const void *gp_signkey_key(PyObject *o)
{
    if (!PyObject_TypeCheck(o, &gp_signkey_type))
        return NULL;
    return ((gp_signkey *)o)->key;
}

size_t gp_sign_thunk(const void *key, const uint8_t *msg, size_t len, uint8_t *out, size_t cap)
{
    return sign_key_sign((const sign_key *)key, msg, len, out, cap);
}

int gp_sign_register(PyObject *m)
{
    if (PyType_Ready(&gp_signkey_type) < 0 ||
        PyModule_AddObjectRef(m, "SigningKey", (PyObject *)&gp_signkey_type) < 0)
        return -1;
    return PyModule_AddStringConstant(m, "SIGN_LIBRARY", sign_library());
}
