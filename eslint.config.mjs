// ESLint (flat config, typescript-eslint): `npm run lint` runs tsc and this; `npm test` runs both.
// Syntax-level rules only: type-aware rules would type-check the tree a second time on CI's 2 cores,
// and tsc --noEmit already does (so `no-undef` is tsc's job in .ts files). Formatting is Prettier's
// job (`npm run format` / `format:check`), not ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeGlobals = Object.fromEntries(
  [
    'process',
    'console',
    'Buffer',
    '__dirname',
    '__filename',
    'require',
    'module',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'clearImmediate',
    'URL',
    'URLSearchParams',
    'AbortController',
    'AbortSignal',
    'TextEncoder',
    'TextDecoder',
    'fetch',
    'structuredClone',
    'queueMicrotask',
    'performance',
  ].map((n) => [n, 'readonly']),
);
const browserGlobals = Object.fromEntries(['window', 'document', 'Element', 'HTMLElement', 'getComputedStyle'].map((n) => [n, 'readonly']));

export default tseslint.config(
  // What .gitignore ignores (build outputs: dist/, the e2e suites compiled to out/ and out-security/), and the pod image's files.
  {
    ignores: [
      '**/node_modules/**',
      'dist/**',
      '**/out/**',
      '**/out-security/**',
      '.vscode-test/**',
      'test-results/**',
      '.sim-state/**',
      'test/sim/image/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: nodeGlobals },
    rules: {
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Deliberate: the path guards match control characters; a reset of a variable read by a `finally`/catch is defensive.
      'no-control-regex': 'off',
      'no-useless-assignment': 'off',
    },
  },
  { files: ['**/*.ts'], rules: { 'no-undef': 'off' } },
  // The lazy loaders load a module on first use with a synchronous require (src/platform/lazy/*.ts says why).
  {
    files: ['src/platform/lazy/**', 'src/lazy-contributions.ts', 'src/live-pod-contributions.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  // Tests, simulator, benchmarks may rethrow without a cause; unit tests may require() a module fresh.
  { files: ['test/**', 'scripts/**'], rules: { 'preserve-caught-error': 'off', 'no-regex-spaces': 'off' } },
  // Protocol test clients (DAP, Jupyter messages) read untyped JSON.
  { files: ['test/**'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  { files: ['test/unit/**'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  { files: ['test/e2e/**'], languageOptions: { globals: { ...nodeGlobals, ...browserGlobals } } },
);
