/* condition.c - Condition: placeholder until it lands. */
#include <stdlib.h>

#include "../server.h"

static int condp_create(mpmi_call *c, mpmi_obj **out)
{
    (void)out;
    return mpmi_fail(c, MPM_EVALUE, "ValueError: the Condition type is not built yet");
}

static void condp_destroy(mpmi_obj *o)
{
    free(o);
}

static int condp_repr(mpmi_obj *o, mpmi_buf *out)
{
    (void)o;
    mpmi_buf_puts(out, "<Condition>");
    return 0;
}

static int condp_copy(mpmi_obj *o, msgpack_packer *pk)
{
    (void)o;
    msgpack_pack_nil(pk);
    return 0;
}

const mpmi_type mpmi_type_condition = {
    .code = MPM_OBJ_CONDITION,
    .name = "Condition",
    .create = condp_create,
    .destroy = condp_destroy,
    .repr = condp_repr,
    .copy = condp_copy,
};
