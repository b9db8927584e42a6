/* coalesce.c - receive side of the tunnel: in-order segments of one TCP flow (or
 * equal-sized datagrams of one UDP flow) become one GSO write to the TUN, as Linux GRO
 * would have built them (net/ipv4/tcp_offload.c
 * tcp_gro_receive: same addresses, ports, ack, window and options, contiguous seq,
 * no flags besides ACK/PSH, all segments mss-sized but the last). The result is handed
 * over as CHECKSUM_PARTIAL, which the kernel does not verify again, so each segment's
 * checksum is verified first (wireguard-go tun/offload_linux.go does the same). */
#define _GNU_SOURCE
#include "dn.h"
#include "csum.h"
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define TCP_PSH 0x08
#define TCP_ACK 0x10

static inline void st_add(double *st, int i, double v) { if (st) st[i] += v; }

void dn_coalesce_flush(dn_tun *t) {
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

void dn_coalesce(dn_tun *t, uint8_t *ip, size_t len) {
    dn_run *run = &t->run;
    int iphl = 0, l4hl = 0;
    int kind = classify(t, ip, len, &iphl, &l4hl);
    int pay = (int)len - iphl - l4hl;
    if (!kind || pay <= 0) { dn_coalesce_flush(t); dn_tun_write_one(t, ip, len); return; }
    int udp = kind & 0x10;
    uint8_t *l4 = ip + iphl;
    uint8_t fl = udp ? 0 : l4[13];
    if (!udp && ((fl & (uint8_t)~(TCP_ACK | TCP_PSH)) != 0 || !(fl & TCP_ACK))) { dn_coalesce_flush(t); dn_tun_write_one(t, ip, len); return; }
    if (!l4_csum_ok(ip, len, iphl, udp)) {
        st_add(t->stats, ST_CSUM_BAD, 1);
        dn_coalesce_flush(t); dn_tun_write_one(t, ip, len); /* the kernel checks and drops it */
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
    dn_coalesce_flush(t);
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

