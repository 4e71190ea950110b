import { kindSchema, schemaName } from './openapi-schemas.js';

describe('schemaName', () => {
  it('names a model like the Kubernetes OpenAPI document', () => {
    expect(schemaName('V1PodSpec', '')).toBe('io.k8s.api.core.v1.PodSpec');
    expect(schemaName('V1DeploymentSpec', 'apps')).toBe('io.k8s.api.apps.v1.DeploymentSpec');
    expect(schemaName('DiscoveryV1EndpointPort', 'discovery.k8s.io')).toBe(
      'io.k8s.api.discovery.v1.EndpointPort',
    );
    expect(schemaName('V1ObjectMeta', 'apps')).toBe('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
  });
});

describe('kindSchema', () => {
  it('builds a kind with its referenced types, descriptions and required fields', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking a JSON document
    const out: Record<string, Record<string, any>> = {};
    expect(kindSchema({ group: '', version: 'v1', kind: 'Pod' }, out)).toBe('io.k8s.api.core.v1.Pod');
    expect(out['io.k8s.api.core.v1.Pod']!['x-kubernetes-group-version-kind']).toEqual([
      { group: '', version: 'v1', kind: 'Pod' },
    ]);
    const spec = out['io.k8s.api.core.v1.PodSpec']!;
    expect(spec['required']).toEqual(['containers']);
    expect(spec['properties'].hostNetwork.type).toBe('boolean');
    expect(spec['properties'].hostNetwork.description).toContain('Host networking requested for this pod.');
    expect(spec['properties'].containers).toMatchObject({
      type: 'array',
      items: { allOf: [{ $ref: '#/components/schemas/io.k8s.api.core.v1.Container' }] },
    });
    expect(out['io.k8s.api.core.v1.ServicePort']).toBeUndefined(); // only what Pod reaches
  });

  it('answers undefined for a kind client-node has no model of', () => {
    expect(kindSchema({ group: 'x.example', version: 'v1', kind: 'Nothing' }, {})).toBeUndefined();
  });
});
