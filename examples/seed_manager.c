/* seed_manager.c - Python's Manager example, in C:
 *
 *   def f(d, l):
 *       d[1] = '1'; d['2'] = 2; d[0.25] = None
 *       l.reverse()
 *
 *   with Manager() as manager:
 *       d = manager.dict(); l = manager.list(range(10))
 *       p = Process(target=f, args=(d, l)); p.start(); p.join()
 *       print(d); print(l)
 */
#include <mpm/mpm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int f(mpm_dict *d, mpm_list *l)
{
    if (mpm_dict_set(d, MPM_INT(1), MPM_STR("1")) || mpm_dict_set(d, MPM_STR("2"), MPM_INT(2)) ||
        mpm_dict_set(d, MPM_FLOAT(0.25), MPM_NONE) || mpm_list_reverse(l)) {
        fprintf(stderr, "child: %s\n", mpm_last_error());
        return 1;
    }
    return 0;
}

int main(void)
{
    mpm_manager *manager;
    mpm_dict *d;
    mpm_list *l;
    int status;

    if (mpm_manager_start(&manager, NULL) || mpm_dict_new(manager, &d) ||
        mpm_list_new_range(manager, &l, 0, 10)) {
        fprintf(stderr, "seed_manager: %s\n", mpm_last_error());
        return 1;
    }
    pid_t p = fork();
    if (p == 0) _exit(f(d, l));
    if (p < 0 || waitpid(p, &status, 0) != p || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "seed_manager: the child failed\n");
        mpm_manager_shutdown(manager);
        return 1;
    }
    mpm_dict_print(d); /* {1: '1', '2': 2, 0.25: None} */
    mpm_list_print(l); /* [9, 8, 7, 6, 5, 4, 3, 2, 1, 0] */
    return mpm_manager_shutdown(manager) ? 1 : 0;
}
