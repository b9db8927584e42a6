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

void dn_tun_write_one(dn_tun *t, uint8_t *pkt, size_t len) {
    static const uint8_t zero[DN_VNET_LEN];
    struct iovec iov[2] = { { (void *)zero, DN_VNET_LEN }, { pkt, len } };
    ssize_t r = t->vnet ? writev(t->fd, iov, 2) : write(t->fd, pkt, len);
    st_add(t->stats, ST_TUN_WRITES, 1);
    if (r < 0) st_add(t->stats, ST_TUN_ERRORS, 1);
    else st_add(t->stats, ST_TUN_WRITE_PKTS, 1);
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
        int32_t key = d[DN_KEY];
        if (key != 0 && (!t->keys || strip < 1)) { st_add(t->stats, ST_BAD_PKTS, 1); continue; }
        for (size_t o = 0; o < len; o += seg) {
            size_t sl = len - o < seg ? len - o : seg;
            if (sl <= strip) { st_add(t->stats, ST_BAD_PKTS, 1); continue; }
            uint8_t *inner = p + o + strip;
            size_t il = sl - strip;
            if (key != 0) {
                /* RFC 8061 §7: verify and decrypt each datagram of the GRO message on its own, in
                 * place, before it can join a coalesced write; a failure drops only this one */
                long n = dn_open(t->keys, key, p + o, sl, strip, &inner);
                if (n <= 0) continue;
                il = (size_t)n;
            } else if (d[DN_FLAGS] & DN_F_OPENED) {
                /* opened by dn_keys_open_batch: the inner packet is followed by what the IV and
                 * ICV left; its own length says where it ends */
                long n = -1;
                if (il >= 20 && (inner[0] >> 4) == 4) n = (long)(inner[2] << 8 | inner[3]);
                else if (il >= 40 && (inner[0] >> 4) == 6) n = (long)(inner[4] << 8 | inner[5]) + 40;
                if (n <= 0 || (size_t)n > il) { st_add(t->stats, ST_BAD_PKTS, 1); continue; }
                il = (size_t)n;
            }
            if (coalesce) dn_coalesce(t, inner, il);
            else dn_tun_write_one(t, inner, il);
        }
    }
    dn_coalesce_flush(t); /* the slots are reused by the next receive batch */
    return t->stats ? (int)(t->stats[ST_TUN_WRITE_PKTS] - before) : 0;
}
