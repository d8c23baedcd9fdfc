/* namespace.c - mpm_namespace_*: Python's manager.Namespace(). */
#include "client.h"

/* A name as an argument: NULL is the caller's bug, caught before the wire. */
static int namespace_name(const char *name, mpm_val *out)
{
    if (!name) return mpmi_error(MPM_EINVAL, "attribute name is NULL");
    *out = MPM_STR(name);
    return 0;
}

int mpm_namespace_new(mpm_manager *m, mpm_namespace **out)
{
    if (!m || !out) return mpmi_error(MPM_EINVAL, "mpm_namespace_new: NULL argument");
    return mpmi_create(m, MPM_OBJ_NAMESPACE, 0, NULL, 0, (void **)out);
}

void mpm_namespace_close(mpm_namespace *ns)
{
    if (ns) mpmi_handle_close(&ns->h);
}

int mpm_namespace_set(mpm_namespace *ns, const char *name, mpm_val value)
{
    mpm_val args[2];
    int rc = mpmi_check(ns);
    if (rc || (rc = namespace_name(name, &args[0]))) return rc;
    args[1] = value;
    return mpmi_call(&ns->h, MPMI_OP_NS_SETATTR, args, 2, MPMI_SINK_NONE);
}

int mpm_namespace_get(mpm_namespace *ns, const char *name, mpm_val **out)
{
    mpm_val arg;
    int rc = mpmi_check(ns);
    if (rc || (rc = namespace_name(name, &arg))) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_namespace_get: out is NULL");
    return mpmi_call(&ns->h, MPMI_OP_NS_GETATTR, &arg, 1, MPMI_SINK_VAL(out));
}

int mpm_namespace_del(mpm_namespace *ns, const char *name)
{
    mpm_val arg;
    int rc = mpmi_check(ns);
    if (rc || (rc = namespace_name(name, &arg))) return rc;
    return mpmi_call(&ns->h, MPMI_OP_NS_DELATTR, &arg, 1, MPMI_SINK_NONE);
}

int mpm_namespace_dir(mpm_namespace *ns, mpm_val **out)
{
    int rc = mpmi_check(ns);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_namespace_dir: out is NULL");
    return mpmi_call(&ns->h, MPMI_OP_NS_DIR, NULL, 0, MPMI_SINK_VAL(out));
}

int mpm_namespace_repr(mpm_namespace *ns, char **out)
{
    int rc = mpmi_check(ns);
    if (rc) return rc;
    if (!out) return mpmi_error(MPM_EINVAL, "mpm_namespace_repr: out is NULL");
    return mpmi_call(&ns->h, MPMI_OP_REPR, NULL, 0, MPMI_SINK_STR(out));
}

int mpm_namespace_print(mpm_namespace *ns)
{
    /* one printer for every type */
    int rc = mpmi_check(ns);
    return rc ? rc : mpm_handle_print(ns);
}
