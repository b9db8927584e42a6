// Turns the addon's system errors (code/errno/syscall) into messages that say what failed,
// why, and what to do about it.

export class NativeIoError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly syscall: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NativeIoError';
  }
}

interface SysError {
  code?: unknown;
  syscall?: unknown;
  message?: unknown;
}

function sysFields(e: unknown): { code: string; syscall: string; message: string } {
  const s = (typeof e === 'object' && e !== null ? e : {}) as SysError;
  return {
    code: typeof s.code === 'string' ? s.code : 'EUNKNOWN',
    syscall: typeof s.syscall === 'string' ? s.syscall : '',
    message: typeof s.message === 'string' ? s.message : String(e),
  };
}

const CAP_HINT = 'run as root or grant the capability with setcap (setcap cap_net_admin+ep "$(command -v node)")';

/** Explain a failure while opening or configuring a TUN device. */
export function tunError(e: unknown, what: string): Error {
  if (e instanceof TypeError || e instanceof RangeError) return e;
  const { code, syscall, message } = sysFields(e);
  let text: string;
  if (syscall === 'open /dev/net/tun' && code === 'ENOENT') {
    text = `${what}: /dev/net/tun does not exist: load the tun module (modprobe tun) or pass the device into the container`;
  } else if ((code === 'EPERM' || code === 'EACCES') && (syscall === 'open /dev/net/tun' || syscall === 'TUNSETIFF')) {
    text = `${what}: opening /dev/net/tun needs CAP_NET_ADMIN: ${CAP_HINT}`;
  } else if (code === 'EPERM' || code === 'EACCES') {
    text = `${what}: ${syscall} needs CAP_NET_ADMIN: ${CAP_HINT}`;
  } else if (syscall === 'setns') {
    text = `${what}: cannot enter the network namespace (${message}); does it exist (ip netns list) and do we have CAP_SYS_ADMIN?`;
  } else if (syscall === 'TUNSETIFF' && code === 'EBUSY') {
    text = `${what}: the device is already open by another process (only IFF_MULTI_QUEUE devices take several queues)`;
  } else if (syscall === 'TUNSETIFF' && code === 'EINVAL') {
    text = `${what}: the kernel refused the name or flags (${message}); an interface of another type may already use this name, or its multi-queue/vnet flags differ`;
  } else {
    text = `${what}: ${message}`;
  }
  return new NativeIoError(text, code, syscall, { cause: e });
}

/** Explain a failure while opening a UDP endpoint. */
export function udpError(e: unknown, what: string): Error {
  if (e instanceof TypeError || e instanceof RangeError) return e;
  const { code, syscall, message } = sysFields(e);
  let text: string;
  if (code === 'EADDRNOTAVAIL') text = `${what}: the address is not configured on any interface in this network namespace`;
  else if (code === 'EADDRINUSE') text = `${what}: the port is already in use by another socket`;
  else if (code === 'EACCES' || code === 'EPERM') text = `${what}: ${syscall} was refused (${message}); ports below 1024 need CAP_NET_BIND_SERVICE`;
  else if (syscall === 'setns') text = `${what}: cannot enter the network namespace (${message})`;
  else text = `${what}: ${message}`;
  return new NativeIoError(text, code, syscall, { cause: e });
}
