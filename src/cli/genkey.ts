// `decent genkey`: a strong random group key (auth.key-file), and how to share it.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { flagOption, stringOption, type Command } from './command';

/** 32 random bytes (256 bits, the HMAC-SHA-256 block's key strength), base64url: 43 characters. */
export function newGroupKey(): string {
  return randomBytes(32).toString('base64url');
}

export const genkeyCommand: Command = {
  name: 'genkey',
  summary: 'make a strong random group key (the shared auth key of a group)',
  operands: '',
  minOperands: 0,
  maxOperands: 0,
  description: [
    'Prints a new random key: 32 bytes from the system CSPRNG, base64url (43 characters).',
    'Every member of a group signs and checks its Map-Registers and Map-Notifys with the same',
    'key (HMAC-SHA-256, RFC 9301 §5.6), so make it once and copy it to every host over a',
    'channel you trust (scp, a password manager), never in a chat or a ticket.',
    '',
    'With --out the key goes to FILE (mode 0600; an existing file is not overwritten) and',
    'the advice is printed; without it only the key goes to standard output (so that',
    '`decent genkey > FILE` works) and the advice to standard error.',
    '',
    'In the config:   auth:',
    '                   key-file: /etc/decent/group.key',
  ].join('\n'),
  options: [
    { name: 'out', short: 'o', type: 'string', placeholder: 'FILE', description: 'write the key to FILE (mode 0600) instead of standard output' },
    { name: 'quiet', short: 'q', type: 'boolean', description: 'print only the key, no advice' },
  ],
  examples: [
    'genkey --out /etc/decent/group.key',
    'genkey > group.key && chmod 600 group.key',
  ],
  async run(args, io) {
    const key = newGroupKey();
    const out = stringOption(args, 'out');
    const advice = (file: string): string => [
      `Put this key in ${file} (mode 0600) on every member of the group, copied over a`,
      `trusted channel (scp ${file} root@OTHER-HOST:${file}), and name it in each config:`,
      '  auth:',
      `    key-file: ${file}`,
      '',
    ].join('\n');
    if (out) {
      try {
        // 'wx': never overwrite a key a group may already use.
        fs.writeFileSync(out, `${key}\n`, { mode: 0o600, flag: 'wx' });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        io.err(`decent genkey: cannot write ${out}: ${code === 'EEXIST' ? 'it exists (a group key is not overwritten; remove it first if you mean to)' : code ?? (e as Error).message}\n`);
        return 1;
      }
      if (!flagOption(args, 'quiet')) io.out(`Wrote a new group key to ${out}.\n${advice(path.resolve(out))}`);
      return 0;
    }
    io.out(`${key}\n`);
    if (!flagOption(args, 'quiet')) io.err(`\n${advice('/etc/decent/group.key')}`);
    return 0;
  },
};
