/* What csrc/module.c registers: every type Python holds and the module's functions, each
   defined in its csrc/py/ file (the only files that include Python.h). */
#ifndef GP_PY_H
#define GP_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

extern PyTypeObject gn_table_type;     /* py/table.c: the flat table */
extern PyTypeObject gn_decisions_type; /* py/decisions.c: policy classes under one health */
extern PyTypeObject gn_server_type;    /* py/server.c: the UDP threads */
extern PyTypeObject gp_cookies_type;   /* py/abuse.c: a worker's server cookies */
extern PyTypeObject gd_RateLimiterType; /* py/limiter.c: a worker's RRL table */
extern PyTypeObject gp_tree_type;      /* py/geo.c: one walk of an MMDB search tree */
extern PyTypeObject gp_ranges_type;    /* py/geo.c: merged ranges */
extern PyMethodDef gp_abuse_functions[]; /* py/abuse.c: SipHash, cookies, RRL helpers */
extern PyMethodDef gp_geo_functions[];   /* py/geo.c: overlay, remap */

#endif
