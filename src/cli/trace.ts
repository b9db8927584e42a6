// `decent trace`: live decode of the LISP packets on an interface, through libpcap (the `cap`
// package): the same output as `decent decode`, as packets arrive.
import { lispItems } from '../pcap/lisp';
import type { PcapFrame } from '../pcap/reader';
import { analyzeDatagram } from './decode-analyze';
import { datagramJson } from './decode-json';
import { datagramText } from './decode-text';
import { UsageError, flagOption, stringOption, type Command } from './command';

/** libpcap link-type names as `cap` reports them, to pcap LINKTYPE numbers. */
const LINK_TYPES: Record<string, number> = { NULL: 0, ETHERNET: 1, RAW: 101, LINKTYPE_LINUX_SLL: 113, LINUX_SLL: 113, IPV4: 228, IPV6: 229 };

export const traceCommand: Command = {
  name: 'trace',
  summary: 'decode the LISP packets on an interface as they pass',
  operands: '',
  minOperands: 0,
  maxOperands: 0,
  description: [
    'Captures UDP 4341 and 4342 on an interface (libpcap; needs root or CAP_NET_RAW) and prints',
    "each LISP datagram as 'decent decode' does, including the control message inside ECMs and",
    'head-end replicated packets. Stops after --count datagrams, after --duration, or on Ctrl-C.',
  ].join('\n'),
  options: [
    { name: 'interface', short: 'i', type: 'string', placeholder: 'IF', description: "interface to capture on (default: 'any')" },
    { name: 'count', short: 'n', type: 'string', placeholder: 'N', description: 'stop after N LISP datagrams' },
    { name: 'duration', type: 'string', placeholder: 'SECONDS', description: 'stop after this many seconds' },
    { name: 'key', short: 'k', type: 'string', placeholder: 'PASSWORD', description: 'verify authentication with this password' },
    { name: 'json', type: 'boolean', description: 'one JSON object per line' },
  ],
  examples: ['trace -i eth0', 'trace -i eth0 --json --key decent-password -n 20', 'trace --duration 10'],
  async run(args, io) {
    const count = optionalInt(stringOption(args, 'count'), 'count');
    const duration = optionalInt(stringOption(args, 'duration'), 'duration');
    const device = stringOption(args, 'interface') ?? 'any';
    const key = stringOption(args, 'key');
    const json = flagOption(args, 'json');
    let CapClass: typeof import('cap').Cap;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      CapClass = (require('cap') as typeof import('cap')).Cap;
    } catch (e) {
      io.err(`decent trace: the 'cap' package is not available (${(e as Error).message}); install libpcap-dev and run npm ci\n`);
      return 1;
    }
    const cap = new CapClass();
    const buffer = Buffer.alloc(65535);
    let linkName: string;
    try {
      linkName = cap.open(device, 'udp port 4341 or udp port 4342', 16 * 1024 * 1024, buffer);
    } catch (e) {
      const msg = (e as Error).message;
      io.err(`decent trace: cannot capture on ${device}: ${msg}${/permission|not permitted/i.test(msg) ? ' (run as root or grant CAP_NET_RAW)' : ''}\n`);
      return 1;
    }
    const linkType = LINK_TYPES[linkName];
    if (linkType === undefined) {
      cap.close();
      io.err(`decent trace: link type ${linkName} of ${device} is not supported\n`);
      return 1;
    }
    cap.setMinBytes?.(0);
    let seen = 0;
    let frameNo = 0;
    const t0 = Date.now() / 1000;
    return new Promise<number>((resolve) => {
      const finish = (): void => {
        cap.close();
        process.removeListener('SIGINT', finish);
        resolve(0);
      };
      process.once('SIGINT', finish);
      if (duration !== undefined) setTimeout(finish, duration * 1000).unref();
      cap.on('packet', (nbytes: number) => {
        const now = Date.now() / 1000;
        const frame: PcapFrame = {
          number: ++frameNo, offset: 0, time: now, seconds: Math.floor(now), fraction: Math.round((now % 1) * 1e6),
          originalLength: nbytes, data: Buffer.from(buffer.subarray(0, nbytes)),
        };
        for (const item of lispItems(linkType, [frame])) {
          if (item.kind !== 'lisp') continue;
          const d = analyzeDatagram(item, now - t0, key);
          io.out(json ? datagramJson(d) : datagramText(d));
          if (count !== undefined && ++seen >= count) finish();
        }
      });
    });
  },
};

function optionalInt(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) === 0) throw new UsageError(`--${name} takes a positive whole number, got '${text}'`);
  return Number(text);
}
