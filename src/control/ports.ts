// The LISP ports (RFC 9301 §5, RFC 9300 §5.1) and the instance-id that marks head-end replicated
// control packets in a LISP-Decent group (RFC 9962 §4.2), as the control plane imports them.
export const CONTROL_PORT = 4342;
export const DATA_PORT = 4341;
export const HER_IID = 0xffffff;
