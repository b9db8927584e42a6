/* rtnl.c - the few rtnetlink requests a TUN needs (rtnetlink(7), RFC 3549): link MTU and
 * up, add an address, add/remove a route. One short-lived NETLINK_ROUTE socket per request
 * (configuration is rare); it is opened in the caller's current network namespace. */
#define _GNU_SOURCE
#include "dn.h"
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    struct nlmsghdr nh;
    union { struct ifinfomsg ifi; struct ifaddrmsg ifa; struct rtmsg rt; } u;
    uint8_t attrs[256];
} nlreq;

static void add_attr(nlreq *r, unsigned short type, const void *data, size_t len) {
    struct rtattr *a = (struct rtattr *)((uint8_t *)r + NLMSG_ALIGN(r->nh.nlmsg_len));
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* send the request and wait for its NLMSG_ERROR acknowledgement; returns -errno or 0 */
static int transact(nlreq *r) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    struct sockaddr_nl sa;
    memset(&sa, 0, sizeof sa);
    sa.nl_family = AF_NETLINK;
    r->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    r->nh.nlmsg_seq = 1;
    if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) { int e = errno; close(fd); return -e; }
    union { struct nlmsghdr h; uint8_t b[4096]; } buf;
    for (;;) {
        ssize_t n = recv(fd, &buf, sizeof buf, 0);
        if (n < 0) { if (errno == EINTR) continue; int e = errno; close(fd); return -e; }
        for (struct nlmsghdr *h = &buf.h; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = (struct nlmsgerr *)NLMSG_DATA(h);
                close(fd);
                return e->error; /* 0 = ACK, else -errno */
            }
        }
    }
}

int dn_rtnl_link(int ifindex, int mtu, int up) {
    nlreq r;
    memset(&r, 0, sizeof r);
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    r.nh.nlmsg_type = RTM_NEWLINK;
    r.u.ifi.ifi_family = AF_UNSPEC;
    r.u.ifi.ifi_index = ifindex;
    if (up >= 0) { r.u.ifi.ifi_change = IFF_UP; r.u.ifi.ifi_flags = up ? IFF_UP : 0; }
    if (mtu > 0) { uint32_t m = (uint32_t)mtu; add_attr(&r, IFLA_MTU, &m, sizeof m); }
    return transact(&r);
}

int dn_rtnl_addr(int ifindex, int family, const uint8_t *addr, int plen) {
    nlreq r;
    memset(&r, 0, sizeof r);
    size_t alen = family == 6 ? 16 : 4;
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    r.nh.nlmsg_type = RTM_NEWADDR;
    r.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
    r.u.ifa.ifa_family = family == 6 ? AF_INET6 : AF_INET;
    r.u.ifa.ifa_prefixlen = (unsigned char)plen;
    r.u.ifa.ifa_index = (unsigned)ifindex;
    /* no duplicate address detection on a point-to-point TUN (RFC 4862 §5.4 allows
     * skipping it; otherwise the address stays "tentative" and unusable for a second) */
    if (family == 6) r.u.ifa.ifa_flags = IFA_F_NODAD;
    add_attr(&r, IFA_LOCAL, addr, alen);
    add_attr(&r, IFA_ADDRESS, addr, alen);
    return transact(&r);
}

int dn_rtnl_route(int add, int ifindex, int family, const uint8_t *dst, int plen, int metric) {
    nlreq r;
    memset(&r, 0, sizeof r);
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    r.nh.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
    r.nh.nlmsg_flags = add ? (NLM_F_CREATE | NLM_F_REPLACE) : 0;
    r.u.rt.rtm_family = family == 6 ? AF_INET6 : AF_INET;
    r.u.rt.rtm_dst_len = (unsigned char)plen;
    r.u.rt.rtm_table = RT_TABLE_MAIN;
    r.u.rt.rtm_protocol = RTPROT_STATIC;
    r.u.rt.rtm_scope = RT_SCOPE_LINK;
    r.u.rt.rtm_type = RTN_UNICAST;
    add_attr(&r, RTA_DST, dst, family == 6 ? 16 : 4);
    uint32_t oif = (uint32_t)ifindex;
    add_attr(&r, RTA_OIF, &oif, sizeof oif);
    if (metric > 0) { uint32_t m = (uint32_t)metric; add_attr(&r, RTA_PRIORITY, &m, sizeof m); }
    return transact(&r);
}

int dn_ifindex(const char *name) {
    unsigned i = if_nametoindex(name);
    return i ? (int)i : -errno;
}
