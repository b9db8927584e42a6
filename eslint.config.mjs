// Lint is part of `npm test`. Syntax-level typescript-eslint rules keep it fast on 2 cores;
// `tsc --strict` already does the type checking.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Node modules that do I/O (with or without the node: prefix). */
const IO_MODULES = '^(node:)?(dgram|net|fs|fs/promises|http|https|http2|tls|dns|dns/promises|child_process|worker_threads|cluster|os|readline|inspector)$';

/** An import of src/DIR from a sibling folder ('../DIR', '../DIR/x', '../../DIR/x'). */
function notFrom(dir, message) {
  return { regex: `^(\\.\\./)+${dir}(/|$)`, message };
}

/**
 * no-restricted-imports for the files of one folder (type-only imports and re-exports included;
 * require() is refused everywhere by typescript-eslint's no-require-imports).
 */
function layer(files, patterns) {
  return [{ files: [files], rules: { 'no-restricted-imports': ['error', { patterns }] } }];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'native/build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  // Layers (see docs/architecture.md): each folder may import only what its room allows.
  ...layer('src/wire/**/*.ts', [
    { regex: IO_MODULES, message: 'src/wire is pure codecs: no I/O modules (sockets, files, threads, processes); do the I/O in the caller' },
    { regex: '^\\.\\./', message: 'src/wire imports nothing from other src folders: everything else may depend on the codec, not the reverse' },
  ]),
  ...layer('src/dataplane/**/*.ts', [notFrom('control', 'the data plane never imports the control plane: shared types live in src/mapping or src/wire, messages go through src/daemon')]),
  ...layer('src/mapping/**/*.ts', [notFrom('control', 'src/mapping (EIDs, map-cache entries, the FIB) is shared by both planes and never imports the control plane')]),
  ...layer('src/control/**/*.ts', [notFrom('dataplane', 'the control plane never imports the data plane: it runs in a worker and talks to it through messages (src/control/protocol.ts)')]),
  ...layer('src/cli/**/*.ts', ['control', 'dataplane', 'mapping', 'native'].map((dir) =>
    notFrom(dir, `src/cli talks to the node only through src/api (client.ts and the answer types in types.ts), not src/${dir}`))),
  {
    files: ['**/*.js', '**/*.mjs', 'bin/*'],
    languageOptions: { globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly', console: 'readonly' } },
  },
);
