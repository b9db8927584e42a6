/* udp.c - UDP endpoint: batched send with per-packet destination, TTL/TOS and UDP GSO
 * (userspace split of TUN super-packets), batched receive with UDP GRO and IP_PKTINFO.
 *
 * UDP GSO (UDP_SEGMENT, Linux 4.18, Documentation/networking/segmentation-offloads.rst):
 * one sendmsg carries up to 64 equal-sized datagrams (the last may be shorter); the
 * cmsg value is the size of each. UDP GRO (UDP_GRO, Linux 5.0) is the mirror image on
 * receive: one message holds several datagrams of one flow, the cmsg gives their size.
 */
#define _GNU_SOURCE
#include "dn.h"
#include "csum.h"
#include <errno.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/* tx: UDP_SEGMENT, TTL, TOS, source (in6_pktinfo is the larger of the two pktinfos) */
#define TX_CMSG_SPACE (CMSG_SPACE(sizeof(uint16_t)) + 2 * CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo)))
/* rx: UDP_GRO, pktinfo, TTL/hop limit, TOS/traffic class (+ slack for anything else the kernel adds) */
#define RX_CMSG_SPACE (3 * CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) + 64)

static inline void st_add(double *st, int i, double v) { if (st) st[i] += v; }

/* every socket's own outer TTL/hop limit and TOS/traffic class, set in dn_udp_open */
#define SOCK_TTL 64
#define SOCK_TOS 0

static void set_buf(int fd, int force, int plain, int size) {
    /* the *FORCE variants ignore net.core.[rw]mem_max but need CAP_NET_ADMIN (socket(7)) */
    if (setsockopt(fd, SOL_SOCKET, force, &size, sizeof size) < 0)
        setsockopt(fd, SOL_SOCKET, plain, &size, sizeof size);
}

int dn_udp_open(dn_udp *u, int family, const uint8_t *addr, int port, int bufsize, unsigned want,
                int rx_max, const char **stage) {
    memset(u, 0, sizeof *u);
    u->fd = -1;
    u->family = family;
    u->rx_max = rx_max;
    u->max_msgs = 1024;
    u->max_iov = 4 * 1024;
    u->max_seghdr = 2048;
    *stage = "allocate buffers";
    u->txm = calloc((size_t)u->max_msgs, sizeof *u->txm);
    u->txsegs = calloc((size_t)u->max_msgs, sizeof *u->txsegs);
    u->txiov = calloc((size_t)u->max_iov, sizeof *u->txiov);
    u->txcmsg = calloc((size_t)u->max_msgs, TX_CMSG_SPACE);
    u->txaddr = calloc((size_t)u->max_msgs, sizeof *u->txaddr);
    u->seghdr = calloc((size_t)u->max_seghdr, DN_SEG_HDR_STRIDE);
    u->rxm = calloc((size_t)rx_max, sizeof *u->rxm);
    u->rxiov = calloc((size_t)rx_max, sizeof *u->rxiov);
    u->rxcmsg = calloc((size_t)rx_max, RX_CMSG_SPACE);
    u->rxaddr = calloc((size_t)rx_max, sizeof *u->rxaddr);
    if (!u->txm || !u->txsegs || !u->txiov || !u->txcmsg || !u->txaddr || !u->seghdr || !u->rxm || !u->rxiov ||
        !u->rxcmsg || !u->rxaddr) {
        dn_udp_close(u);
        return -ENOMEM;
    }
    *stage = "socket";
    int af = family == 6 ? AF_INET6 : AF_INET;
    int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { int e = errno; dn_udp_close(u); return -e; }
    u->fd = fd;
    int one = 1;
    if (bufsize > 0) {
        set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, bufsize);
        set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, bufsize);
    }
    *stage = "setsockopt SO_REUSEPORT";
    if ((want & DN_OFF_REUSEPORT) && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        int e = errno; dn_udp_close(u); return -e;
    }
    *stage = "setsockopt PKTINFO";
    if (af == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) < 0) { int e = errno; dn_udp_close(u); return -e; }
    } else if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) {
        int e = errno; dn_udp_close(u); return -e;
    }
    /* outer TTL and TOS of every datagram: the ETR needs them for RFC 9300 §5.3 (inner TTL =
     * min(outer, inner); DSCP copy; ECN per RFC 6040). Best effort: without them the JS side sees
     * TTL 0 ("not reported") and leaves the inner header alone. */
    if (af == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one);
        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof one);
    } else {
        setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof one);
        setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof one);
    }
    /* The outer TTL/TOS the ITR copies from the inner header (RFC 9300 §5.3) is nearly always the
     * same (a host's own traffic: TTL 64, TOS 0). Make that the socket's own value, so that such
     * datagrams need no IP_TTL/IP_TOS cmsg: the kernel parses every cmsg of every message. */
    int ttl = SOCK_TTL, tos = SOCK_TOS;
    if (af == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl);
        setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos);
    } else {
        setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
        setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    }
    /* Outer DF (RFC 9300 §7.1: an IPv4 outer header SHOULD have DF=1, so that the ETR never
     * reassembles). IP_PMTUDISC_DO sets it on every datagram, the segments of a UDP GSO message
     * too: the default (IP_PMTUDISC_WANT) decides on the whole message's length and so sends GSO
     * segments with DF=0 and single datagrams with DF=1. DN_OFF_FRAG asks for DF=0
     * (IP_PMTUDISC_DONT): a socket for inner IPv4 packets without DF that do not fit the path,
     * which the kernel then fragments (the MAY of §7.1). */
    if (af == AF_INET) {
        int pmtu = (want & DN_OFF_FRAG) ? IP_PMTUDISC_DONT : IP_PMTUDISC_DO;
        if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) == 0 && (want & DN_OFF_FRAG))
            u->offloads |= DN_OFF_FRAG;
    }
    *stage = "bind";
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (af == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6; a->sin6_port = htons((uint16_t)port);
        memcpy(&a->sin6_addr, addr, 16);
        sl = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET; a->sin_port = htons((uint16_t)port);
        memcpy(&a->sin_addr, addr, 4);
        sl = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) { int e = errno; dn_udp_close(u); return -e; }
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    u->local_port = ntohs(af == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    if ((want & DN_OFF_UDP_GRO) && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0) u->offloads |= DN_OFF_UDP_GRO;
    if (want & DN_OFF_UDP_GSO) {
        /* probe: a socket-level UDP_SEGMENT of 0 is accepted by kernels that have GSO */
        int z = 0;
        if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &z, sizeof z) == 0) u->offloads |= DN_OFF_UDP_GSO;
    }
    for (int i = 0; i < rx_max; i++) {
        u->rxm[i].msg_hdr.msg_iov = &u->rxiov[i];
        u->rxm[i].msg_hdr.msg_iovlen = 1;
    }
    return 0;
}

void dn_udp_close(dn_udp *u) {
    if (u->fd >= 0) close(u->fd);
    u->fd = -1;
    free(u->txm); free(u->txsegs); free(u->txiov); free(u->txcmsg); free(u->txaddr); free(u->seghdr);
    free(u->rxm); free(u->rxiov); free(u->rxcmsg); free(u->rxaddr); free(u->sealed);
    u->sealed = NULL; u->sealed_cap = 0; u->keys = NULL;
    u->txm = NULL; u->txsegs = NULL; u->txiov = NULL; u->txcmsg = NULL; u->txaddr = NULL; u->seghdr = NULL;
    u->rxm = NULL; u->rxiov = NULL; u->rxcmsg = NULL; u->rxaddr = NULL;
}

/* Sealed segments wait in one buffer until the sendmmsg that carries them: 2 MiB holds about 30
 * encrypted 64 KiB super-packets; a fuller batch is flushed early (one more sendmmsg). */
#define SEALED_CAP (2u << 20)

int dn_udp_set_keys(dn_udp *u, dn_keys *k) {
    if (k && !u->sealed) {
        u->sealed = malloc(SEALED_CAP);
        if (!u->sealed) return -ENOMEM;
        u->sealed_cap = SEALED_CAP;
    }
    u->keys = k;
    return 0;
}

/* ---------------- send ---------------- */
typedef struct { int k, iov, seg; } txpos;

/* Drop the source-address cmsg (always the last one msg_begin writes); 1 if there was one. */
static int strip_source(struct msghdr *h) {
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
        if ((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) ||
            (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO)) {
            h->msg_controllen = (size_t)((uint8_t *)cm - (uint8_t *)h->msg_control);
            if (!h->msg_controllen) h->msg_control = NULL;
            return 1;
        }
    }
    return 0;
}

static void tx_flush(dn_udp *u, txpos *t) {
    int off = 0, waited = 0;
    while (off < t->k) {
        int s = sendmmsg(u->fd, u->txm + off, (unsigned)(t->k - off), 0);
        st_add(u->stats, ST_UDP_SEND_CALLS, 1);
        if (s < 0) {
            int e = errno;
            if (e == EINTR) continue;
            if ((e == EAGAIN || e == ENOBUFS) && !waited) {
                /* back-pressure: wait briefly for room rather than drop a whole batch */
                struct pollfd p = { u->fd, POLLOUT, 0 };
                poll(&p, 1, 5);
                waited = 1;
                continue;
            }
            if (e == EAGAIN || e == ENOBUFS) {
                for (int i = off; i < t->k; i++) st_add(u->stats, ST_UDP_SEND_DROPS, u->txsegs[i]);
                break;
            }
            if ((e == EINVAL || e == ENETUNREACH || e == EADDRNOTAVAIL) && strip_source(&u->txm[off].msg_hdr)) {
                /* the chosen source RLOC is not (or no longer) a local address, e.g. a NAT's public
                 * address or an RLOC that roamed away: send it from whatever the route picks */
                st_add(u->stats, ST_SRC_FALLBACKS, 1);
                continue;
            }
            if (e == EIO && u->txsegs[off] > 1) {
                /* the egress device cannot do UDP GSO (e.g. no checksum offload): stop using it */
                u->offloads &= ~(unsigned)DN_OFF_UDP_GSO;
                st_add(u->stats, ST_GSO_FALLBACKS, 1);
            }
            st_add(u->stats, ST_UDP_SEND_DROPS, u->txsegs[off]);
            off++;
            continue;
        }
        for (int i = off; i < off + s; i++) {
            st_add(u->stats, ST_UDP_SENT_MSGS, 1);
            st_add(u->stats, ST_UDP_SENT_DGRAMS, u->txsegs[i]);
        }
        off += s;
        waited = 0;
    }
    t->k = t->iov = t->seg = 0;
    u->sealed_used = 0;
}

static int make_addr(const uint8_t *e, struct sockaddr_storage *ss, int family) {
    memset(ss, 0, sizeof(struct sockaddr_in6));
    if (e[0] != family) return -1;
    if (family == 6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        memcpy(&a->sin6_port, e + 2, 2);
        memcpy(&a->sin6_addr, e + 4, 16);
        return (int)sizeof *a;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    memcpy(&a->sin_port, e + 2, 2);
    memcpy(&a->sin_addr, e + 4, 4);
    return (int)sizeof *a;
}

/* start message t->k: destination, outer TTL/TOS (RFC 9300 §5.3: the ITR copies the inner
 * TTL and TOS to the outer header, so they vary per packet) and an optional GSO size */
static void msg_begin(dn_udp *u, txpos *t, const struct sockaddr_storage *dst, int alen, int32_t ttltos,
                      const uint8_t *src, int gso, int niov, int nseg) {
    struct msghdr *h = &u->txm[t->k].msg_hdr;
    memcpy(&u->txaddr[t->k], dst, (size_t)alen);
    h->msg_name = &u->txaddr[t->k];
    h->msg_namelen = (socklen_t)alen;
    h->msg_iov = &u->txiov[t->iov];
    h->msg_iovlen = (size_t)niov;
    h->msg_flags = 0;
    uint8_t *cb = u->txcmsg + (size_t)t->k * TX_CMSG_SPACE;
    size_t used = 0;
    h->msg_control = cb;
    h->msg_controllen = TX_CMSG_SPACE;
    struct cmsghdr *cm = CMSG_FIRSTHDR(h);
    int ttl = ttltos & 0xff, tos = (ttltos >> 8) & 0xff, settos = (ttltos >> 16) & 1;
    if (ttl == SOCK_TTL) ttl = 0;              /* the socket sends that already */
    if (settos && tos == SOCK_TOS) settos = 0;
    if (gso > 0) {
        cm->cmsg_level = SOL_UDP; cm->cmsg_type = UDP_SEGMENT; cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t g = (uint16_t)gso;
        memcpy(CMSG_DATA(cm), &g, sizeof g);
        used += CMSG_SPACE(sizeof(uint16_t));
        cm = (struct cmsghdr *)(cb + used);
    }
    if (ttl) {
        cm->cmsg_level = u->family == 6 ? IPPROTO_IPV6 : IPPROTO_IP;
        cm->cmsg_type = u->family == 6 ? IPV6_HOPLIMIT : IP_TTL;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &ttl, sizeof ttl);
        used += CMSG_SPACE(sizeof(int));
        cm = (struct cmsghdr *)(cb + used);
    }
    if (settos) {
        cm->cmsg_level = u->family == 6 ? IPPROTO_IPV6 : IPPROTO_IP;
        cm->cmsg_type = u->family == 6 ? IPV6_TCLASS : IP_TOS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &tos, sizeof tos);
        used += CMSG_SPACE(sizeof(int));
        cm = (struct cmsghdr *)(cb + used);
    }
    if (src) {
        /* outer source = the RLOC the data plane chose (multihoming, roaming), not the route's
         * preferred source (ip(7) IP_PKTINFO ipi_spec_dst, ipv6(7) IPV6_PKTINFO ipi6_addr;
         * ifindex 0: the route still picks the interface). Kept last: strip_source() cuts it. */
        if (u->family == 6) {
            struct in6_pktinfo pi;
            memset(&pi, 0, sizeof pi);
            memcpy(&pi.ipi6_addr, src + 4, 16);
            cm->cmsg_level = IPPROTO_IPV6; cm->cmsg_type = IPV6_PKTINFO; cm->cmsg_len = CMSG_LEN(sizeof pi);
            memcpy(CMSG_DATA(cm), &pi, sizeof pi);
            used += CMSG_SPACE(sizeof pi);
        } else {
            struct in_pktinfo pi;
            memset(&pi, 0, sizeof pi);
            memcpy(&pi.ipi_spec_dst, src + 4, 4);
            cm->cmsg_level = IPPROTO_IP; cm->cmsg_type = IP_PKTINFO; cm->cmsg_len = CMSG_LEN(sizeof pi);
            memcpy(CMSG_DATA(cm), &pi, sizeof pi);
            used += CMSG_SPACE(sizeof pi);
        }
    }
    h->msg_controllen = used;
    if (!used) h->msg_control = NULL;
    u->txsegs[t->k] = nseg;
    t->iov += niov;
    t->k++;
}

/* Split one TSO/USO super-packet p[0..len) into segments of `mss` payload bytes, grouped
 * into GSO messages of up to 64 segments. Each segment is [prefix][inner headers rebuilt in
 * scratch by dn_segment()] + a payload slice of the slot (scatter-gather: never copied). */
static int split(dn_udp *u, txpos *t, const uint8_t *prefix, size_t plen, uint8_t *p, size_t len, int mss,
                 uint32_t flags, const struct sockaddr_storage *dst, int alen, int32_t ttltos, const uint8_t *src,
                 const dn_tx_key *key, size_t shim) {
    dn_super s;
    if (dn_super_parse(p, len, mss, flags, &s) < 0 || plen + s.hl > DN_SEG_HDR_STRIDE) return -1;
    /* sealed (RFC 8061 §7): every segment is [LISP header][IV][ciphertext][ICV], so all but the
     * last still have one size, as UDP GSO needs */
    size_t segsz = key ? plen + dn_seal_overhead(key, s.hl + (size_t)mss) : plen + s.hl + (size_t)mss;
    size_t maxper = DN_MAX_UDP_PAYLOAD / segsz;
    if (maxper > DN_MAX_GSO_SEGS) maxper = DN_MAX_GSO_SEGS;
    if (!(u->offloads & DN_OFF_UDP_GSO)) maxper = 1;
    if (maxper < 1) return -1;
    size_t i = 0;
    while (i < s.nseg) {
        size_t cnt = s.nseg - i < maxper ? s.nseg - i : maxper;
        if (t->k + 1 > u->max_msgs || t->iov + 2 * (int)cnt > u->max_iov || t->seg + (int)cnt > u->max_seghdr ||
            (key && u->sealed_used + cnt * segsz > u->sealed_cap))
            tx_flush(u, t);
        struct iovec *iov = &u->txiov[t->iov];
        for (size_t j = 0; j < cnt; j++, i++) {
            uint8_t *h = u->seghdr + (size_t)(t->seg++) * DN_SEG_HDR_STRIDE;
            memcpy(h, prefix, plen);
            size_t poff, plen_i;
            dn_segment(&s, p, i, h + plen, &poff, &plen_i);
            if (key) {
                /* sealed out of place into the send buffer: the slot stays plaintext, and the
                 * segment leaves as one contiguous iovec */
                uint8_t *o = u->sealed + u->sealed_used;
                memcpy(o, prefix, plen);
                long n = dn_seal(key, o + shim, plen - shim, h + plen, s.hl, p + poff, plen_i);
                if (n < 0) return -1; /* only when OpenSSL fails: nothing of this message was queued */
                u->sealed_used += plen + (size_t)n;
                iov[j].iov_base = o;
                iov[j].iov_len = plen + (size_t)n;
                continue;
            }
            iov[2 * j].iov_base = h;
            iov[2 * j].iov_len = plen + s.hl;
            iov[2 * j + 1].iov_base = p + poff;
            iov[2 * j + 1].iov_len = plen_i;
        }
        int niov = key ? (int)cnt : 2 * (int)cnt;
        msg_begin(u, t, dst, alen, ttltos, src, cnt > 1 ? (int)segsz : 0, niov, (int)cnt);
    }
    return 0;
}

int dn_udp_send(dn_udp *u, uint8_t *data, size_t data_len, int32_t *desc, size_t slot, int count,
                const uint8_t *addrs, size_t naddrs, int *err) {
    txpos t = { 0, 0, 0 };
    double before = u->stats ? u->stats[ST_UDP_SENT_DGRAMS] : 0;
    struct sockaddr_storage dst;
    *err = 0;
    for (int i = 0; i < count; i++) {
        const int32_t *d = desc + (size_t)i * DN_DESC_STRIDE;
        int32_t ai = d[DN_ADDR];
        if (ai < 0) continue;
        if ((size_t)ai >= naddrs || d[DN_LEN] <= 0 || d[DN_OFF] < d[DN_HDR] || d[DN_HDR] < 0 || d[DN_HDR] > DN_MAX_PREFIX ||
            (size_t)d[DN_OFF] + (size_t)d[DN_LEN] > slot || (size_t)(i + 1) * slot > data_len) {
            st_add(u->stats, ST_BAD_PKTS, 1);
            continue;
        }
        int alen = make_addr(addrs + (size_t)ai * DN_ADDR_STRIDE, &dst, u->family);
        if (alen < 0) { st_add(u->stats, ST_BAD_PKTS, 1); continue; }
        /* AUX: 1 + source entry; 0 (or an unused entry) = the kernel chooses */
        const uint8_t *src = NULL;
        int32_t si = d[DN_AUX];
        if (si > 0) {
            if ((size_t)si > naddrs) { st_add(u->stats, ST_BAD_PKTS, 1); continue; }
            src = addrs + (size_t)(si - 1) * DN_ADDR_STRIDE;
            if (src[0] == 0) src = NULL;
            else if (src[0] != u->family) { st_add(u->stats, ST_BAD_PKTS, 1); continue; }
        }
        uint8_t *p = data + (size_t)i * slot + d[DN_OFF];
        size_t len = (size_t)d[DN_LEN], plen = (size_t)d[DN_HDR];
        uint32_t fl = (uint32_t)d[DN_FLAGS];
        dn_tx_key kbuf, *key = NULL;
        size_t shim = DN_SHIM_LEN(fl);
        if (d[DN_KEY] != 0) {
            /* no key under that set: dropped, counted in the set (tx_no_key); never sent in clear */
            if (!u->sealed || dn_tx_key_get(u->keys, d[DN_KEY], &kbuf) < 0) { st_add(u->stats, ST_UDP_SEND_DROPS, 1); continue; }
            if (plen < shim + 1) { st_add(u->stats, ST_BAD_PKTS, 1); continue; }
            key = &kbuf;
        }
        if ((fl & DN_F_GSO_ANY) && d[DN_GSO] > 0) {
            if (split(u, &t, p - plen, plen, p, len, d[DN_GSO], fl, &dst, alen, d[DN_TTLTOS], src, key, shim) < 0)
                st_add(u->stats, ST_BAD_PKTS, 1);
            continue;
        }
        if (key) {
            size_t need = plen + dn_seal_overhead(key, len);
            if (need > DN_MAX_UDP_PAYLOAD) { st_add(u->stats, ST_BAD_PKTS, 1); continue; }
            if (t.k + 1 > u->max_msgs || t.iov + 1 > u->max_iov || u->sealed_used + need > u->sealed_cap) tx_flush(u, &t);
            uint8_t *o = u->sealed + u->sealed_used;
            memcpy(o, p - plen, plen);
            /* a relay shim (DN_SHIM_LEN) stays clear in front of the sealed LISP header */
            long n = dn_seal(key, o + shim, plen - shim, p, len, NULL, 0);
            if (n < 0) { st_add(u->stats, ST_BAD_PKTS, 1); continue; }
            u->sealed_used += plen + (size_t)n;
            u->txiov[t.iov].iov_base = o;
            u->txiov[t.iov].iov_len = plen + (size_t)n;
            msg_begin(u, &t, &dst, alen, d[DN_TTLTOS], src, 0, 1, 1);
            continue;
        }
        /* no super-packet flag but a GSO size: the slot is one buffer of equal-sized datagrams
         * (plain UDP GSO, e.g. a traffic generator); needs the socket's GSO */
        int gso = 0, nseg = 1;
        size_t total = len + plen;
        if (d[DN_GSO] > 0 && (size_t)d[DN_GSO] < total && (u->offloads & DN_OFF_UDP_GSO)) {
            gso = d[DN_GSO];
            nseg = (int)((total + (size_t)gso - 1) / (size_t)gso);
            if (nseg > DN_MAX_GSO_SEGS || total > DN_MAX_UDP_PAYLOAD) { st_add(u->stats, ST_BAD_PKTS, 1); continue; }
        }
        if (t.k + 1 > u->max_msgs || t.iov + 1 > u->max_iov) tx_flush(u, &t);
        u->txiov[t.iov].iov_base = p - plen;
        u->txiov[t.iov].iov_len = total;
        msg_begin(u, &t, &dst, alen, d[DN_TTLTOS], src, gso, 1, nseg);
    }
    tx_flush(u, &t); /* the caller reuses the slots after we return */
    return u->stats ? (int)(u->stats[ST_UDP_SENT_DGRAMS] - before) : 0;
}

/* ---------------- receive ---------------- */
static void put_addr(uint8_t *e, int family, const void *addr, uint16_t port_be) {
    memset(e, 0, DN_ADDR_STRIDE);
    e[0] = (uint8_t)family;
    memcpy(e + 2, &port_be, 2);
    memcpy(e + 4, addr, family == 6 ? 16 : 4);
}

int dn_udp_recv(dn_udp *u, uint8_t *data, size_t data_len, int32_t *desc, size_t slot, size_t headroom,
                int max, uint8_t *src, uint8_t *dst, int *err) {
    *err = 0;
    if (max > u->rx_max) max = u->rx_max;
    if ((size_t)max * slot > data_len) max = (int)(data_len / slot);
    if (max <= 0 || headroom >= slot) return 0;
    for (int i = 0; i < max; i++) {
        struct msghdr *h = &u->rxm[i].msg_hdr;
        u->rxiov[i].iov_base = data + (size_t)i * slot + headroom;
        u->rxiov[i].iov_len = slot - headroom;
        h->msg_name = &u->rxaddr[i];
        h->msg_namelen = sizeof u->rxaddr[i];
        h->msg_control = u->rxcmsg + (size_t)i * RX_CMSG_SPACE;
        h->msg_controllen = RX_CMSG_SPACE;
        h->msg_flags = 0;
    }
    int n = recvmmsg(u->fd, u->rxm, (unsigned)max, MSG_DONTWAIT, NULL);
    st_add(u->stats, ST_UDP_RECV_CALLS, 1);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) *err = errno;
        return 0;
    }
    uint16_t lport = htons(u->local_port);
    for (int i = 0; i < n; i++) {
        struct msghdr *h = &u->rxm[i].msg_hdr;
        int32_t *d = desc + (size_t)i * DN_DESC_STRIDE;
        memset(d, 0, DN_DESC_STRIDE * sizeof *d);
        int len = (int)u->rxm[i].msg_len, gso = 0, ttl = 0, tos = -1;
        uint8_t *se = src + (size_t)i * DN_ADDR_STRIDE, *de = dst + (size_t)i * DN_ADDR_STRIDE;
        memset(de, 0, DN_ADDR_STRIDE);
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
            if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
                int g; memcpy(&g, CMSG_DATA(cm), sizeof g);
                if (g > 0 && g < len) gso = g;
            } else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
                struct in_pktinfo pi; memcpy(&pi, CMSG_DATA(cm), sizeof pi);
                put_addr(de, 4, &pi.ipi_addr, lport); /* header destination address */
            } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
                struct in6_pktinfo pi; memcpy(&pi, CMSG_DATA(cm), sizeof pi);
                put_addr(de, 6, &pi.ipi6_addr, lport);
            } else if ((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TTL) ||
                       (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_HOPLIMIT)) {
                int v; memcpy(&v, CMSG_DATA(cm), sizeof v);
                ttl = v & 0xff;
            } else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TOS) {
                tos = *(const uint8_t *)CMSG_DATA(cm); /* one byte on receive (ip(7)), an int on send */
            } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_TCLASS) {
                int v; memcpy(&v, CMSG_DATA(cm), sizeof v);
                tos = v & 0xff;
            }
        }
        if (u->rxaddr[i].ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&u->rxaddr[i];
            put_addr(se, 6, &a->sin6_addr, a->sin6_port);
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&u->rxaddr[i];
            put_addr(se, 4, &a->sin_addr, a->sin_port);
        }
        d[DN_LEN] = len;
        d[DN_OFF] = (int32_t)headroom;
        d[DN_ADDR] = 0;
        d[DN_GSO] = gso;
        d[DN_TTLTOS] = ttl | (tos >= 0 ? (tos << 8) | 0x10000 : 0);
        d[DN_FLAGS] = (h->msg_flags & MSG_TRUNC) ? DN_F_TRUNC : 0;
        st_add(u->stats, ST_UDP_RECV_MSGS, 1);
        st_add(u->stats, ST_UDP_RECV_DGRAMS, gso ? (len + gso - 1) / gso : 1);
    }
    return n;
}
