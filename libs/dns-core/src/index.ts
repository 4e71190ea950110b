// Public API of @telepresence/dns-core: the client's portable DNS server (no OS code here).
export { openDnsServer, DnsServer, SANITY_CHECK_NAME } from './server.js';
export type { DnsServerOptions, DnsServerStats } from './server.js';
export type { UdpTransportChoice, UdpTransportKind } from './udp/types.js';
export { runRecursionCheck } from './recursion.js';
export type { RecursionState, RecursionCheckOptions } from './recursion.js';
export {
  decideRoute,
  explainRoute,
  normalizeDnsConfig,
  isRecursionCheckName,
  RECURSION_CHECK_NAME,
} from './routing.js';
export type { DnsRoutingConfig, NormalizedDnsConfig, RouteDecision, RouteRule } from './routing.js';
export { SEARCH_MARKER, hasLabelSuffix, normalizeDomain } from './names.js';
export {
  CLUSTER_TTL_S,
  Qtype,
  Rcode,
  SUPPORTED_TYPES,
  qtypeName,
  qtypeNumber,
  supportedTypeOf,
} from './types.js';
export type { ClusterAnswer, ClusterQuestion, ClusterResolver, SupportedType } from './types.js';
export {
  encodeRecord,
  decodeRecord,
  clusterAnswerToWire,
  clusterAnswerFromWire,
  DnsRecordError,
} from './record-codec.js';
export type { WireDnsAnswer } from './record-codec.js';
export { createUdpTcpUpstream, UpstreamError } from './upstream.js';
export type { Upstream, UpstreamQuestion, UpstreamResponse, UdpTcpUpstreamOptions } from './upstream.js';
export { silentLogger, rateLimitWarnings } from './logger.js';
export type { DnsLogger } from './logger.js';
export { nodeDnsQuery, NODE_QUERY_TYPES, UnsupportedQueryTypeError } from './node-query.js';
export type { NodeDnsQuery } from './node-query.js';
export {
  readResolvConf,
  parseResolvConf,
  clusterDomainFromSearch,
  DEFAULT_CLUSTER_DOMAIN,
} from './resolv-conf.js';
export type { ResolvConf, ResolvConfLines } from './resolv-conf.js';
// Cluster-side resolution (traffic-manager and agents): search candidates, the lookup round, negative cache.
export { searchCandidates } from './search.js';
export type { SearchList } from './search.js';
export { lookupCandidates, LookupError, lookupFailureOf } from './cluster-lookup.js';
export type { CandidateLookupResult, ExactLookup, LookupFailure } from './cluster-lookup.js';
export { withNegativeCache, NEGATIVE_TTL_MS } from './negative-cache.js';
export type { NegativeCacheOptions, NegativeCachingLookup } from './negative-cache.js';
