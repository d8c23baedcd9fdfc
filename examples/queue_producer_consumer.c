/* queue_producer_consumer.c - the seed's producer/consumer, in C:
 *
 *   def producer(q):
 *       for i in range(10): q.put(i)
 *   def consumer(q):
 *       for _ in range(10): print(q.get())
 *
 *   with Manager() as manager:
 *       q = manager.Queue()
 *       p = Process(target=producer, args=(q,)); c = Process(target=consumer, args=(q,))
 *       p.start(); c.start(); p.join(); c.join()
 */
#include <mpm/mpm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int producer(mpm_queue *q)
{
    for (int i = 0; i < 10; i++) {
        char item[32];
        snprintf(item, sizeof item, "item %d", i);
        if (mpm_queue_put(q, MPM_STR(item), -1)) {
            fprintf(stderr, "producer: %s\n", mpm_last_error());
            return 1;
        }
    }
    return 0;
}

static int consumer(mpm_queue *q)
{
    for (int i = 0; i < 10; i++) {
        mpm_val *v;
        /* waits for the producer as long as it takes */
        if (mpm_queue_get(q, -1, &v)) {
            fprintf(stderr, "consumer: %s\n", mpm_last_error());
            return 1;
        }
        mpm_val_print(*v);
        fflush(stdout);
        mpm_val_free(v);
    }
    return 0;
}

/* fork a child running fn(q); its exit status is its result */
static pid_t spawn(int (*fn)(mpm_queue *), mpm_queue *q)
{
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) _exit(fn(q));
    return p;
}

static int reap(pid_t p)
{
    int status;
    return p > 0 && waitpid(p, &status, 0) == p && WIFEXITED(status) && !WEXITSTATUS(status);
}

int main(void)
{
    mpm_manager *manager;
    mpm_queue *q;

    if (mpm_manager_start(&manager, NULL) || mpm_queue_new(manager, &q, 0)) {
        fprintf(stderr, "queue_producer_consumer: %s\n", mpm_last_error());
        return 1;
    }
    pid_t c = spawn(consumer, q);
    pid_t p = spawn(producer, q);
    int ok = reap(p);
    ok = reap(c) && ok;
    if (!ok) fprintf(stderr, "queue_producer_consumer: a child failed\n");
    return mpm_manager_shutdown(manager) || !ok ? 1 : 0;
}
