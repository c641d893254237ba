// Lint: typescript-eslint's recommended rules plus a few that catch real bugs in async/Temporal code. The typed
// promise rules (as Temporal's samples use them) catch the kind of bug that once killed a worker: a rejected promise
// nobody awaited.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.data/**', 'tools/**', 'test/fixtures/**', 'test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's test()/describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'], package: 'node:test' }] }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  {
    // Workflows are started, queried and signalled by their typed definitions, never by a string name that can drift.
    files: ['cli/**/*.ts', 'bench/**/*.ts', 'test/**/*.ts', 'lib/**/*.ts', 'workers/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name=/^(start|execute|signalWithStart|query|signal)$/][arguments.0.type='Literal']",
          message: 'use the workflow function or its defineQuery/defineSignal definition, not a string name',
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node I/O, no activity runtime.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['fs', 'node:*', 'sharp', '@tensorflow/*', '@aws-sdk/*', '@temporalio/activity', '../lib/storage/*', '../lib/model/*', '../lib/data/*'], message: 'workflow code must stay deterministic: no I/O or native modules' },
            { group: ['../activities/*', '../activities'], allowTypeImports: true, message: "import activities with 'import type' only" },
          ],
        },
      ],
    },
  },
);
