// A small, strict reader for classic libpcap files (not pcapng).
//
// Strict means: any inconsistency (bad magic, truncated header or record, a record longer than the
// file's snap length or than the packet it claims to capture) is an error naming the file offset,
// rather than a silently skipped frame — captures are test vectors here, and a half-read vector
// would make a test pass for the wrong reason.
import { readFileSync } from 'node:fs';

/** Link-layer header types we can take apart (tcpdump.org/linktypes.html). */
export const LinkType = {
  Null: 0,
  Ethernet: 1,
  Raw: 101,
  LinuxSll: 113,
  LinuxSll2: 276,
} as const;

export class PcapError extends Error {
  override readonly name = 'PcapError';
  constructor(
    /** What was wrong, without the offset. */
    readonly reason: string,
    /** Byte offset in the file where the problem was found. */
    readonly offset: number,
  ) {
    super(`${reason} (at file offset ${offset})`);
  }
}

export interface PcapHeader {
  /** Byte order the file was written in. */
  readonly littleEndian: boolean;
  /** Timestamps carry nanoseconds (magic 0xa1b23c4d) instead of microseconds. */
  readonly nanosecond: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly snapLength: number;
  readonly linkType: number;
}

export interface PcapFrame {
  /** 1-based frame number, as Wireshark counts. */
  readonly number: number;
  /** File offset of this frame's record header. */
  readonly offset: number;
  /** Capture time in seconds since the epoch (float; use `seconds`/`fraction` for exactness). */
  readonly time: number;
  readonly seconds: number;
  /** Microseconds, or nanoseconds when the file is nanosecond-resolution. */
  readonly fraction: number;
  /** Length of the packet on the wire; `data.length` can be smaller when the capture was snapped. */
  readonly originalLength: number;
  readonly data: Uint8Array;
}

const GLOBAL_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
const MAGIC_MICRO = 0xa1b2c3d4;
const MAGIC_NANO = 0xa1b23c4d;
const MAGIC_PCAPNG = 0x0a0d0d0a;
/** libpcap's own ceiling for a record; snap length 0 in old files means "no limit" up to this. */
const MAX_RECORD = 262144;

export function readPcapHeader(bytes: Uint8Array): PcapHeader {
  if (bytes.length < GLOBAL_HEADER_LENGTH) {
    throw new PcapError(`truncated pcap file header: ${bytes.length} of ${GLOBAL_HEADER_LENGTH} bytes`, bytes.length);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicBE = view.getUint32(0, false);
  let littleEndian: boolean;
  let nanosecond: boolean;
  if (magicBE === MAGIC_MICRO || magicBE === MAGIC_NANO) {
    littleEndian = false;
    nanosecond = magicBE === MAGIC_NANO;
  } else {
    const magicLE = view.getUint32(0, true);
    if (magicLE === MAGIC_MICRO || magicLE === MAGIC_NANO) {
      littleEndian = true;
      nanosecond = magicLE === MAGIC_NANO;
    } else if (magicBE === MAGIC_PCAPNG) {
      throw new PcapError('this is a pcapng file; only classic pcap is supported (convert with `editcap -F pcap`)', 0);
    } else {
      throw new PcapError(`bad pcap magic number 0x${magicBE.toString(16).padStart(8, '0')}`, 0);
    }
  }
  const versionMajor = view.getUint16(4, littleEndian);
  const versionMinor = view.getUint16(6, littleEndian);
  if (versionMajor !== 2) {
    throw new PcapError(`unsupported pcap version ${versionMajor}.${versionMinor} (expected 2.x)`, 4);
  }
  const snapLength = view.getUint32(16, littleEndian);
  // The upper 4 bits of the link-type word carry FCS information (pcap-savefile(5)); the rest must be 0.
  const linkWord = view.getUint32(20, littleEndian);
  if ((linkWord & 0x0fff0000) !== 0) {
    throw new PcapError(`bad link-type field 0x${linkWord.toString(16)}`, 20);
  }
  return { littleEndian, nanosecond, versionMajor, versionMinor, snapLength, linkType: linkWord & 0xffff };
}

/** Yields the frames of a pcap held in memory. Throws PcapError at the first inconsistency. */
export function* readPcapFrames(bytes: Uint8Array, header: PcapHeader = readPcapHeader(bytes)): Generator<PcapFrame> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = header.littleEndian;
  const fractionLimit = header.nanosecond ? 1_000_000_000 : 1_000_000;
  const recordLimit = Math.max(header.snapLength, MAX_RECORD);
  let offset = GLOBAL_HEADER_LENGTH;
  let number = 0;
  while (offset < bytes.length) {
    number += 1;
    if (bytes.length - offset < RECORD_HEADER_LENGTH) {
      throw new PcapError(
        `truncated record header of frame ${number}: ${bytes.length - offset} of ${RECORD_HEADER_LENGTH} bytes`, offset);
    }
    const seconds = view.getUint32(offset, le);
    const fraction = view.getUint32(offset + 4, le);
    const capturedLength = view.getUint32(offset + 8, le);
    const originalLength = view.getUint32(offset + 12, le);
    if (fraction >= fractionLimit) {
      throw new PcapError(`frame ${number}: timestamp fraction ${fraction} out of range`, offset + 4);
    }
    if (capturedLength > recordLimit) {
      throw new PcapError(`frame ${number}: captured length ${capturedLength} exceeds the limit ${recordLimit}`, offset + 8);
    }
    if (capturedLength > originalLength) {
      throw new PcapError(
        `frame ${number}: captured length ${capturedLength} exceeds original length ${originalLength}`, offset + 8);
    }
    const dataStart = offset + RECORD_HEADER_LENGTH;
    if (bytes.length - dataStart < capturedLength) {
      throw new PcapError(
        `truncated record of frame ${number}: ${bytes.length - dataStart} of ${capturedLength} bytes`, dataStart);
    }
    yield {
      number,
      offset,
      time: seconds + fraction / fractionLimit,
      seconds,
      fraction,
      originalLength,
      data: bytes.subarray(dataStart, dataStart + capturedLength),
    };
    offset = dataStart + capturedLength;
  }
}

export interface PcapFile {
  readonly header: PcapHeader;
  readonly frames: readonly PcapFrame[];
}

/** Parses a whole pcap held in memory. */
export function parsePcap(bytes: Uint8Array): PcapFile {
  const header = readPcapHeader(bytes);
  return { header, frames: [...readPcapFrames(bytes, header)] };
}

/** Reads and parses a pcap file. File-system errors propagate unchanged (they name the path). */
export function readPcapFile(path: string): PcapFile {
  return parsePcap(readFileSync(path));
}
