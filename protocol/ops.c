#include "ops.h"

#include <stddef.h>

const char *mpmi_op_name(int op)
{
    switch (op) {
#define MPMI_XX_NAME(name, num) \
    case num: return #name;
        MPMI_OPS(MPMI_XX_NAME)
#undef MPMI_XX_NAME
    default: return "?";
    }
}
