/* semaphore.c - Semaphore and BoundedSemaphore: placeholder until they land. */
#include <stdlib.h>

#include "../server.h"

static int semp_create(mpmi_call *c, mpmi_obj **out)
{
    (void)out;
    return mpmi_fail(c, MPM_EVALUE, "ValueError: the Semaphore type is not built yet");
}

static void semp_destroy(mpmi_obj *o)
{
    free(o);
}

static int semp_repr(mpmi_obj *o, mpmi_buf *out)
{
    (void)o;
    mpmi_buf_puts(out, "<Semaphore>");
    return 0;
}

static int semp_copy(mpmi_obj *o, msgpack_packer *pk)
{
    (void)o;
    msgpack_pack_nil(pk);
    return 0;
}

const mpmi_type mpmi_type_semaphore = {
    .code = MPM_OBJ_SEMAPHORE,
    .name = "Semaphore",
    .create = semp_create,
    .destroy = semp_destroy,
    .repr = semp_repr,
    .copy = semp_copy,
};

static int bsemp_create(mpmi_call *c, mpmi_obj **out)
{
    (void)out;
    return mpmi_fail(c, MPM_EVALUE, "ValueError: the BoundedSemaphore type is not built yet");
}

static void bsemp_destroy(mpmi_obj *o)
{
    free(o);
}

static int bsemp_repr(mpmi_obj *o, mpmi_buf *out)
{
    (void)o;
    mpmi_buf_puts(out, "<BoundedSemaphore>");
    return 0;
}

static int bsemp_copy(mpmi_obj *o, msgpack_packer *pk)
{
    (void)o;
    msgpack_pack_nil(pk);
    return 0;
}

const mpmi_type mpmi_type_bounded_semaphore = {
    .code = MPM_OBJ_BOUNDED_SEMAPHORE,
    .name = "BoundedSemaphore",
    .create = bsemp_create,
    .destroy = bsemp_destroy,
    .repr = bsemp_repr,
    .copy = bsemp_copy,
};
