// '@telepresence/traffic-manager/testing': the in-memory cluster API that tests and benchmarks run the
// manager against, kept out of the package's main entry.
export { FakeClusterApi, FakeCollection, fakeNode, fakePod } from './k8s/cluster-api.fake.js';
export type { FakeClusterApiOptions } from './k8s/cluster-api.fake.js';
