// `decent decode FILE.pcap [--key PASSWORD] [--json]`: list every LISP datagram of a capture.
import { readFileSync } from 'node:fs';
import { lispItems } from '../pcap/lisp';
import { PcapError, readPcapFrames, readPcapHeader, type PcapFrame } from '../pcap/reader';
import { flagOption, stringOption, type Command, type CommandArgs, type Io } from './command';
import { analyzeDatagram, innerPacketSummary } from './decode-analyze';
import { CaptureKeys, parsePrivateKeys } from './decode-crypto';
import { datagramJson } from './decode-json';
import { datagramText } from './decode-text';

export const decodeCommand: Command = {
  name: 'decode',
  summary: 'print the LISP datagrams of a pcap capture',
  operands: 'FILE.pcap',
  minOperands: 1,
  maxOperands: 1,
  description: `Prints every LISP datagram (UDP port 4341 or 4342 on either side) of a classic pcap
file: frame number, time since the first frame, addresses and ports, message type and
decoded fields. The control message inside an ECM, or inside a LISP data packet (head-end
replicated Map-Registers, instance-id 0xffffff), is decoded too.

Link types: Ethernet (with VLAN tags), Linux cooked (SLL, SLL2), raw IP, BSD loopback.
IP fragments are not reassembled; they are reported on standard error.

With --key, every control message that carries authentication is verified (for an ECM or a
replicated Map-Register: the inner message) and reported as auth ok, bad or none.

With --crypto-key, encrypted data packets (LISP-crypto, RFC 8061: KK bits set) are decrypted:
the key exchanges are read from the capture (a Map-Request whose ITR-RLOC carries a Security
Key LCAF, and the Map-Reply with its nonce), and an X25519 private key of either side derives
that direction's keys, by RFC 8061 or lispers.net's derivation. Each encrypted packet is
reported as decrypted (with its inner packet), ICV failed, or without a key.

--json prints one JSON object per datagram with frame, time, src, sport, dst, dport, length,
type (data, map-request, map-reply, map-register, map-notify, map-notify-ack, info-request,
info-reply, ecm), message, innerIp and inner (ECM / replicated control messages, the
Info-Request lispers sends to an RTR's data port), innerPacket (plain data), unknownType (a
control message type without a decoder: Map-Referral, shared extension, unassigned; printed
with its bytes, not an error), auth (with --key) and error. 64-bit and longer integers are
"0x…" strings, byte fields hex strings.

Exit status: 0 when every datagram decoded or is of an unknown type; 1 when one was
malformed (it is printed with the error and its byte offset, the others are still printed),
or when the file cannot be read or is not a valid pcap (the message names the file and the
offset); 2 for usage errors.`,
  options: [
    { name: 'key', type: 'string', short: 'k', placeholder: 'PASSWORD', description: 'verify authentication with this password' },
    { name: 'crypto-key', type: 'string', placeholder: 'HEX[,HEX]', description: 'X25519 private keys (64 hex digits each) to decrypt LISP-crypto data with' },
    { name: 'json', type: 'boolean', description: 'one JSON object per line instead of text' },
  ],
  examples: [
    'decode test/vectors/lispers-decent-her-startup.pcap',
    'decode capture.pcap --key decent-password',
    'decode test/vectors/next/lispers-crypto.pcap --crypto-key 6431323632356435363236653730663636666330313338306134356165303035',
    "decode capture.pcap --json --key decent-password | jq -c 'select(.auth == \"bad\")'",
  ],
  run: runDecode,
};

async function runDecode(args: CommandArgs, io: Io): Promise<number> {
  const file = args.positionals[0];
  const key = stringOption(args, 'key');
  const json = flagOption(args, 'json');
  const cryptoKeyText = stringOption(args, 'crypto-key');
  let captureKeys: CaptureKeys | undefined;
  if (cryptoKeyText !== undefined) {
    const parsed = parsePrivateKeys(cryptoKeyText);
    if (typeof parsed === 'string') {
      io.err(`decent decode: ${parsed}\n`);
      return 2;
    }
    captureKeys = new CaptureKeys(parsed);
  }
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : e instanceof Error ? e.message : String(e);
    io.err(`decent decode: ${file}: ${why}\n`);
    return 1;
  }

  let failed = 0;
  let firstTime: number | undefined;
  const timeOf = (frame: PcapFrame): number => {
    firstTime ??= frame.time;
    return frame.time - firstTime;
  };
  try {
    const header = readPcapHeader(bytes);
    // Times count from the first frame of the file, LISP or not, as tshark does.
    const frames = (function* timed(): Generator<PcapFrame> {
      for (const frame of readPcapFrames(bytes, header)) {
        timeOf(frame);
        yield frame;
      }
    })();
    for (const item of lispItems(header.linkType, frames)) {
      if (item.kind !== 'lisp') {
        io.err(`decent decode: ${file}: frame ${item.frame.number}: ${item.description}\n`);
        continue;
      }
      let decoded = analyzeDatagram(item, timeOf(item.frame), key);
      if (captureKeys) {
        captureKeys.learn(decoded);
        const x = captureKeys.open(decoded);
        if (x) {
          const innerPacket = x.inner ? innerPacketSummary(x.inner) : undefined;
          decoded = { ...decoded, decrypted: { verdict: x.verdict, suite: x.suite, variant: x.variant }, ...(innerPacket ? { innerPacket } : {}) };
        }
      }
      if (decoded.error) failed += 1;
      io.out(json ? datagramJson(decoded) : datagramText(decoded));
    }
  } catch (e) {
    if (e instanceof PcapError) {
      io.err(`decent decode: ${file}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  if (failed > 0) {
    io.err(`decent decode: ${file}: ${failed} datagram${failed === 1 ? '' : 's'} failed to decode\n`);
    return 1;
  }
  return 0;
}
