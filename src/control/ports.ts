// The LISP ports (RFC 9301 §5, RFC 9300 §5.1) and the instance-id that marks head-end replicated
// control packets in a LISP-Decent group (RFC 9962 §4.2), under the names the control plane uses;
// defined once in the wire layer.
export { LISP_CONTROL_PORT as CONTROL_PORT, LISP_DATA_PORT as DATA_PORT, HER_INSTANCE_ID as HER_IID } from '../wire/constants';
