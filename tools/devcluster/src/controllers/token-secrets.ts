// The legacy service-account token controller: a Secret of type kubernetes.io/service-account-token
// annotated kubernetes.io/service-account.name gets a long-lived token, ca.crt and namespace, and the
// service account's uid; such secrets go away with their service account.
import { clone, field, str, type KubeObject } from '../api/object.js';
import type { TokenSigner } from '../api/sa-tokens.js';
import type { Store } from '../api/store.js';
import { Reconciler } from './reconciler.js';

const tokenType = 'kubernetes.io/service-account-token';
const nameAnnotation = 'kubernetes.io/service-account.name';
const uidAnnotation = 'kubernetes.io/service-account.uid';

export function startTokenSecretsController(
  store: Store,
  signer: TokenSigner,
  caPem: string,
  log: (msg: string) => void,
): Reconciler {
  return new Reconciler(
    store,
    'token-secrets-controller',
    (e) => e.key === 'secrets' || (e.key === 'serviceaccounts' && e.type === 'DELETED'),
    () => reconcile(store, signer, caPem),
    log,
  );
}

function reconcile(store: Store, signer: TokenSigner, caPem: string): void {
  for (const secret of store.list('secrets')) {
    if (secret['type'] !== tokenType || secret.metadata.deletionTimestamp) continue;
    const ns = secret.metadata.namespace ?? 'default';
    const saName = secret.metadata.annotations?.[nameAnnotation] ?? '';
    const sa = store.get('serviceaccounts', ns, saName);
    const wantedUid = secret.metadata.annotations?.[uidAnnotation];
    if (!sa || (wantedUid && wantedUid !== sa.metadata.uid)) {
      store.delete('secrets', ns, secret.metadata.name ?? '');
      continue;
    }
    if (str(field(secret, 'data', 'token'))) continue;
    const next = clone(secret) as KubeObject;
    const b64 = (v: string) => Buffer.from(v).toString('base64');
    next.metadata.annotations = {
      ...(next.metadata.annotations ?? {}),
      [uidAnnotation]: sa.metadata.uid ?? '',
    };
    const token = signer.mintLegacy(
      ns,
      { name: saName, uid: sa.metadata.uid ?? '' },
      secret.metadata.name ?? '',
    );
    next['data'] = {
      ...((next['data'] as Record<string, string> | undefined) ?? {}),
      token: b64(token),
      'ca.crt': b64(caPem),
      namespace: b64(ns),
    };
    store.update('secrets', next);
  }
}
