import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { jestConfig } from '../../jest.config.base.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const base = jestConfig();

// The integration tests run the real traffic-manager in-process: map it to its sources like the libs.
export default {
  ...base,
  moduleNameMapper: {
    '^@telepresence/traffic-manager$': path.join(root, 'apps/traffic-manager/src/index.ts'),
    ...base.moduleNameMapper,
  },
};
