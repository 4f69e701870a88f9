/* The MMDB data section, read only as far as routing needs: the same fields and the same
 * fallbacks as geo/mmdb.py (Database.city / Database.asn), every read bounds-checked.
 * Returns Python objects (codes interned like the Python reader's). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "geo/geo.h"

#include <string.h>

enum {
    T_POINTER = 1,
    T_STRING = 2,
    T_DOUBLE = 3,
    T_MAP = 7,
    T_INT32 = 8,
    T_ARRAY = 11,
    T_BOOL = 14,
    T_FLOAT = 15
};

#define CACHE_SLOTS 65536 /* codes by map offset: continents and countries are shared maps */

typedef struct {
    size_t off;
    PyObject *code; /* a strong reference, or NULL for an empty slot */
} slot;

typedef struct {
    const uint8_t *buf;
    size_t len, data_start;
    slot *cache;
} data;

#define NEED(d, off, n)                                                                            \
    do {                                                                                           \
        if ((off) > (d)->len || (n) > (d)->len - (off))                                            \
            return -1;                                                                             \
    } while (0)

/* (type, size, payload offset) of the value at off; pointers are not special here. */
static int ctrl(const data *d, size_t off, int *type, size_t *size, size_t *payload)
{
    NEED(d, off, 1);
    uint8_t b = d->buf[off++];
    int kind = b >> 5;
    size_t sz = b & 0x1F;
    if (kind == 0) {
        NEED(d, off, 1);
        kind = 7 + d->buf[off++];
    }
    if (sz >= 29) {
        size_t n = sz - 28, extra = 0;
        NEED(d, off, n);
        for (size_t i = 0; i < n; i++)
            extra = extra << 8 | d->buf[off + i];
        static const size_t base[3] = {29, 285, 65821};
        sz = base[n - 1] + extra;
        off += n;
    }
    *type = kind;
    *size = sz;
    *payload = off;
    return 0;
}

/* Where the value at off really is: follows one pointer (as mmdb.py's _deref). */
static int deref(const data *d, size_t off, size_t *out)
{
    NEED(d, off, 1);
    uint8_t b = d->buf[off];
    if (b >> 5 != T_POINTER) {
        *out = off;
        return 0;
    }
    size_t n = ((b >> 3) & 3) + 1, raw = 0;
    NEED(d, off + 1, n);
    for (size_t i = 0; i < n; i++)
        raw = raw << 8 | d->buf[off + 1 + i];
    static const size_t base[4] = {0, 2048, 526336, 0};
    size_t target = n == 4 ? raw : (((size_t)(b & 7) << (8 * n)) | raw) + base[n - 1];
    *out = d->data_start + target;
    return 0;
}

/* The offset just past the value at off; a pointer is skipped, not followed. */
static int skip(const data *d, size_t off, size_t *end, int depth)
{
    NEED(d, off, 1);
    uint8_t b = d->buf[off];
    if (b >> 5 == T_POINTER) {
        *end = off + 2 + ((b >> 3) & 3);
        return 0;
    }
    if (depth > 32)
        return -1;
    int kind;
    size_t size;
    if (ctrl(d, off, &kind, &size, &off) < 0)
        return -1;
    if (kind == T_MAP || kind == T_ARRAY) {
        size_t items = kind == T_MAP ? size * 2 : size;
        if (items > d->len) /* each item takes at least a byte */
            return -1;
        for (size_t i = 0; i < items; i++)
            if (skip(d, off, &off, depth + 1) < 0)
                return -1;
    } else if (kind != T_BOOL) {
        NEED(d, off, size);
        off += size;
    }
    *end = off;
    return 0;
}

/* Offsets of the wanted keys' values in the map at off (deref'd once); SIZE_MAX where
 * missing. As mmdb.py: a later duplicate wins until every wanted key has been seen. */
static int fields(const data *d, size_t off, const char *const *wanted, int nwanted, size_t *found)
{
    int kind, seen = 0;
    size_t size;
    for (int k = 0; k < nwanted; k++)
        found[k] = SIZE_MAX;
    if (deref(d, off, &off) < 0 || ctrl(d, off, &kind, &size, &off) < 0)
        return -1;
    if (kind != T_MAP)
        return 0;
    for (size_t i = 0; i < size; i++) {
        size_t key, ksize, kstart, next;
        int ktype;
        if (deref(d, off, &key) < 0 || ctrl(d, key, &ktype, &ksize, &kstart) < 0)
            return -1;
        NEED(d, kstart, ksize);
        if (skip(d, off, &off, 0) < 0)
            return -1;
        for (int k = 0; k < nwanted; k++) {
            if (strlen(wanted[k]) == ksize && !memcmp(d->buf + kstart, wanted[k], ksize)) {
                seen += found[k] == SIZE_MAX;
                found[k] = off;
            }
        }
        if (seen == nwanted)
            break;
        if (skip(d, off, &next, 0) < 0)
            return -1;
        off = next;
    }
    return 0;
}

static PyObject *bytes_int(const uint8_t *p, size_t n, int is_signed)
{
    return _PyLong_FromByteArray(p, n, 0, is_signed);
}

/* A scalar as mmdb.py's _value: str, int, float, bool; None for anything else or missing.
 * Returns a new reference, or NULL with an exception set. */
static PyObject *value(const data *d, size_t off)
{
    int kind;
    size_t size, start;
    if (off == SIZE_MAX)
        Py_RETURN_NONE;
    if (deref(d, off, &off) < 0 || ctrl(d, off, &kind, &size, &start) < 0)
        return PyErr_Format(PyExc_ValueError, "data section: value at %zu out of bounds", off);
    if (kind == T_BOOL)
        return PyBool_FromLong(size != 0);
    if (start > d->len || size > d->len - start)
        return PyErr_Format(PyExc_ValueError, "data section: value at %zu out of bounds", off);
    const uint8_t *p = d->buf + start;
    switch (kind) {
    case T_STRING: {
        PyObject *s = PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)size, "replace");
        if (s)
            PyUnicode_InternInPlace(&s);
        return s;
    }
    case 5:
    case 6:
    case 9:
    case 10:
        return bytes_int(p, size, 0);
    case T_INT32:
        return bytes_int(p, size, size == 4);
    case T_DOUBLE:
        if (size == 8) {
            uint64_t u = 0;
            double v;
            for (int i = 0; i < 8; i++)
                u = u << 8 | p[i];
            memcpy(&v, &u, 8);
            return PyFloat_FromDouble(v);
        }
        break;
    case T_FLOAT:
        if (size == 4) {
            uint32_t u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
            float v;
            memcpy(&v, &u, 4);
            return PyFloat_FromDouble(v);
        }
        break;
    }
    Py_RETURN_NONE;
}

/* mmdb.py's _code: the non-empty string under `key` of the map at off (deref'd twice);
 * cached by the map's offset and key (a record's maps are usually pointers to shared ones). */
static PyObject *code(const data *d, size_t off, const char *key)
{
    const char *wanted[1] = {key};
    size_t found;
    if (off == SIZE_MAX)
        Py_RETURN_NONE;
    if (deref(d, off, &off) < 0)
        return PyErr_Format(PyExc_ValueError, "data section: map at %zu out of bounds", off);
    size_t tag = off * 2 + (key[0] == 'c'); /* "code" and "iso_code" never share a map here */
    slot *s = d->cache ? &d->cache[(tag * 0x9E3779B97F4A7C15ull) >> 48] : NULL;
    if (s && s->code && s->off == tag)
        return Py_NewRef(s->code);
    if (fields(d, off, wanted, 1, &found) < 0)
        return PyErr_Format(PyExc_ValueError, "data section: map at %zu out of bounds", off);
    PyObject *v = value(d, found);
    if (v && !(PyUnicode_Check(v) && PyUnicode_GET_LENGTH(v) > 0)) {
        Py_DECREF(v);
        v = Py_NewRef(Py_None);
    }
    if (v && s) {
        Py_XSETREF(s->code, Py_NewRef(v));
        s->off = tag;
    }
    return v;
}

static const char *const CITY[5] = {"continent", "country", "registered_country", "subdivisions",
                                    "location"};
static const char *const LOCATION[2] = {"latitude", "longitude"};

/* (continent, country, subdivision "CC-SUB", lat, lon) of the record at off. */
static PyObject *city(const data *d, size_t off)
{
    size_t top[5], loc[2] = {SIZE_MAX, SIZE_MAX};
    PyObject *continent = NULL, *country = NULL, *sub = NULL, *subdivision = NULL;
    PyObject *lat = NULL, *lon = NULL, *out = NULL;
    if (fields(d, off, CITY, 5, top) < 0) {
        PyErr_Format(PyExc_ValueError, "data section: record at %zu out of bounds", off);
        return NULL;
    }
    if (!(continent = code(d, top[0], "code")) || !(country = code(d, top[1], "iso_code")))
        goto done;
    if (country == Py_None) {
        Py_DECREF(country);
        if (!(country = code(d, top[2], "iso_code")))
            goto done;
    }
    size_t first = SIZE_MAX;
    if (top[3] != SIZE_MAX) {
        int kind;
        size_t size, start, at;
        if (deref(d, top[3], &at) < 0 || ctrl(d, at, &kind, &size, &start) < 0) {
            PyErr_SetString(PyExc_ValueError, "data section: subdivisions out of bounds");
            goto done;
        }
        if (kind == T_ARRAY && size)
            first = start;
    }
    if (!(sub = code(d, first, "iso_code")))
        goto done;
    if (sub != Py_None && country != Py_None) {
        if (!(subdivision = PyUnicode_FromFormat("%U-%U", country, sub)))
            goto done;
        PyUnicode_InternInPlace(&subdivision);
    } else {
        subdivision = Py_NewRef(Py_None);
    }
    if (top[4] != SIZE_MAX && fields(d, top[4], LOCATION, 2, loc) < 0) {
        PyErr_SetString(PyExc_ValueError, "data section: location out of bounds");
        goto done;
    }
    if (!(lat = value(d, loc[0])) || !(lon = value(d, loc[1])))
        goto done;
    out = PyTuple_Pack(5, continent, country, subdivision, lat, lon);
done:
    Py_XDECREF(continent);
    Py_XDECREF(country);
    Py_XDECREF(sub);
    Py_XDECREF(subdivision);
    Py_XDECREF(lat);
    Py_XDECREF(lon);
    return out;
}

static PyObject *asn(const data *d, size_t off)
{
    static const char *const ASN[1] = {"autonomous_system_number"};
    size_t found;
    if (fields(d, off, ASN, 1, &found) < 0) {
        PyErr_Format(PyExc_ValueError, "data section: record at %zu out of bounds", off);
        return NULL;
    }
    PyObject *v = value(d, found);
    if (v && !PyLong_Check(v)) {
        Py_DECREF(v);
        Py_RETURN_NONE;
    }
    return v;
}

/* (index, places): places[0] is (None,) * 5 (no data), then each distinct decoded city
 * record once; index (uint32 per record index, 0 = no data) says which place each is.
 * Deduplicated as it goes: GeoLite2-City's 458k records are ~134k places, and holding one
 * tuple per record first would cost the compile ~60 MB at its peak. */
PyObject *gp_places(const gd_db *db, const uint32_t *offsets, size_t n)
{
    data d = {db->buf, db->len, db->tree_size + 16, PyMem_Calloc(CACHE_SLOTS, sizeof(slot))};
    PyObject *seen = PyDict_New(), *list = PyList_New(0), *none = NULL, *out = NULL;
    uint32_t *index = PyMem_Malloc((n + 1) * sizeof *index);
    if (!d.cache || !seen || !list || !index)
        goto done;
    none = PyTuple_Pack(5, Py_None, Py_None, Py_None, Py_None, Py_None);
    if (!none || PyList_Append(list, none) < 0)
        goto done;
    PyObject *zero = PyLong_FromLong(0);
    if (!zero || PyDict_SetItem(seen, none, zero) < 0) {
        Py_XDECREF(zero);
        goto done;
    }
    Py_DECREF(zero);
    index[0] = 0;
    for (size_t i = 0; i < n; i++) {
        PyObject *place = city(&d, offsets[i]);
        if (!place)
            goto done;
        PyObject *next = PyLong_FromSsize_t(PyList_GET_SIZE(list));
        PyObject *at = next ? PyDict_SetDefault(seen, place, next) : NULL;
        if (!at || (at == next && PyList_Append(list, place) < 0)) {
            Py_DECREF(place);
            Py_XDECREF(next);
            goto done;
        }
        index[i + 1] = (uint32_t)PyLong_AsUnsignedLong(at);
        Py_DECREF(place);
        Py_DECREF(next);
    }
    out = Py_BuildValue("y#O", (const char *)index, (Py_ssize_t)((n + 1) * sizeof *index), list);
done:
    if (!out && !PyErr_Occurred())
        PyErr_NoMemory();
    for (size_t i = 0; d.cache && i < CACHE_SLOTS; i++)
        Py_XDECREF(d.cache[i].code);
    PyMem_Free(d.cache);
    PyMem_Free(index);
    Py_XDECREF(seen);
    Py_XDECREF(list);
    Py_XDECREF(none);
    return out;
}

/* A list with one decoded record per offset, in order (kind 0: city, 1: asn). */
PyObject *gp_decode(const gd_db *db, const uint32_t *offsets, size_t n, int kind)
{
    data d = {db->buf, db->len, db->tree_size + 16, PyMem_Calloc(CACHE_SLOTS, sizeof(slot))};
    PyObject *list = d.cache ? PyList_New((Py_ssize_t)n) : PyErr_NoMemory();
    for (size_t i = 0; list && i < n; i++) {
        PyObject *item = kind == 0 ? city(&d, offsets[i]) : asn(&d, offsets[i]);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    for (size_t i = 0; d.cache && i < CACHE_SLOTS; i++)
        Py_XDECREF(d.cache[i].code);
    PyMem_Free(d.cache);
    return list;
}
