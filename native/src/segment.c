/* segment.c - split a TSO/USO super-packet into wire-sized segments (transmit side).
 *
 * The rewrite follows what the kernel's own GSO does (net/ipv4/tcp_offload.c
 * tcp_gso_segment, net/ipv4/udp_offload.c, inet_gso_segment / ipv6_gso_segment): every
 * segment gets the super-packet's IP and L4 header with its own lengths; TCP sequence numbers
 * advance by the payload already sent, FIN and PSH stay only on the last segment and CWR only
 * on the first; IPv4 IDs increment; IP, TCP and UDP checksums are computed in full (the
 * super-packet arrives with only a partial, pseudo-header checksum). Pure functions: no I/O. */
#define _GNU_SOURCE
#include "dn.h"
#include "csum.h"
#include <netinet/in.h>
#include <string.h>

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

int dn_super_parse(const uint8_t *p, size_t len, int mss, uint32_t flags, dn_super *s) {
    memset(s, 0, sizeof *s);
    if (len < 20 || mss <= 0) return -1;
    int proto;
    s->v4 = (p[0] >> 4) == 4;
    if (s->v4) { s->iphl = (size_t)(p[0] & 0xf) * 4; proto = p[9]; if (s->iphl < 20) return -1; }
    else if ((p[0] >> 4) == 6) { s->iphl = 40; proto = p[6]; } /* extension headers: not split, dropped */
    else return -1;
    s->udp = proto == IPPROTO_UDP;
    if (!s->udp && proto != IPPROTO_TCP) return -1;
    if (s->udp != ((flags & DN_F_GSO_UDP) != 0)) return -1;
    if (len < s->iphl + (s->udp ? 8 : 20)) return -1;
    s->l4hl = s->udp ? 8 : (size_t)(p[s->iphl + 12] >> 4) * 4;
    s->hl = s->iphl + s->l4hl;
    if (s->l4hl < 8 || len < s->hl) return -1;
    s->mss = (size_t)mss;
    s->pay = len - s->hl;
    s->nseg = s->pay ? (s->pay + s->mss - 1) / s->mss : 1;
    s->id0 = s->v4 ? get16(p + 4) : 0;
    s->seq0 = s->udp ? 0 : get32(p + s->iphl + 4);
    s->f0 = s->udp ? 0 : p[s->iphl + 13];
    return 0;
}

void dn_segment(const dn_super *s, const uint8_t *p, size_t i, uint8_t *out, size_t *pay_off, size_t *pay_len) {
    size_t off = i * s->mss;
    size_t sl = s->pay - off < s->mss ? s->pay - off : s->mss;
    uint8_t *ip = out, *l4 = out + s->iphl;
    memcpy(out, p, s->hl);
    uint32_t l4len = (uint32_t)(s->l4hl + sl);
    if (s->v4) {
        put16(ip + 2, (uint16_t)(s->iphl + l4len));
        put16(ip + 4, (uint16_t)(s->id0 + i));
        ip4_set_csum(ip, s->iphl);
    } else {
        put16(ip + 4, (uint16_t)l4len); /* payload length: no extension headers here */
    }
    const uint8_t *payload = p + s->hl + off;
    uint16_t ck;
    if (s->udp) {
        put16(l4 + 4, (uint16_t)l4len);
        l4[6] = l4[7] = 0;
        ck = (uint16_t)~csum_fold(csum_add(payload, sl, csum_add(l4, 8, csum_pseudo(ip, IPPROTO_UDP, l4len))));
        if (ck == 0) ck = 0xffff; /* RFC 768: a computed 0 is sent as all ones */
        memcpy(l4 + 6, &ck, 2);
    } else {
        put32(l4 + 4, s->seq0 + (uint32_t)off);
        uint8_t f = s->f0;
        if (i != s->nseg - 1) f &= (uint8_t)~(TCP_FIN | TCP_PSH);
        if (i > 0) f &= (uint8_t)~TCP_CWR;
        l4[13] = f;
        l4[16] = l4[17] = 0;
        ck = (uint16_t)~csum_fold(csum_add(payload, sl, csum_add(l4, s->l4hl, csum_pseudo(ip, IPPROTO_TCP, l4len))));
        memcpy(l4 + 16, &ck, 2);
    }
    *pay_off = s->hl + off;
    *pay_len = sl;
}
