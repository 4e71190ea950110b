import { withoutRbac } from './apply.js';

describe('withoutRbac', () => {
  it('drops rbac.authorization.k8s.io objects and keeps the rest in order', () => {
    const chart = `apiVersion: v1
kind: ServiceAccount
metadata: { name: tm }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: tm }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: tm }
`;
    expect(withoutRbac(chart)).toBe(
      'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: tm\n' +
        '---\n' +
        'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: tm\n',
    );
  });
});
