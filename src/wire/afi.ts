/** Address Family Identifiers LISP uses (IANA; RFC 9301 §5, RFC 8060 §3). */
export const AFI_NONE = 0;
export const AFI_IPV4 = 1;
export const AFI_IPV6 = 2;
export const AFI_NAME = 17;
export const AFI_LCAF = 16387;

/** LCAF types (RFC 8060 §3, IANA "LISP Canonical Address Format (LCAF) Types"). */
export const LCAF_AFI_LIST = 1;
export const LCAF_INSTANCE_ID = 2;
export const LCAF_GEO = 5;
export const LCAF_NAT_TRAVERSAL = 7;
export const LCAF_MULTICAST_INFO = 9;
export const LCAF_SECURITY_KEY = 11;
export const LCAF_RLE = 13;
export const LCAF_JSON = 14;
