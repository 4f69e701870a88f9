/* Internal to geodns._native: what its two C files share. */
#ifndef GD_FASTABUSE_H
#define GD_FASTABUSE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* A host string as the Python modules take it ("1.2.3.4", "::1", "fe80::1%eth0") into
   family 4 or 6 and addr (4 or 16 bytes); -1 with ValueError set when it is not one. */
int gp_parse_host(PyObject *host, int *family, uint8_t addr[16]);

/* The RateLimiter type (csrc/py/limiter.c); added to the module by PyInit. */
extern PyTypeObject gp_limiter_type;

#endif
