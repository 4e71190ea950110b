import { status } from '@grpc/grpc-js';
import pino from 'pino';

import type { ClientSession } from '../sessions/session-registry.js';
import type { InjectorApi } from './injector-api.js';
import { clusterInterceptHooks } from './intercept-hooks.js';

const client = { client: { namespace: 'default' } } as unknown as ClientSession;
const spec = {
  name: 'echo',
  workload: 'echo',
  namespace: '',
  servicePort: 'http',
  localPort: 8080,
  localOnly: false,
};

function fakeApi(annotated: string[]): InjectorApi {
  return {
    getDeployment: async (_ns: string, name: string) => ({ metadata: { name }, spec: { template: {} } }),
    annotatePodTemplate: async (_ns: string, name: string) => {
      annotated.push(name);
    },
  } as unknown as InjectorApi;
}

describe('intercept hooks', () => {
  it('does not roll the workload while the injector cannot be called (its pods would get no agent)', async () => {
    const annotated: string[] = [];
    const hooks = clusterInterceptHooks(fakeApi(annotated), pino({ level: 'silent' }), async () => false);
    await expect(hooks.beforeCreate(client, spec)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect(annotated).toEqual([]);
  });

  it('enables the agent once the injector is ready', async () => {
    const annotated: string[] = [];
    const hooks = clusterInterceptHooks(fakeApi(annotated), pino({ level: 'silent' }), async () => true);
    await hooks.beforeCreate(client, spec);
    expect(annotated).toEqual(['echo']);
  });

  it('needs no injector for a local-only intercept', async () => {
    const annotated: string[] = [];
    const hooks = clusterInterceptHooks(fakeApi(annotated), pino({ level: 'silent' }), async () => false);
    await hooks.beforeCreate(client, { ...spec, localOnly: true });
    expect(annotated).toEqual([]);
  });
});
