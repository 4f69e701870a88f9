/* The texts a log line names an answer by (its zone, its pool), per native table: the
   answering thread copies them into the record, so the writer never reads a table that a
   reload may have released. */
#include "log/log.h"

#include <stdlib.h>

log_names *log_names_new(uint32_t nzones, uint32_t nslots, uint32_t npools, size_t text)
{
    log_names *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    n->nzones = nzones;
    n->nslots = nslots;
    n->npools = npools;
    n->zone = calloc((size_t)nzones + 1, sizeof *n->zone);
    n->first = calloc((size_t)nslots + 1, sizeof *n->first);
    n->pool = calloc((size_t)npools + 1, sizeof *n->pool);
    n->text = malloc(text ? text : 1);
    if (n->zone == NULL || n->first == NULL || n->pool == NULL || n->text == NULL) {
        log_names_free(n);
        return NULL;
    }
    return n;
}

void log_names_free(log_names *n)
{
    if (n == NULL)
        return;
    free(n->zone);
    free(n->first);
    free(n->pool);
    free(n->text);
    free(n);
}

const char *log_zone(const log_names *n, uint32_t zone, size_t *len)
{
    if (n == NULL || zone >= n->nzones) {
        *len = 0;
        return "";
    }
    *len = n->zone[zone + 1] - n->zone[zone];
    return n->text + n->zone[zone];
}

const char *log_pool(const log_names *n, uint32_t slot, uint32_t pool, size_t *len)
{
    *len = 0;
    if (n == NULL || slot >= n->nslots || n->first[slot] + pool >= n->first[slot + 1])
        return "";
    uint32_t i = n->first[slot] + pool;
    *len = n->pool[i + 1] - n->pool[i];
    return n->text + n->pool[i];
}
