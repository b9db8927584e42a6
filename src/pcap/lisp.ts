// Picks the LISP datagrams out of a capture: UDP with 4341 (data) or 4342 (control) on either side.
import { parseFrame, type IpInfo, type UdpInfo } from './packet';
import type { PcapFile, PcapFrame } from './reader';
import { LISP_CONTROL_PORT, LISP_DATA_PORT } from '../wire/constants';

export type LispPlane = 'data' | 'control';

/**
 * Which plane a UDP datagram belongs to, or undefined when it is not LISP. The destination port
 * decides first: a Map-Reply goes 4342 → ephemeral, data goes ephemeral → 4341, and a datagram
 * between 4342 and 4341 (never seen) is taken as what its destination says.
 */
export function lispPlane(sourcePort: number, destinationPort: number): LispPlane | undefined {
  if (destinationPort === LISP_CONTROL_PORT) return 'control';
  if (destinationPort === LISP_DATA_PORT) return 'data';
  if (sourcePort === LISP_CONTROL_PORT) return 'control';
  if (sourcePort === LISP_DATA_PORT) return 'data';
  return undefined;
}

export interface LispDatagram {
  readonly kind: 'lisp';
  readonly frame: PcapFrame;
  readonly plane: LispPlane;
  readonly ip: IpInfo;
  readonly udp: UdpInfo;
  /** The UDP payload: a LISP control message or a LISP data packet. */
  readonly payload: Uint8Array;
}

/** A frame we could not look into far enough to tell whether it is LISP. */
export interface UnreadableFrame {
  readonly kind: 'fragment' | 'malformed';
  readonly frame: PcapFrame;
  /** Human description, e.g. "IPv4 fragment id 0x1234 offset 1480 (not reassembled)". */
  readonly description: string;
}

export type CaptureItem = LispDatagram | UnreadableFrame;

/**
 * LISP datagrams and unreadable frames of a capture, in frame order; everything else is skipped.
 * Takes an iterable so that a caller streaming `readPcapFrames` sees the good frames before a
 * truncated tail throws.
 */
export function* lispItems(linkType: number, frames: Iterable<PcapFrame>): Generator<CaptureItem> {
  for (const frame of frames) {
    const content = parseFrame(linkType, frame.data);
    switch (content.kind) {
      case 'udp': {
        const plane = lispPlane(content.udp.sourcePort, content.udp.destinationPort);
        if (plane) yield { kind: 'lisp', frame, plane, ip: content.ip, udp: content.udp, payload: content.payload };
        break;
      }
      case 'fragment': {
        if (content.ip.protocol !== 17) break;
        const { ip } = content;
        yield {
          kind: 'fragment',
          frame,
          description: `IPv${ip.version} fragment of a UDP datagram ${ip.source} -> ${ip.destination}, `
            + `id 0x${content.identification.toString(16)}, offset ${content.fragmentOffset}`
            + `${content.moreFragments ? ', more follow' : ''}: not reassembled`,
        };
        break;
      }
      case 'malformed':
        yield { kind: 'malformed', frame, description: `${content.reason} (at frame byte ${content.offset})` };
        break;
      default:
        break;
    }
  }
}

/** Only the LISP datagrams of a capture. */
export function lispDatagrams(file: PcapFile): LispDatagram[] {
  const out: LispDatagram[] = [];
  for (const item of lispItems(file.header.linkType, file.frames)) if (item.kind === 'lisp') out.push(item);
  return out;
}
