/* event.c - Event: placeholder until it lands. */
#include <stdlib.h>

#include "../server.h"

static int evp_create(mpmi_call *c, mpmi_obj **out)
{
    (void)out;
    return mpmi_fail(c, MPM_EVALUE, "ValueError: the Event type is not built yet");
}

static void evp_destroy(mpmi_obj *o)
{
    free(o);
}

static int evp_repr(mpmi_obj *o, mpmi_buf *out)
{
    (void)o;
    mpmi_buf_puts(out, "<Event>");
    return 0;
}

static int evp_copy(mpmi_obj *o, msgpack_packer *pk)
{
    (void)o;
    msgpack_pack_nil(pk);
    return 0;
}

const mpmi_type mpmi_type_event = {
    .code = MPM_OBJ_EVENT,
    .name = "Event",
    .create = evp_create,
    .destroy = evp_destroy,
    .repr = evp_repr,
    .copy = evp_copy,
};
