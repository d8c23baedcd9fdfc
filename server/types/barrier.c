/* barrier.c - Barrier: placeholder until it lands. */
#include <stdlib.h>

#include "../server.h"

static int barp_create(mpmi_call *c, mpmi_obj **out)
{
    (void)out;
    return mpmi_fail(c, MPM_EVALUE, "ValueError: the Barrier type is not built yet");
}

static void barp_destroy(mpmi_obj *o)
{
    free(o);
}

static int barp_repr(mpmi_obj *o, mpmi_buf *out)
{
    (void)o;
    mpmi_buf_puts(out, "<Barrier>");
    return 0;
}

static int barp_copy(mpmi_obj *o, msgpack_packer *pk)
{
    (void)o;
    msgpack_pack_nil(pk);
    return 0;
}

const mpmi_type mpmi_type_barrier = {
    .code = MPM_OBJ_BARRIER,
    .name = "Barrier",
    .create = barp_create,
    .destroy = barp_destroy,
    .repr = barp_repr,
    .copy = barp_copy,
};
