/* map.h - u64 -> pointer/count hash map (open addressing, linear probing with
 * backward-shift deletion).  Key 0 is reserved. */
#ifndef MPMI_MAP_H
#define MPMI_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct mpmi_map_slot {
    uint64_t key;
    union {
        void *ptr;
        uint64_t n;
    } v;
} mpmi_map_slot;

typedef struct mpmi_map {
    mpmi_map_slot *slots;
    size_t cap; /* power of two or 0 */
    size_t len;
} mpmi_map;

void mpmi_map_free(mpmi_map *m);
/* Slot for key, or NULL. */
mpmi_map_slot *mpmi_map_find(const mpmi_map *m, uint64_t key);
/* Slot for key, created zeroed when absent (*created set); NULL on no memory. */
mpmi_map_slot *mpmi_map_put(mpmi_map *m, uint64_t key, int *created);
/* Remove key; 0 or -1 when absent. */
int mpmi_map_del(mpmi_map *m, uint64_t key);

#define MPMI_MAP_EACH(m, s)                                                          \
    for (mpmi_map_slot *s = (m)->slots; s && s < (m)->slots + (m)->cap; s++)       \
        if (s->key)

#endif
