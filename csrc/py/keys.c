/* The counter keys the native threads count under (answer/answer.h GN_CKEY, GN_PKEY,
   GN_AKEY), decoded for Python, and the names of the results they count: so the Python side
   reads the layouts from here instead of retyping the bit positions. */
#include "cookies/cookies.h"
#include "py/py.h"

static const char *const actions[] = GN_ACTION_NAMES;
static const char *const cookie_results[] = GD_COOKIE_RESULT_NAMES;

/* counter_key(key) -> ("query", zone index, qtype or -1 for "other", rcode)
                     | ("pool", policy slot, pool index) | ("action", name) */
static PyObject *counter_key(PyObject *mod, PyObject *arg)
{
    unsigned long long key = PyLong_AsUnsignedLongLong(arg);
    if (key == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    if (key >> 63)
        return Py_BuildValue("(sKI)", "pool", (key >> 8) & 0xFFFFFFFFull, (unsigned)(key & 0xFF));
    if (key >> 62) {
        unsigned long long a = key & ((1ull << 62) - 1);
        if (a >= sizeof actions / sizeof actions[0])
            return PyErr_Format(PyExc_ValueError, "no RRL action %llu", a);
        return Py_BuildValue("(ss)", "action", actions[a]);
    }
    unsigned long long zone = key >> 32;
    if (zone == 0)
        return PyErr_Format(PyExc_ValueError, "not a counter key: %llu", key);
    unsigned qtype = (unsigned)((key >> 8) & 0xFFFFFF);
    long label = qtype == GN_QTYPE_OTHER ? -1 : (long)qtype;
    return Py_BuildValue("(sKlI)", "query", zone - 1, label, (unsigned)(key & 0xFF));
}

PyMethodDef gp_key_functions[] = {
    {"counter_key", counter_key, METH_O,
     "counter_key(key) -> ('query', zone, qtype|-1, rcode) | ('pool', slot, pool) | "
     "('action', name)"},
    {NULL, NULL, 0, NULL},
};

int gp_key_constants(PyObject *m)
{
    size_t n = sizeof cookie_results / sizeof cookie_results[0];
    PyObject *names = PyTuple_New((Py_ssize_t)n);
    if (names == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        PyObject *s = PyUnicode_FromString(cookie_results[i]);
        if (s == NULL) {
            Py_DECREF(names);
            return -1;
        }
        PyTuple_SET_ITEM(names, (Py_ssize_t)i, s);
    }
    int r = PyModule_AddObjectRef(m, "COOKIE_RESULTS", names);
    Py_DECREF(names);
    return r;
}
