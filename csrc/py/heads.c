/* The table's interned 80-byte heads: one copy of each distinct head, shared by the entries
   (py/table.c) and by the signed variants (py/signed.c), in a file of its own so neither
   of those needs the other. */
#define PY_SSIZE_T_CLEAN
#include "py/py.h"

#include <stdlib.h>
#include <string.h>

long gp_intern_heads(gn_table *t, const uint8_t *h)
{
    for (size_t i = 0; i < t->n_heads; i++)
        if (memcmp(t->heads[i], h, 80) == 0)
            return (long)i;
    if (t->n_heads >= 65535)
        return -1;
    if (t->n_heads == t->cap_heads) {
        size_t cap = t->cap_heads ? t->cap_heads * 2 : 64;
        void *nh = realloc(t->heads, cap * 80);
        if (nh == NULL)
            return -1;
        t->heads = nh;
        t->cap_heads = cap;
    }
    memcpy(t->heads[t->n_heads], h, 80);
    return (long)t->n_heads++;
}
