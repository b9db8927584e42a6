/* dn.h - decent native I/O: shared layout of the batch pools and the C entry points.
 *
 * A pool is one big byte buffer cut into fixed slots plus an Int32Array of descriptors,
 * DN_DESC_STRIDE int32 per slot, shared with JavaScript (src/native/layout.ts mirrors
 * these indexes; keep the two in sync). Nothing here allocates per packet: every array
 * below is sized once when a TUN or UDP handle is opened.
 */
#ifndef DECENT_DN_H
#define DECENT_DN_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include "crypto.h"

/* descriptor fields (int32 index within one slot's descriptor) */
enum {
    DN_LEN = 0,    /* packet bytes starting at OFF (TUN: inner packet; UDP rx: whole datagram) */
    DN_OFF = 1,    /* offset of the packet inside its slot */
    DN_ADDR = 2,   /* tx: index into the address table, < 0 = drop; TUN write: < 0 = skip */
    DN_TTLTOS = 3, /* tx: bits 0-7 outer TTL/hop limit (0 = socket default), 8-15 TOS/TCLASS, bit 16 = set TOS;
                    * UDP rx: bits 0-7 the received TTL/hop limit (0 = not reported), 8-15 TOS/TCLASS,
                    * bit 16 = TOS reported (IP_RECVTTL/IP_RECVTOS, IPV6_RECVHOPLIMIT/IPV6_RECVTCLASS; with
                    * UDP GRO every datagram of the message had these: the kernel only merges equal ones) */
    DN_FLAGS = 4,  /* DN_F_* */
    DN_GSO = 5,    /* TUN read: MSS of a super-packet; UDP rx: GRO segment size (0 = one datagram); tx: segment size */
    DN_HDR = 6,    /* UDP tx: prefix bytes before OFF repeated on every segment; TUN write: bytes stripped per segment */
    DN_AUX = 7,    /* UDP tx: 1 + index into the address table of the outer source address (IP_PKTINFO
                    * ipi_spec_dst / IPV6_PKTINFO ipi6_addr), 0 = the kernel chooses by route */
    DN_KEY = 8,    /* UDP tx / TUN write: key set index (crypto.h), 0 = clear. tx: every segment is sealed
                    * after the split; TUN write: every segment is verified and decrypted before
                    * coalescing, failures are dropped (counted per key) */
    DN_DESC_STRIDE = 9
};

/* DN_FLAGS bits */
enum {
    DN_F_GSO_TCP4 = 1u << 0,
    DN_F_GSO_TCP6 = 1u << 1,
    DN_F_GSO_UDP = 1u << 2,  /* USO (VIRTIO_NET_HDR_GSO_UDP_L4) */
    DN_F_ECN = 1u << 3,
    DN_F_CSUM_DONE = 1u << 4, /* we completed a NEEDS_CSUM checksum */
    DN_F_TRUNC = 1u << 5,     /* datagram truncated (MSG_TRUNC) */
    DN_F_SEG_KEYS = 1u << 7,  /* dn_keys_open_batch: each datagram j of slot i opens under seg_sets[i * DN_MAX_GSO_SEGS + j]
                               * (0: not opened, dropped), not under DN_KEY (a GRO message relayed from several ITRs) */
    DN_F_OPENED = 1u << 6     /* dn_keys_open_batch decrypted the slot: each datagram is LISP header ‖ inner
                               * packet ‖ leftover bytes; TUN write cuts each at the inner IP length */
};
#define DN_F_GSO_ANY (DN_F_GSO_TCP4 | DN_F_GSO_TCP6 | DN_F_GSO_UDP)
/* DN_FLAGS bits 16-23: bytes in front of each datagram's LISP header that LISP-crypto leaves
 * alone (the relay shim, src/wire/relay-shim.ts): UDP tx seals after them (they stay clear and
 * outside the associated data), dn_keys_open_batch opens after them. 0 = none. */
#define DN_F_SHIM_SHIFT 16
#define DN_F_SHIM_MASK 0xffu
#define DN_SHIM_LEN(flags) ((size_t)(((uint32_t)(flags) >> DN_F_SHIM_SHIFT) & DN_F_SHIM_MASK))

/* address table entry: [0] family 4|6 (0 unused), [1] 0, [2..3] port (network order), [4..19] address */
#define DN_ADDR_STRIDE 20

/* offload switches (bit mask shared with TS) */
enum {
    DN_OFF_VNET = 1u << 0, /* IFF_VNET_HDR */
    DN_OFF_TSO4 = 1u << 1,
    DN_OFF_TSO6 = 1u << 2,
    DN_OFF_USO4 = 1u << 3,
    DN_OFF_USO6 = 1u << 4,
    DN_OFF_UDP_GSO = 1u << 5, /* UDP_SEGMENT on the socket */
    DN_OFF_UDP_GRO = 1u << 6, /* UDP_GRO on the socket */
    DN_OFF_COALESCE = 1u << 7, /* coalesce segments into GSO writes to the TUN */
    DN_OFF_REUSEPORT = 1u << 8, /* SO_REUSEPORT on the socket */
    DN_OFF_FRAG = 1u << 9 /* IPv4: outer DF=0, the kernel may fragment (default DF=1) */
};

/* stats slots (Float64Array shared with TS, see STAT_NAMES in src/native/layout.ts) */
enum {
    ST_TUN_READS, ST_TUN_READ_BYTES, ST_TUN_WRITES, ST_TUN_WRITE_PKTS, ST_TUN_COALESCED,
    ST_TUN_ERRORS, ST_CSUM_BAD, ST_UDP_SEND_CALLS, ST_UDP_SENT_MSGS, ST_UDP_SENT_DGRAMS,
    ST_UDP_SEND_DROPS, ST_UDP_RECV_CALLS, ST_UDP_RECV_MSGS, ST_UDP_RECV_DGRAMS, ST_BAD_PKTS,
    ST_GSO_FALLBACKS, ST_SRC_FALLBACKS, ST_COUNT
};

#define DN_VNET_LEN 10           /* sizeof(struct virtio_net_hdr) */
#define DN_MAX_GSO_SEGS 64       /* UDP_MAX_SEGMENTS on older kernels */
#define DN_MAX_UDP_PAYLOAD 65000 /* below 65507 (IPv4) with room to spare */
#define DN_SEG_HDR_STRIDE 192    /* scratch per segment: prefix (<= 64) + IP (<= 60) + TCP (<= 60) */
#define DN_MAX_PREFIX 64

/* ---- TUN (tun.c) ---- */
typedef struct dn_run {
    int open, closed, nseg, kind; /* kind: 4|6 + 0x10 for UDP */
    int iphl, l4hl, mss, paylen;  /* paylen: total payload so far */
    uint32_t next_seq;
    int niov;
    uint8_t hdr[DN_VNET_LEN + 128];
    struct iovec iov[DN_MAX_GSO_SEGS + 2];
} dn_run;

typedef struct dn_tun {
    int fd;
    int vnet;          /* IFF_VNET_HDR in effect */
    unsigned offloads; /* DN_OFF_* actually in effect */
    double *stats;
    dn_keys *keys;     /* for DN_KEY != 0 slots (set by the addon, owned by JS) */
    dn_run run;
} dn_tun;

int dn_tun_open(dn_tun *t, const char *name, int multi_queue, unsigned want, char *out_name,
                int *ifindex, const char **stage);
void dn_tun_close(dn_tun *t);
int dn_tun_read(dn_tun *t, uint8_t *data, size_t data_len, int32_t *desc, size_t slot, size_t headroom,
                int max, int *err);
int dn_tun_write(dn_tun *t, uint8_t *data, size_t data_len, int32_t *desc, size_t slot, int count, int *err);

/* write one packet to the TUN (zero virtio_net_hdr in front when IFF_VNET_HDR is on) */
void dn_tun_write_one(dn_tun *t, uint8_t *pkt, size_t len);

/* ---- coalescing into GSO writes (coalesce.c) ---- */
void dn_coalesce(dn_tun *t, uint8_t *ip, size_t len);
void dn_coalesce_flush(dn_tun *t);

/* ---- super-packet segmentation (segment.c) ---- */
typedef struct dn_super {
    int v4, udp;
    size_t iphl, l4hl, hl, mss, pay, nseg;
    uint16_t id0;
    uint32_t seq0;
    uint8_t f0;
} dn_super;
int dn_super_parse(const uint8_t *p, size_t len, int mss, uint32_t flags, dn_super *s);
/* headers of segment i (s->hl bytes) into out; its payload is p[*pay_off, *pay_off + *pay_len) */
void dn_segment(const dn_super *s, const uint8_t *p, size_t i, uint8_t *out, size_t *pay_off, size_t *pay_len);

/* ---- UDP (udp.c) ---- */
typedef struct dn_udp {
    int fd, family;
    unsigned offloads; /* DN_OFF_UDP_GSO / DN_OFF_UDP_GRO in effect */
    double *stats;
    int max_msgs, max_iov, max_seghdr, rx_max;
    struct mmsghdr *txm;
    int *txsegs;
    struct iovec *txiov;
    uint8_t *txcmsg;
    struct sockaddr_storage *txaddr;
    uint8_t *seghdr;
    struct mmsghdr *rxm;
    struct iovec *rxiov;
    uint8_t *rxcmsg;
    struct sockaddr_storage *rxaddr;
    uint16_t local_port;
    dn_keys *keys;     /* for DN_KEY != 0 slots (set by the addon, owned by JS) */
    uint8_t *sealed;   /* sealed segments until the next flush (allocated when keys are attached) */
    size_t sealed_cap, sealed_used;
} dn_udp;

int dn_udp_open(dn_udp *u, int family, const uint8_t *addr, int port, int bufsize, unsigned want,
                int rx_max, const char **stage);
void dn_udp_close(dn_udp *u);
/* attach (or detach with NULL) a key table; 0 or -ENOMEM */
int dn_udp_set_keys(dn_udp *u, dn_keys *k);
int dn_udp_send(dn_udp *u, uint8_t *data, size_t data_len, int32_t *desc, size_t slot, int count,
                const uint8_t *addrs, size_t naddrs, int *err);
int dn_udp_recv(dn_udp *u, uint8_t *data, size_t data_len, int32_t *desc, size_t slot, size_t headroom,
                int max, uint8_t *src, uint8_t *dst, int *err);

/* ---- LISP-crypto over a received batch (crypto.c) ---- */
/* Open every datagram of slots [0, count) whose DN_KEY is set, in place: an opened datagram becomes
 * LISP header (KK cleared) ‖ inner packet ‖ leftover, a failed one keeps KK != 0 (KK = 3 if it
 * was 0) so that a decap path which drops K-bit datagrams drops it. Sets DN_F_OPENED, clears
 * DN_KEY. Returns the datagrams opened. */
int dn_keys_open_batch(dn_keys *k, uint8_t *data, size_t data_len, int32_t *desc, size_t slot, int count,
                       const int32_t *seg_sets, size_t seg_sets_len);
/* Seal, then seal + open, `count` segments of plain_len bytes with set `set`'s send key: out[0],
 * out[1] = CPU ns per seal and per open (scripts/bench-aead.ts). 0 or -1. */
int dn_keys_bench(dn_keys *k, int32_t set, size_t plain_len, int count, double out[2]);

/* ---- rtnetlink (rtnl.c) ---- */
int dn_rtnl_link(int ifindex, int mtu, int up);
int dn_rtnl_addr(int ifindex, int family, const uint8_t *addr, int plen);
int dn_rtnl_route(int add, int ifindex, int family, const uint8_t *dst, int plen, int metric);
int dn_ifindex(const char *name);

/* ---- network namespaces (netns.c) ---- */
int dn_netns_enter(const char *path, int *saved);
void dn_netns_leave(int saved);
#endif
