#include <mpm/mpm.h>

const char *mpm_strerror(int code)
{
    switch (code) {
    case 0: return "success";
#define MPM_XX_STR(name, num, text) \
    case -(num): return text;
        MPM_ERRNO_MAP(MPM_XX_STR)
#undef MPM_XX_STR
    default: return "unknown error";
    }
}
