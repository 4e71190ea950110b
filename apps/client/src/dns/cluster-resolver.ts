// The ClusterResolver the DNS server uses: Manager.LookupDNS on behalf of our session. The server's signal
// (its timeout, shutdown) cancels the call.
import {
  clusterAnswerFromWire,
  qtypeNumber,
  type ClusterAnswer,
  type ClusterQuestion,
  type ClusterResolver,
} from '@telepresence/dns-core';
import type { ManagerApi, SessionInfo } from '../manager/manager-api.js';

export function managerClusterResolver(
  api: () => ManagerApi,
  session: () => SessionInfo,
  timeoutMs: number,
): ClusterResolver {
  return {
    async resolve(question: ClusterQuestion, signal: AbortSignal): Promise<ClusterAnswer> {
      const answer = await api().lookupDns(
        session(),
        { name: question.name, type: qtypeNumber(question.type) },
        timeoutMs,
        signal,
      );
      return clusterAnswerFromWire({ rcode: answer.rcode, records: answer.records });
    },
  };
}
