import { jestConfig } from '../../jest.config.base.js';

// The integration tests spawn dig and exchange real packets; on a loaded 2-core machine a test with several
// dig runs can take seconds, so give them room instead of failing on the default 5 s.
export default jestConfig({ testTimeout: 20_000 });
