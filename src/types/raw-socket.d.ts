// The parts of the `raw-socket` package that ICMP reachability uses.
declare module 'raw-socket' {
  import { EventEmitter } from 'node:events';
  export const AddressFamily: { IPv4: number; IPv6: number };
  export const Protocol: { None: number; ICMP: number; ICMPv6: number; TCP: number; UDP: number };
  export interface RawSocket extends EventEmitter {
    send(buffer: Buffer, offset: number, length: number, address: string, afterCallback: (error: Error | null, bytes: number) => void): void;
    close(): void;
    on(event: 'message', listener: (buffer: Buffer, source: string) => void): this;
    on(event: 'error', listener: (error: Error) => void): this;
  }
  export function createSocket(options: { protocol?: number; addressFamily?: number; bufferSize?: number }): RawSocket;
  export function createChecksum(...buffers: (Buffer | { buffer: Buffer; offset?: number; length?: number })[]): number;
  export function writeChecksum(buffer: Buffer, offset: number, checksum: number): void;
}
