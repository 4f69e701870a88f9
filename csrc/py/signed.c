/* DNSSEC on the native path: the signed variants of answers (the records and their
   RRSIGs, signed by geodns/native/signing.py when the table or the decisions are built),
   stored beside the unsigned ones. The answering path only picks a variant (answer/). */
#define PY_SSIZE_T_CLEAN
#include "py/py.h"
#include "answer/answer.h"

#include <stdlib.h>
#include <string.h>

#define GN_SIGNED_MAX 65535 /* a signed answer's records: what one message can carry */

/* Checks a (heads, records) pair: 80 bytes of heads and records of 1..65535 bytes. */
static int signed_valid(const Py_buffer *heads, const Py_buffer *body)
{
    if (heads->len == 80 && body->len > 0 && body->len <= GN_SIGNED_MAX)
        return 1;
    PyErr_SetString(PyExc_ValueError, "signed: 80 bytes of heads, 1..65535 bytes of records");
    return 0;
}

/* set_signed_until(seconds): when the signed variants' week is over (0: never). */
PyObject *gp_table_set_signed_until(gp_table *self, PyObject *args)
{
    long long until;
    if (!PyArg_ParseTuple(args, "L", &until))
        return NULL;
    if (until < 0)
        return PyErr_Format(PyExc_ValueError, "a time in seconds, not %lld", until);
    self->c.signed_until = (int64_t)until;
    Py_RETURN_NONE;
}

/* Interns heads and adds records to the arena: *hi (index + 1), *off; 0 on failure. */
static int signed_store(gn_table *t, const Py_buffer *heads, const Py_buffer *body, uint16_t *hi,
                        uint32_t *off)
{
    if (!signed_valid(heads, body))
        return 0;
    long at = gp_intern_heads(t, heads->buf);
    if (at < 0 || at >= 65535 || common_buf_add(&t->arena, body->buf, (size_t)body->len, off) < 0) {
        PyErr_NoMemory();
        return 0;
    }
    *hi = (uint16_t)(at + 1);
    return 1;
}

/* add_signed(key, heads, records[, below_heads, below_records]): the STATIC entry at key
   (added before) answers a DO query with these (its records and their RRSIGs) when its
   zone is signed; a REFERRAL entry (the cut's key) takes both pairs: asked at the cut, and
   below it (gn_entry.sbelow_*). */
PyObject *gp_table_add_signed(gp_table *self, PyObject *args)
{
    gn_table *t = &self->c;
    Py_buffer key, heads, body, bheads = {0}, bbody = {0};
    if (!PyArg_ParseTuple(args, "y*y*y*|y*y*", &key, &heads, &body, &bheads, &bbody))
        return NULL;
    PyObject *res = NULL;
    const gn_item *it = common_set_get(&t->entries, &t->arena, key.buf, (size_t)key.len, 0);
    gn_entry *e = it != NULL && it->value < t->n_ents ? &t->ents[it->value] : NULL;
    int below = bheads.obj != NULL && bbody.obj != NULL;
    if (e == NULL || e->kind != (below ? GN_REFERRAL : GN_STATIC)) {
        PyErr_SetString(PyExc_KeyError,
                        below ? "no referral entry for that key" : "no static entry for that key");
        goto done;
    }
    uint16_t hi = 0, bhi = 0;
    uint32_t off = 0, boff = 0;
    if (!signed_store(t, &heads, &body, &hi, &off) ||
        (below && !signed_store(t, &bheads, &bbody, &bhi, &boff)))
        goto done;
    e->sheads = hi, e->sbody_off = off, e->sbody_len = (uint32_t)body.len;
    if (below)
        e->sbelow_heads = bhi, e->sbelow_off = boff, e->sbelow_len = (uint32_t)bbody.len;
    res = Py_None;
    Py_INCREF(res);
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&heads);
    PyBuffer_Release(&body);
    if (bheads.obj != NULL)
        PyBuffer_Release(&bheads);
    if (bbody.obj != NULL)
        PyBuffer_Release(&bbody);
    return res;
}

/* add_nodata(zone, name, count, records): a DO query for a type `name` lacks gets the
   zone's SOA and then these `count` records (RRSIG SOA, the name's NSEC, its RRSIG). */
PyObject *gp_table_add_nodata(gp_table *self, PyObject *args)
{
    gn_table *t = &self->c;
    unsigned zone, count;
    Py_buffer name, body;
    if (!PyArg_ParseTuple(args, "Iy*Iy*", &zone, &name, &count, &body))
        return NULL;
    PyObject *res = NULL;
    uint32_t off = 0, skip = 0;
    uint8_t head[4] = {(uint8_t)(count >> 8), (uint8_t)count, (uint8_t)(body.len >> 8),
                       (uint8_t)body.len};
    if (zone >= t->n_zones || count < 1 || count > 64 || body.len < 1 || body.len > 8192 ||
        name.len < 1 || name.len > GN_MAX_NAME) {
        PyErr_SetString(PyExc_ValueError, "a zone, a name, 1..64 records in 1..8192 bytes");
        goto done;
    }
    if (common_buf_add(&t->arena, head, 4, &off) < 0 ||
        common_buf_add(&t->arena, body.buf, (size_t)body.len, &skip) < 0 ||
        common_set_put(&t->nodata, &t->arena, name.buf, (size_t)name.len, (uint16_t)zone, off) <
            0) {
        PyErr_NoMemory();
        goto done;
    }
    res = Py_None;
    Py_INCREF(res);
done:
    PyBuffer_Release(&name);
    PyBuffer_Release(&body);
    return res;
}

/* Each key's RRSIG head into the arena, its signer from the SigningKey; 0 with an error. */
static int denial_keys(gn_table *t, gn_denial *dn, PyObject *keys, PyObject *heads)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(keys);
    if (n < 1 || n > GN_DENIAL_KEYS || PySequence_Fast_GET_SIZE(heads) != n) {
        PyErr_SetString(PyExc_ValueError, "1..4 signing keys, a head for each");
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *head = PySequence_Fast_GET_ITEM(heads, i);
#ifdef GEODNS_SIGN
        dn->keys[i] = gp_signkey_key(PySequence_Fast_GET_ITEM(keys, i));
#endif
        char *p;
        Py_ssize_t len;
        if (dn->keys[i] == NULL || PyBytes_AsStringAndSize(head, &p, &len) < 0 || len < 18 ||
            len > 18 + GN_MAX_NAME) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "a SigningKey and 18..273 bytes of head each");
            return 0;
        }
        if (common_buf_add(&t->arena, p, (size_t)len, &dn->head_off[i]) < 0) {
            PyErr_NoMemory();
            return 0;
        }
        dn->head_len[i] = (uint16_t)len;
    }
    dn->nkeys = (uint8_t)n;
    return 1;
}

/* set_denial(zone, count, records, ttl, keys, heads): a nonexistent name in the zone gets
   its compact denial natively (answer/denial.c): after the SOA these `count` records (its
   RRSIGs), the name's NSEC (ttl) and its RRSIG by each SigningKey in keys, each one's
   rdata starting with its head (sign.rrsig_header). Built without the C signer: an error. */
PyObject *gp_table_set_denial(gp_table *self, PyObject *args)
{
    gn_table *t = &self->c;
    unsigned zone, count, ttl;
    Py_buffer sigs;
    PyObject *keys, *heads, *res = NULL;
    if (!PyArg_ParseTuple(args, "IIy*IOO", &zone, &count, &sigs, &ttl, &keys, &heads))
        return NULL;
    keys = PySequence_Fast(keys, "keys: a sequence");
    heads = keys != NULL ? PySequence_Fast(heads, "heads: a sequence") : NULL;
    gn_denial dn = {0};
    if (heads == NULL)
        goto done;
    if (zone >= t->n_zones || count < 1 || count > 32 || sigs.len < 1 || sigs.len > 2048) {
        PyErr_SetString(PyExc_ValueError, "a zone, 1..32 RRSIG SOA records in 1..2048 bytes");
        goto done;
    }
    if (!denial_keys(t, &dn, keys, heads))
        goto done;
    if (common_buf_add(&t->arena, sigs.buf, (size_t)sigs.len, &dn.sigs_off) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (self->keep == NULL && (self->keep = PyList_New(0)) == NULL)
        goto done;
    if (PyList_Append(self->keep, keys) < 0)
        goto done;
    dn.sigs_len = (uint16_t)sigs.len, dn.sigs_count = (uint16_t)count, dn.ttl = ttl;
#ifdef GEODNS_SIGN
    dn.sign = gp_sign_thunk;
#endif
    t->zv[zone].denial = dn;
    res = Py_None;
    Py_INCREF(res);
done:
    Py_XDECREF(keys);
    Py_XDECREF(heads);
    PyBuffer_Release(&sigs);
    return res;
}
