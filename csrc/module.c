/* geodns._native: the one extension. Registers every type and function of csrc/py/ and the
   constants Python reads instead of retyping them; nothing else. */
#include "py/py.h"

#include "cookies/cookies.h"
#include "rrl/rrl.h"

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "geodns._native",
    "geodns's native engine: the flat table, UDP threads, cookies, RRL, compiled GeoIP.",
    -1,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
};

static const struct {
    const char *name;
    PyTypeObject *type;
} types[] = {
    {"Table", &gp_table_type},     {"Decisions", &gp_decisions_type}, {"Server", &gp_server_type},
    {"Cookies", &gp_cookies_type}, {"RateLimiter", &gp_limiter_type}, {"Tree", &gp_tree_type},
    {"Ranges", &gp_ranges_type},   {"QueryLog", &gp_qlog_type},
};

PyMODINIT_FUNC PyInit__native(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (PyType_Ready(types[i].type) < 0 ||
            PyModule_AddObjectRef(m, types[i].name, (PyObject *)types[i].type) < 0)
            goto fail;
    if (PyModule_AddFunctions(m, gp_abuse_functions) < 0 ||
        PyModule_AddFunctions(m, gp_geo_functions) < 0 ||
        PyModule_AddFunctions(m, gp_key_functions) < 0 || gp_key_constants(m) < 0 ||
        PyModule_AddFunctions(m, gp_qlog_functions) < 0 || gp_observe_constants(m) < 0 ||
        PyModule_AddIntConstant(m, "RRL_SLOTS", GD_RRL_SLOTS) < 0 ||
        PyModule_AddIntConstant(m, "COOKIE_SLOTS", GD_COOKIE_SLOTS) < 0)
        goto fail;
#ifdef GEODNS_SIGN /* built with libcrypto (setup.py): the DNSSEC signer */
    if (gp_sign_register(m) < 0)
        goto fail;
#endif
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
