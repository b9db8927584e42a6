// The layering rules of eslint.config.mjs stay in force: each forbidden import, put in the folder
// it is forbidden in, is an error with the rule's message; the allowed direction is not.
import test from 'ava';
import * as path from 'node:path';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '..', '..');

async function problems(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const CASES: readonly (readonly [string, string, RegExp])[] = [
  ['src/wire/x.ts', "import * as dgram from 'node:dgram';", /src\/wire is pure codecs/],
  ['src/wire/x.ts', "import { readFileSync } from 'fs';", /src\/wire is pure codecs/],
  ['src/wire/x.ts', "import type { Eid } from '../mapping/eid';", /src\/wire imports nothing from other src folders/],
  ['src/dataplane/x.ts', "import type { ControlConfig } from '../control/config';", /the data plane never imports the control plane/],
  ['src/mapping/x.ts', "export type { Query } from '../control/protocol';", /never imports the control plane/],
  ['src/control/decent/x.ts', "import type { DataPlane } from '../../dataplane/types';", /the control plane never imports the data plane/],
  ['src/cli/x.ts', "import type { SiteCacheRow } from '../control/protocol';", /src\/cli talks to the node only through src\/api/],
  ['src/cli/x.ts', "import type { MapCacheEntry } from '../mapping/entry';", /src\/cli talks to the node only through src\/api/],
];

test('every layering rule rejects its forbidden import', async (t) => {
  for (const [file, code, message] of CASES) {
    const found = await problems(file, `${code}\nexport {};\n`);
    t.is(found.length, 1, `${file}: ${code} → ${JSON.stringify(found)}`);
    t.regex(found[0] ?? '', message);
  }
});

test('the allowed directions pass', async (t) => {
  t.deepEqual(await problems('src/dataplane/x.ts', "import { LISP_DATA_PORT } from '../wire/constants';\nimport type { Eid } from '../mapping/eid';\nexport { LISP_DATA_PORT };\nexport type E = Eid;\n"), []);
  t.deepEqual(await problems('src/cli/x.ts', "import type { SiteCacheRow } from '../api/types';\nexport type R = SiteCacheRow;\n"), []);
  t.deepEqual(await problems('src/wire/x.ts', "import { createHmac } from 'node:crypto';\nimport { DATA_HEADER_LENGTH } from './constants';\nexport { createHmac, DATA_HEADER_LENGTH };\n"), []);
});
