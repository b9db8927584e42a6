/* netns.c - run a setup step inside another network namespace (setns(2)).
 * Only the calling thread moves, and only for the duration of the step: a TUN device,
 * a socket or a netlink socket stays in the namespace it was created in
 * (network_namespaces(7)), so the rest of the process keeps its own namespace. */
#define _GNU_SOURCE
#include "dn.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

int dn_netns_enter(const char *path, int *saved) {
    *saved = -1;
    if (!path || !*path) return 0;
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return -errno;
    int target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0) { int e = errno; close(self); return -e; }
    if (setns(target, CLONE_NEWNET) < 0) { int e = errno; close(target); close(self); return -e; }
    close(target);
    *saved = self;
    return 0;
}

void dn_netns_leave(int saved) {
    if (saved < 0) return;
    (void)setns(saved, CLONE_NEWNET);
    close(saved);
}
