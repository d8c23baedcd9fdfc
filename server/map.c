#include "map.h"

#include <stdlib.h>
#include <string.h>

static size_t map_hash(uint64_t k, size_t mask)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k & mask;
}

void mpmi_map_free(mpmi_map *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

mpmi_map_slot *mpmi_map_find(const mpmi_map *m, uint64_t key)
{
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = map_hash(key, mask);; i = (i + 1) & mask) {
        if (m->slots[i].key == key) return &m->slots[i];
        if (!m->slots[i].key) return NULL;
    }
}

static int map_grow(mpmi_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    mpmi_map_slot *s = calloc(cap, sizeof *s);
    if (!s) return -1;
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->slots[j].key) continue;
        size_t i = map_hash(m->slots[j].key, cap - 1);
        while (s[i].key) i = (i + 1) & (cap - 1);
        s[i] = m->slots[j];
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
    return 0;
}

mpmi_map_slot *mpmi_map_put(mpmi_map *m, uint64_t key, int *created)
{
    mpmi_map_slot *s = mpmi_map_find(m, key);
    if (created) *created = 0;
    if (s) return s;
    if ((m->len + 1) * 4 > m->cap * 3 && map_grow(m)) return NULL;
    size_t mask = m->cap - 1, i = map_hash(key, mask);
    while (m->slots[i].key) i = (i + 1) & mask;
    m->slots[i].key = key;
    m->slots[i].v.n = 0;
    m->len++;
    if (created) *created = 1;
    return &m->slots[i];
}

int mpmi_map_del(mpmi_map *m, uint64_t key)
{
    mpmi_map_slot *s = mpmi_map_find(m, key);
    if (!s) return -1;
    size_t mask = m->cap - 1, i = (size_t)(s - m->slots), j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].key) break;
        size_t h = map_hash(m->slots[j].key, mask);
        /* move j back to i unless its home lies cyclically in (i, j] */
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = 0;
    m->slots[i].v.n = 0;
    m->len--;
    return 0;
}
