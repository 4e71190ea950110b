import { Metadata, status } from '@grpc/grpc-js';
import { KubeConfig } from '@kubernetes/client-node';

import { TpError } from '../util/errors.js';
import { kubeconfigBearerToken, managerAuthError, obtainManagerToken } from './manager-token.js';

function kubeconfig(user: Record<string, unknown>): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'u', ...user }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

describe('manager token', () => {
  it("uses the kubeconfig's own bearer token as is", async () => {
    const kc = kubeconfig({ token: 'abc123' });
    expect(await kubeconfigBearerToken(kc)).toBe('abc123');
    const t = await obtainManagerToken(kc, 'ambassador', () => {});
    expect(t.source).toBe('user');
    expect(t.current()).toBe('abc123');
    t.close();
  });

  it('has no bearer token for a client-certificate user (it requests one for the service account)', async () => {
    const kc = kubeconfig({ certData: 'Y2VydA==', keyData: 'a2V5' });
    expect(await kubeconfigBearerToken(kc)).toBeUndefined();
  });

  it('turns refusals into one-line errors: the manager names the permission, a token problem wins', () => {
    const denied = managerAuthError(
      {
        code: status.PERMISSION_DENIED,
        details: 'user "dev" may not create pods/portforward in namespace "ambassador"',
        metadata: new Metadata(),
      },
      undefined,
    );
    expect(denied?.message).toBe(
      'the traffic-manager refused: user "dev" may not create pods/portforward in namespace "ambassador"',
    );
    const problem = new TpError(
      'cluster',
      'you may not create serviceaccounts/token "traffic-manager-client"',
    );
    const unauth = managerAuthError(
      { code: status.UNAUTHENTICATED, details: 'no bearer token', metadata: new Metadata() },
      { source: 'service-account', current: () => undefined, problem, close() {} },
    );
    expect(unauth).toBe(problem);
    expect(managerAuthError({ code: status.NOT_FOUND }, undefined)).toBeUndefined();
  });
});
