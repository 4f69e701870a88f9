/* What csrc/module.c registers: every type Python holds and the module's functions, each
   defined in its csrc/py/ file (the only files that include Python.h). */
#ifndef GP_PY_H
#define GP_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "answer/answer.h"
#include "serve/server.h"

/* The objects Python holds: each wraps its plain-C struct (c) and keeps alive what that
   struct points into. */
typedef struct {
    PyObject_HEAD gn_table c;
    PyObject *keep; /* DNSSEC: the SigningKeys the zones' gn_denial sign with */
} gp_table;

typedef struct {
    PyObject_HEAD gn_decisions c;
    PyObject *keep;      /* the range buffers c.pv points into */
    Py_buffer rotations; /* the buffer c.rot points into (the names' rotation counters) */
} gp_decisions;

typedef struct {
    PyObject_HEAD gn_server c;
    PyObject *current;     /* the Table object c.cur points into */
    PyObject *current_dec; /* the Decisions object c.dec points into */
    PyObject *cookies_ref; /* what keeps c.cookies alive */
    PyObject *rrl_ref;     /* what keeps c.rrl alive */
    PyObject *retired;     /* [(epoch, Table or Decisions)] not yet released */
    PyObject *log_ref;     /* observe: the QueryLog the threads push to */
} gp_server;

/* py/qlog.c: the query log's writer (csrc/log/) as Python holds it */
typedef struct {
    PyObject_HEAD log_writer c;
    int used; /* rings handed to a Server */
} gp_qlog;

extern PyTypeObject gp_table_type;       /* py/table.c: the flat table */
extern PyTypeObject gp_decisions_type;   /* py/decisions.c: policy classes under one health */
extern PyTypeObject gp_server_type;      /* py/server.c: the UDP threads */
extern PyTypeObject gp_cookies_type;     /* py/abuse.c: a worker's server cookies */
extern PyTypeObject gp_limiter_type;     /* py/limiter.c: a worker's RRL table */
extern PyTypeObject gp_tree_type;        /* py/geo.c: one walk of an MMDB search tree */
extern PyTypeObject gp_ranges_type;      /* py/geo.c: merged ranges */
extern PyMethodDef gp_abuse_functions[]; /* py/abuse.c: SipHash, cookies, RRL helpers */
extern PyMethodDef gp_geo_functions[];   /* py/geo.c: overlay, remap */
extern PyMethodDef gp_key_functions[];   /* py/keys.c: counter_key */
int gp_key_constants(PyObject *m);       /* py/keys.c: COOKIE_RESULTS */
extern PyTypeObject gp_qlog_type;        /* py/qlog.c: the query log's writer thread */
extern PyMethodDef gp_qlog_functions[];  /* py/qlog.c: table_log_names */
int gp_observe_constants(PyObject *m);   /* py/qlog.c: histogram bounds */
/* py/sign.c (GEODNS_SIGN builds only): SigningKey and SIGN_LIBRARY */
extern PyTypeObject gp_signkey_type;
int gp_sign_register(PyObject *m);
const void *gp_signkey_key(PyObject *o); /* a SigningKey's key (NULL: not one) */
size_t gp_sign_thunk(const void *key, const uint8_t *msg, size_t len, uint8_t *out, size_t cap);
/* py/qlog.c: Server.set_log and Server.observed */
PyObject *gp_server_set_log(gp_server *self, PyObject *args);
PyObject *gp_server_observed(gp_server *self, PyObject *unused);
/* py/classes.c: a class from its Python tuple (its index, or -1); a draw or
   sticky class's outcomes, added once every class of its tree is in */
long gp_add_class(gn_decisions *x, PyObject *item);
int gp_add_picks(gn_decisions *x, size_t cls, PyObject *item);
/* py/classes.c: 80 bytes of heads interned in the decisions: their index, or -1 */
long gp_decisions_heads(gn_decisions *x, const uint8_t *h);
/* py/heads.c: 80 bytes of heads interned in the table (their index, or -1) */
long gp_intern_heads(gn_table *t, const uint8_t *h);

/* py/signed.c (DNSSEC): the Table's methods for answers signed ahead */
PyObject *gp_table_add_signed(gp_table *self, PyObject *args);
PyObject *gp_table_set_signed_until(gp_table *self, PyObject *args);
PyObject *gp_table_add_nodata(gp_table *self, PyObject *args);
PyObject *gp_table_set_denial(gp_table *self, PyObject *args);

#endif
