// Shared jest settings: ESM test files compiled by swc (no type checking here: `npm run typecheck` does
// that), workspace packages resolved to their sources so tests never need a prior build.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));

/** @returns {import('jest').Config} */
export function jestConfig(overrides = {}) {
  return {
    testEnvironment: 'node',
    extensionsToTreatAsEsm: ['.ts'],
    transform: {
      '^.+\\.ts$': [
        '@swc/jest',
        {
          jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
          module: { type: 'es6' },
          sourceMaps: 'inline',
        },
      ],
    },
    moduleNameMapper: {
      '^@telepresence/(subnets|tunnel|dns-core|rpc|netstack|exec)$': path.join(root, 'libs/$1/src/index.ts'),
      '^(\\.{1,2}/.*)\\.js$': '$1',
      // The one guard for tests that need root or Linux (test-support/requirements.js).
      '^test-requirements$': path.join(root, 'test-support/requirements.js'),
    },
    // After jest's own summary: how many tests were skipped and why (test-support/skip-reporter.js).
    reporters: ['default', path.join(root, 'test-support/skip-reporter.js')],
    testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.test.ts'],
    testPathIgnorePatterns: ['/node_modules/', '/dist/'],
    // A test that times out can leave its sockets and gRPC channels behind; the failure is reported
    // either way, and exiting keeps one stuck test from hanging the whole run (CI has a time limit).
    forceExit: true,
    // Integration tests move real traffic through namespaces, gRPC and child processes; jest's 5 s default
    // is too tight for a slow CI machine. Tests that need a different bound set their own.
    testTimeout: 30_000,
    ...overrides,
  };
}
