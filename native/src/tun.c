/* tun.c - TUN device: open with offloads, batched read (super-packets) and batched,
 * coalescing write.
 *
 * Offloads follow Documentation/networking/tuntap.rst and include/uapi/linux/if_tun.h:
 * with IFF_VNET_HDR every read/write carries a struct virtio_net_hdr (10 bytes, host
 * byte order for a TUN that never set TUNSETVNETLE/BE), and TUNSETOFFLOAD tells the kernel
 * which GSO super-packets we accept (TSO4/TSO6, USO4/USO6 since Linux 6.2).
 */
#define _GNU_SOURCE
#include "dn.h"
#include "csum.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_CWR 0x80

static unsigned tun_flags_for(unsigned off) {
    unsigned f = 0;
    if (off & (DN_OFF_TSO4 | DN_OFF_TSO6 | DN_OFF_USO4 | DN_OFF_USO6)) f |= TUN_F_CSUM;
    if (off & DN_OFF_TSO4) f |= TUN_F_TSO4;
    if (off & DN_OFF_TSO6) f |= TUN_F_TSO6;
    if (off & DN_OFF_USO4) f |= TUN_F_USO4;
    if (off & DN_OFF_USO6) f |= TUN_F_USO6;
    return f;
}

int dn_tun_open(dn_tun *t, const char *name, int multi_queue, unsigned want, char *out_name,
                int *ifindex, const char **stage) {
    memset(t, 0, sizeof *t);
    t->fd = -1;
    *stage = "open /dev/net/tun";
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    if (multi_queue) ifr.ifr_flags |= IFF_MULTI_QUEUE;
    if (want & DN_OFF_VNET) ifr.ifr_flags |= IFF_VNET_HDR;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    *stage = "TUNSETIFF";
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) { int e = errno; close(fd); return -e; }
    t->fd = fd;
    t->vnet = (want & DN_OFF_VNET) != 0;
    unsigned got = t->vnet ? DN_OFF_VNET : 0;
    if (t->vnet) {
        /* Ask for everything requested; kernels before 6.2 reject the USO bits with EINVAL,
         * so retry without them, then without TSO (the vnet header stays, GSO_NONE only). */
        unsigned tries[3] = { want, want & ~(unsigned)(DN_OFF_USO4 | DN_OFF_USO6), 0 };
        for (int i = 0; i < 3; i++) {
            if (ioctl(fd, TUNSETOFFLOAD, tun_flags_for(tries[i])) == 0) {
                got |= tries[i] & (DN_OFF_TSO4 | DN_OFF_TSO6 | DN_OFF_USO4 | DN_OFF_USO6);
                break;
            }
        }
        got |= want & DN_OFF_COALESCE;
    }
    t->offloads = got;
    snprintf(out_name, IFNAMSIZ, "%s", ifr.ifr_name);
    *stage = "SIOCGIFINDEX";
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) { int e = errno; dn_tun_close(t); return -e; }
    if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) { int e = errno; close(s); dn_tun_close(t); return -e; }
    close(s);
    *ifindex = ifr.ifr_ifindex;
    return 0;
}

void dn_tun_close(dn_tun *t) {
    if (t->fd >= 0) close(t->fd); /* a non-persistent TUN disappears with its last fd */
    t->fd = -1;
}

static inline void st_add(double *st, int i, double v) { if (st) st[i] += v; }

/* Finish a checksum the kernel left to us (VIRTIO_NET_HDR_F_NEEDS_CSUM: the field at
 * csum_start + csum_offset holds the pseudo-header sum; virtio spec §5.1.6.2). */
static int finish_csum(uint8_t *p, size_t len, const struct virtio_net_hdr *v) {
    size_t cs = v->csum_start, co = v->csum_offset;
    if (cs + co + 2 > len) return -1;
    uint16_t ck = (uint16_t)~csum_fold(csum_add(p + cs, len - cs, 0));
    if (ck == 0 && co == 6) ck = 0xffff; /* UDP: 0 means "no checksum" (RFC 768) */
    memcpy(p + cs + co, &ck, 2);
    return 0;
}

int dn_tun_read(dn_tun *t, uint8_t *data, size_t data_len, int32_t *desc, size_t slot, size_t headroom,
                int max, int *err) {
    size_t pre = t->vnet ? DN_VNET_LEN : 0;
    int n = 0;
    *err = 0;
    if ((size_t)max * slot > data_len) max = (int)(data_len / slot);
    /* bounded: unusable packets are skipped but still count against the budget */
    for (int tries = 0; n < max && tries < 2 * max; tries++) {
        uint8_t *s = data + (size_t)n * slot;
        ssize_t r = read(t->fd, s + headroom - pre, slot - headroom + pre);
        if (r < 0) {
            if (errno != EAGAIN && errno != EINTR) { *err = errno; st_add(t->stats, ST_TUN_ERRORS, 1); }
            break;
        }
        st_add(t->stats, ST_TUN_READS, 1);
        st_add(t->stats, ST_TUN_READ_BYTES, (double)r);
        if ((size_t)r <= pre) continue;
        uint8_t *p = s + headroom;
        size_t len = (size_t)r - pre;
        uint32_t flags = 0;
        int gso = 0;
        if (t->vnet) {
            struct virtio_net_hdr v;
            memcpy(&v, s + headroom - pre, sizeof v);
            uint8_t gt = v.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
            if (v.gso_type & VIRTIO_NET_HDR_GSO_ECN) flags |= DN_F_ECN;
            if (gt == VIRTIO_NET_HDR_GSO_NONE) {
                if ((v.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && finish_csum(p, len, &v) == 0) flags |= DN_F_CSUM_DONE;
            } else {
                gso = v.gso_size;
                if (gt == VIRTIO_NET_HDR_GSO_TCPV4) flags |= DN_F_GSO_TCP4;
                else if (gt == VIRTIO_NET_HDR_GSO_TCPV6) flags |= DN_F_GSO_TCP6;
                else if (gt == VIRTIO_NET_HDR_GSO_UDP_L4) flags |= DN_F_GSO_UDP;
                else { st_add(t->stats, ST_BAD_PKTS, 1); continue; }
            }
        }
        int32_t *d = desc + (size_t)n * DN_DESC_STRIDE;
        memset(d, 0, DN_DESC_STRIDE * sizeof *d);
        d[DN_LEN] = (int32_t)len;
        d[DN_OFF] = (int32_t)headroom;
        d[DN_ADDR] = -1;
        d[DN_FLAGS] = (int32_t)flags;
        d[DN_GSO] = gso;
        n++;
    }
    return n;
}

/* ---------------- coalescing write (receive side of the tunnel) ----------------
 * In-order segments of one TCP flow (or equal-sized datagrams of one UDP flow) become
 * one GSO write, as Linux GRO would have built them (net/ipv4/tcp_offload.c
 * tcp_gro_receive: same addresses, ports, ack, window and options, contiguous seq,
 * no flags besides ACK/PSH, all segments mss-sized but the last). The result is handed
 * over as CHECKSUM_PARTIAL, which the kernel does not verify again, so each segment's
 * checksum is verified first (wireguard-go tun/offload_linux.go does the same). */

static void write_plain(dn_tun *t, uint8_t *pkt, size_t len) {
    static const uint8_t zero[DN_VNET_LEN];
    struct iovec iov[2] = { { (void *)zero, DN_VNET_LEN }, { pkt, len } };
    ssize_t r = t->vnet ? writev(t->fd, iov, 2) : write(t->fd, pkt, len);
    st_add(t->stats, ST_TUN_WRITES, 1);
    if (r < 0) st_add(t->stats, ST_TUN_ERRORS, 1);
    else st_add(t->stats, ST_TUN_WRITE_PKTS, 1);
}

static void run_flush(dn_tun *t) {
    dn_run *run = &t->run;
    if (!run->open) return;
    run->open = 0;
    uint8_t *ip = run->hdr + DN_VNET_LEN;
    struct virtio_net_hdr v;
    memset(&v, 0, sizeof v);
    if (run->nseg > 1) {
        int udp = run->kind & 0x10, v4 = (run->kind & 0xf) == 4;
        uint32_t l4len = (uint32_t)(run->l4hl + run->paylen);
        if (v4) { put16(ip + 2, (uint16_t)(run->iphl + l4len)); ip4_set_csum(ip, (size_t)run->iphl); }
        else put16(ip + 4, (uint16_t)l4len);
        uint8_t *l4 = ip + run->iphl;
        if (udp) put16(l4 + 4, (uint16_t)l4len);
        uint16_t ps = csum_fold(csum_pseudo(ip, udp ? IPPROTO_UDP : IPPROTO_TCP, l4len));
        memcpy(l4 + (udp ? 6 : 16), &ps, 2); /* CHECKSUM_PARTIAL: the pseudo-header sum, not inverted */
        v.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        v.gso_type = udp ? VIRTIO_NET_HDR_GSO_UDP_L4 : (v4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6);
        v.hdr_len = (uint16_t)(run->iphl + run->l4hl);
        v.gso_size = (uint16_t)run->mss;
        v.csum_start = (uint16_t)run->iphl;
        v.csum_offset = (uint16_t)(udp ? 6 : 16);
        st_add(t->stats, ST_TUN_COALESCED, 1);
    }
    memcpy(run->hdr, &v, DN_VNET_LEN);
    ssize_t r = writev(t->fd, run->iov, run->niov);
    st_add(t->stats, ST_TUN_WRITES, 1);
    if (r < 0) st_add(t->stats, ST_TUN_ERRORS, 1);
    else st_add(t->stats, ST_TUN_WRITE_PKTS, run->nseg);
}

/* Parse one inner packet for coalescing; returns kind (4, 6, 0x14, 0x16) or 0. */
static int classify(dn_tun *t, const uint8_t *ip, size_t len, int *iphl, int *l4hl) {
    if (len < 28) return 0;
    int ver = ip[0] >> 4, proto;
    size_t hl;
    if (ver == 4) {
        hl = (size_t)(ip[0] & 0xf) * 4;
        /* no options (keeps header comparison simple), no fragments, exact length */
        if (hl != 20 || get16(ip + 2) != len || (get16(ip + 6) & 0x3fff) != 0) return 0;
        if (csum_fold(csum_add(ip, 20, 0)) != 0xffff) return 0;
        proto = ip[9];
    } else if (ver == 6) {
        hl = 40;
        if (len < 48 || (size_t)get16(ip + 4) + 40 != len) return 0;
        proto = ip[6]; /* extension headers are not coalesced */
    } else return 0;
    if (proto == IPPROTO_TCP) {
        if (!(t->offloads & (ver == 4 ? DN_OFF_TSO4 : DN_OFF_TSO6))) return 0;
        if (len < hl + 20) return 0;
        size_t thl = (size_t)(ip[hl + 12] >> 4) * 4;
        if (thl < 20 || len < hl + thl) return 0;
        *iphl = (int)hl; *l4hl = (int)thl;
        return ver;
    }
    if (proto == IPPROTO_UDP) {
        if (!(t->offloads & (ver == 4 ? DN_OFF_USO4 : DN_OFF_USO6))) return 0;
        if (len < hl + 8 || get16(ip + hl + 4) != len - hl) return 0;
        *iphl = (int)hl; *l4hl = 8;
        return 0x10 | ver;
    }
    return 0;
}

static int l4_csum_ok(const uint8_t *ip, size_t len, int iphl, int udp) {
    const uint8_t *l4 = ip + iphl;
    if (udp && (ip[0] >> 4) == 4 && l4[6] == 0 && l4[7] == 0) return 1; /* IPv4 UDP: checksum optional (RFC 768) */
    uint32_t l4len = (uint32_t)(len - (size_t)iphl);
    uint64_t s = csum_add(l4, l4len, csum_pseudo(ip, udp ? IPPROTO_UDP : IPPROTO_TCP, l4len));
    return csum_fold(s) == 0xffff;
}

static void coalesce_one(dn_tun *t, uint8_t *ip, size_t len) {
    dn_run *run = &t->run;
    int iphl = 0, l4hl = 0;
    int kind = classify(t, ip, len, &iphl, &l4hl);
    int pay = (int)len - iphl - l4hl;
    if (!kind || pay <= 0) { run_flush(t); write_plain(t, ip, len); return; }
    int udp = kind & 0x10;
    uint8_t *l4 = ip + iphl;
    uint8_t fl = udp ? 0 : l4[13];
    if (!udp && ((fl & (uint8_t)~(TCP_ACK | TCP_PSH)) != 0 || !(fl & TCP_ACK))) { run_flush(t); write_plain(t, ip, len); return; }
    if (!l4_csum_ok(ip, len, iphl, udp)) {
        st_add(t->stats, ST_CSUM_BAD, 1);
        run_flush(t); write_plain(t, ip, len); /* the kernel checks and drops it */
        return;
    }
    if (run->open && !run->closed && run->kind == kind && run->iphl == iphl && run->l4hl == l4hl &&
        pay <= run->mss && run->nseg < DN_MAX_GSO_SEGS &&
        run->iphl + run->l4hl + run->paylen + pay <= 65535) {
        const uint8_t *rip = run->hdr + DN_VNET_LEN, *rl4 = rip + iphl;
        int same;
        if ((kind & 0xf) == 4)
            same = memcmp(ip + 12, rip + 12, 8) == 0 && ip[1] == rip[1] && ip[8] == rip[8];   /* addrs, TOS, TTL */
        else
            same = memcmp(ip + 8, rip + 8, 32) == 0 && memcmp(ip, rip, 4) == 0 && ip[7] == rip[7]; /* + class/flow, hops */
        if (same && udp) same = memcmp(l4, rl4, 4) == 0;
        else if (same)
            same = memcmp(l4, rl4, 4) == 0 && get32(l4 + 4) == run->next_seq && memcmp(l4 + 8, rl4 + 8, 4) == 0 &&
                   memcmp(l4 + 14, rl4 + 14, 2) == 0 && memcmp(l4 + 20, rl4 + 20, (size_t)l4hl - 20) == 0;
        if (same) {
            run->iov[run->niov].iov_base = l4 + l4hl;
            run->iov[run->niov].iov_len = (size_t)pay;
            run->niov++; run->nseg++;
            run->paylen += pay;
            run->next_seq += (uint32_t)pay;
            if (pay < run->mss) run->closed = 1; /* only the last segment may be short */
            if (!udp && (fl & TCP_PSH)) { run->closed = 1; run->hdr[DN_VNET_LEN + iphl + 13] |= TCP_PSH; }
            return;
        }
    }
    run_flush(t);
    run->open = 1;
    run->closed = !udp && (fl & TCP_PSH);
    run->nseg = 1; run->kind = kind; run->iphl = iphl; run->l4hl = l4hl;
    run->mss = pay; run->paylen = pay;
    run->next_seq = udp ? 0 : get32(l4 + 4) + (uint32_t)pay;
    memcpy(run->hdr + DN_VNET_LEN, ip, (size_t)(iphl + l4hl));
    run->iov[0].iov_base = run->hdr; run->iov[0].iov_len = DN_VNET_LEN + (size_t)(iphl + l4hl);
    run->iov[1].iov_base = l4 + l4hl; run->iov[1].iov_len = (size_t)pay;
    run->niov = 2;
}

int dn_tun_write(dn_tun *t, uint8_t *data, size_t data_len, int32_t *desc, size_t slot, int count, int *err) {
    int coalesce = t->vnet && (t->offloads & DN_OFF_COALESCE);
    double before = t->stats ? t->stats[ST_TUN_WRITE_PKTS] : 0;
    *err = 0;
    for (int i = 0; i < count; i++) {
        const int32_t *d = desc + (size_t)i * DN_DESC_STRIDE;
        if (d[DN_ADDR] < 0 || d[DN_LEN] <= 0 || d[DN_OFF] < 0 || d[DN_HDR] < 0) continue;
        size_t off = (size_t)d[DN_OFF], len = (size_t)d[DN_LEN], strip = (size_t)d[DN_HDR];
        if (off + len > slot || (size_t)(i + 1) * slot > data_len) { st_add(t->stats, ST_BAD_PKTS, 1); continue; }
        uint8_t *p = data + (size_t)i * slot + off;
        size_t seg = d[DN_GSO] > 0 ? (size_t)d[DN_GSO] : len;
        for (size_t o = 0; o < len; o += seg) {
            size_t sl = len - o < seg ? len - o : seg;
            if (sl <= strip) { st_add(t->stats, ST_BAD_PKTS, 1); continue; }
            if (coalesce) coalesce_one(t, p + o + strip, sl - strip);
            else write_plain(t, p + o + strip, sl - strip);
        }
    }
    run_flush(t); /* the slots are reused by the next receive batch */
    return t->stats ? (int)(t->stats[ST_TUN_WRITE_PKTS] - before) : 0;
}
