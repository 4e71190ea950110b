// TLS for the manager's gRPC API where clients reach it directly (`telepresence connect
// --manager-address`): a second port (TLS_PORT) with a serving certificate the manager generates and
// renews, signed by a CA of its own, like the agent-injector's (injector/certs.ts). The CA bundle (current
// and, after a CA rotation, the previous CA) is published in the ConfigMap traffic-manager-ca (key
// ca.crt), which clients with the documented permissions may read, so they can verify the manager.
import { experimental, type ServerCredentials, type experimental as Experimental } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import { createCa, issueServingCert, serviceDnsNames, type Ca, type Issued } from '../injector/certs.js';

export const CA_CONFIGMAP = 'traffic-manager-ca';
export const CA_CONFIGMAP_KEY = 'ca.crt';

type IdentityListener = Experimental.IdentityCertificateUpdateListener;
type CaListener = Experimental.CaCertificateUpdateListener;

/** Serves the current certificate to grpc-js and tells it about each new one (its TLS context follows). */
class RotatingCertificates implements Experimental.CertificateProvider {
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();

  constructor(
    private identity: Issued,
    private caPem: string,
  ) {}

  update(identity: Issued, caPem: string): void {
    this.identity = identity;
    this.caPem = caPem;
    for (const l of this.identityListeners) l(this.identityUpdate());
    for (const l of this.caListeners) l({ caCertificate: Buffer.from(caPem) });
  }

  private identityUpdate() {
    return { certificate: Buffer.from(this.identity.certPem), privateKey: Buffer.from(this.identity.keyPem) };
  }

  // The first update goes out after the add returns: grpc-js registers its own watcher only then, and an
  // update delivered inside the add would be lost (its server would drop every connection).
  addCaCertificateListener(l: CaListener): void {
    this.caListeners.add(l);
    queueMicrotask(() => this.caListeners.has(l) && l({ caCertificate: Buffer.from(this.caPem) }));
  }
  removeCaCertificateListener(l: CaListener): void {
    this.caListeners.delete(l);
  }
  addIdentityCertificateListener(l: IdentityListener): void {
    this.identityListeners.add(l);
    queueMicrotask(() => this.identityListeners.has(l) && l(this.identityUpdate()));
  }
  removeIdentityCertificateListener(l: IdentityListener): void {
    this.identityListeners.delete(l);
  }
}

export interface ApiTlsOptions {
  readonly namespace: string;
  readonly serviceName: string;
  readonly clusterDomain: string;
  /** Writes the CA bundle (PEM) where clients read it (ConfigMap CA_CONFIGMAP); rejects on failure. */
  readonly publish: (caBundlePem: string) => Promise<void>;
  readonly log: Logger;
  readonly caValidityMs?: number;
  readonly certValidityMs?: number;
  readonly checkIntervalMs?: number;
  readonly now?: () => number;
}

export interface ApiTls {
  readonly credentials: ServerCredentials;
  /** The PEM bundle clients must trust (current CA, plus the previous one for a while after a rotation). */
  caBundle(): string;
  servingCert(): Issued;
  /** Renews what is due and publishes the bundle if it is not published yet; exposed for tests. */
  rotateIfDue(): Promise<void>;
  close(): void;
}

export async function startApiTls(options: ApiTlsOptions): Promise<ApiTls> {
  const log = options.log.child({ component: 'api-tls' });
  const now = options.now ?? Date.now;
  const caValidityMs = options.caValidityMs ?? 365 * 24 * 3_600_000;
  const certValidityMs = options.certValidityMs ?? 7 * 24 * 3_600_000;
  const names = serviceDnsNames(options.serviceName, options.namespace, options.clusterDomain);
  let ca: Ca = createCa(`telepresence-traffic-manager-${options.namespace}`, caValidityMs, new Date(now()));
  let previousCa: Ca | undefined;
  let serving = issueServingCert(ca, names, certValidityMs, new Date(now()));
  const bundle = (): string =>
    previousCa !== undefined && previousCa.notAfter.getTime() > now()
      ? `${ca.certPem}${previousCa.certPem}`
      : ca.certPem;
  const provider = new RotatingCertificates(serving, bundle());
  let published = '';
  const publish = async (force = false): Promise<void> => {
    const want = bundle();
    if (published === want && !force) return;
    try {
      await options.publish(want);
      published = want;
      if (!force) log.info({ configMap: CA_CONFIGMAP }, 'API CA published');
    } catch (e) {
      log.warn({ configMap: CA_CONFIGMAP, err: String(e) }, 'cannot publish the API CA; will retry');
    }
  };
  await publish();

  async function rotateIfDue(): Promise<void> {
    const t = now();
    if (t > ca.notAfter.getTime() - caValidityMs / 3) {
      previousCa = ca;
      ca = createCa(`telepresence-traffic-manager-${options.namespace}`, caValidityMs, new Date(t));
      log.info({ notAfter: ca.notAfter.toISOString() }, 'new API CA');
      await publish(); // trust first, then serve
      serving = issueServingCert(ca, names, certValidityMs, new Date(t));
      provider.update(serving, bundle());
    } else if (t > serving.notAfter.getTime() - certValidityMs / 3) {
      serving = issueServingCert(ca, names, certValidityMs, new Date(t));
      provider.update(serving, bundle());
      log.info({ notAfter: serving.notAfter.toISOString() }, 'API serving certificate renewed');
    }
    await publish(true); // again each time: a helm upgrade resets the ConfigMap's data (see the chart)
  }
  const timer = setInterval(() => void rotateIfDue(), options.checkIntervalMs ?? 60_000);
  timer.unref();
  return {
    credentials: experimental.createCertificateProviderServerCredentials(provider, provider, false),
    caBundle: bundle,
    servingCert: () => serving,
    rotateIfDue,
    close: () => clearInterval(timer),
  };
}
