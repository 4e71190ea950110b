import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import packageBoundaries from './tools/lint/package-boundaries.js';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      '**/build/**',
      '**/coverage/**',
      'libs/rpc/src/gen/**',
      '.nx/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { local: { rules: { 'package-boundaries': packageBoundaries } } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Packages meet only through their names and exports; apps and libs never use tools/ or e2e/.
      'local/package-boundaries': 'error',
      // Programs log with their logger; what the CLI prints goes through its output module.
      'no-console': 'error',
    },
  },
  {
    // Where printing to the terminal is the job: the CLI's output module, the benchmarks, devcluster's
    // CLI and the e2e suite's progress lines.
    files: [
      'apps/client/src/cli/output.ts',
      'tools/bench/**/*.ts',
      'tools/devcluster/src/cli.ts',
      'e2e/**/*.ts',
    ],
    rules: { 'no-console': 'off' },
  },
  {
    // The tunnel's protocol (frames, stream, channel interface) knows nothing of its transports or endpoints.
    files: ['libs/tunnel/src/protocol/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../transports/*', '../endpoints/*', '../calls.js', '../index.js'],
              message:
                'src/protocol/ must not depend on the transports or endpoints (libs/tunnel README, "Parts")',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
