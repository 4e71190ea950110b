import { jestConfig } from '../../jest.config.base.js';

// The integration tests move tens of MB through real gRPC and sockets; on a loaded 2-core machine that can
// take longer than jest's default 5 s, so give them room (they assert their own time bounds where it matters).
export default jestConfig({ testTimeout: 30_000 });
