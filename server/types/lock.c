/* lock.c - Lock and RLock: placeholder until they land. */
#include <stdlib.h>

#include "../server.h"

static int lockp_create(mpmi_call *c, mpmi_obj **out)
{
    (void)out;
    return mpmi_fail(c, MPM_EVALUE, "ValueError: the Lock type is not built yet");
}

static void lockp_destroy(mpmi_obj *o)
{
    free(o);
}

static int lockp_repr(mpmi_obj *o, mpmi_buf *out)
{
    (void)o;
    mpmi_buf_puts(out, "<Lock>");
    return 0;
}

static int lockp_copy(mpmi_obj *o, msgpack_packer *pk)
{
    (void)o;
    msgpack_pack_nil(pk);
    return 0;
}

const mpmi_type mpmi_type_lock = {
    .code = MPM_OBJ_LOCK,
    .name = "Lock",
    .create = lockp_create,
    .destroy = lockp_destroy,
    .repr = lockp_repr,
    .copy = lockp_copy,
};

static int rlockp_create(mpmi_call *c, mpmi_obj **out)
{
    (void)out;
    return mpmi_fail(c, MPM_EVALUE, "ValueError: the RLock type is not built yet");
}

static void rlockp_destroy(mpmi_obj *o)
{
    free(o);
}

static int rlockp_repr(mpmi_obj *o, mpmi_buf *out)
{
    (void)o;
    mpmi_buf_puts(out, "<RLock>");
    return 0;
}

static int rlockp_copy(mpmi_obj *o, msgpack_packer *pk)
{
    (void)o;
    msgpack_pack_nil(pk);
    return 0;
}

const mpmi_type mpmi_type_rlock = {
    .code = MPM_OBJ_RLOCK,
    .name = "RLock",
    .create = rlockp_create,
    .destroy = rlockp_destroy,
    .repr = rlockp_repr,
    .copy = rlockp_copy,
};
