/* The fuzz input as a hostile MMDB, shared by the walk (fuzz_mmdb.c) and decoder
   (fuzz_geodata.c) harnesses: node count (4, little endian) | record size (1: 24, 28 or
   32) | ip_version (1) | the database bytes, search tree first. */
#ifndef GEODNS_FUZZ_DB_H
#define GEODNS_FUZZ_DB_H

#include <string.h>

#include "geo/geo.h"

/* 0 and *db filled, or -1 when the input is too short to say anything. */
static inline int fuzz_db(const uint8_t *data, size_t size, gd_db *db)
{
    static const int sizes[3] = {24, 28, 32};
    if (size < 6)
        return -1;
    memset(db, 0, sizeof *db);
    memcpy(&db->nc, data, 4);
    db->rs = sizes[data[4] % 3];
    db->ipv = data[5] & 1 ? 6 : 4;
    db->buf = data + 6;
    db->len = size - 6;
    db->tree_size = (size_t)db->nc * (size_t)db->rs / 4;
    return 0;
}

#endif
