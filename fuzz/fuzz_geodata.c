/* Fuzz the MMDB data-section decoder (csrc/py/geodata.c, helper GEO's) with hostile
   databases: the walk (as fuzz_mmdb.c), then every record it found decoded as a city, as
   an ASN and as places, and records at offsets the input picks (inside the data section
   or not). The decoder builds Python objects, so this harness embeds the interpreter
   (fuzz/run.sh links libpython and runs it with PYTHONMALLOC=malloc, so ASan sees every
   allocation). Input: as fuzz_mmdb.c, then the last 8 bytes are also read as 2 offsets. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "geo/geo.h"
#include "fuzz.h"
#include "fuzz_db.h"

PyObject *gp_decode(const gd_db *db, const uint32_t *offsets, size_t n, int kind);
PyObject *gp_places(const gd_db *db, const uint32_t *offsets, size_t n);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    Py_InitializeEx(0);
    return 0;
}

static void drop(PyObject *o)
{
    if (o == NULL) {
        FUZZ_CHECK(PyErr_Occurred() != NULL); /* NULL always says why */
        PyErr_Clear();
    } else {
        Py_DECREF(o);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gd_db db;
    if (fuzz_db(data, size, &db) < 0)
        return 0;
    gd_walk w;
    const char *err = NULL;
    if (geo_walk_tree(&db, &w, &err) < 0)
        return 0;
    for (int kind = 0; kind < 2; kind++)
        drop(gp_decode(&db, w.offsets, w.nrec, kind));
    drop(gp_places(&db, w.offsets, w.nrec));
    if (size >= 14) { /* any offset at all: the decoder must check, not trust the walk */
        uint32_t picked[2];
        memcpy(picked, data + size - 8, 8);
        picked[0] = (uint32_t)(db.tree_size + 16 + picked[0] % (db.len - db.tree_size - 15));
        for (int kind = 0; kind < 2; kind++)
            drop(gp_decode(&db, picked, 2, kind));
        drop(gp_places(&db, picked, 2));
    }
    geo_walk_free(&w);
    return 0;
}
