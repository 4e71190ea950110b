// The agent-injector: a mutating admission webhook served over HTTPS by the manager.
//
// Certificates: a CA generated at start, whose PEM the manager writes into the
// MutatingWebhookConfiguration's caBundle (retrying until it succeeds; whenReady waits for that event), and a serving certificate signed
// by it, renewed well before it expires (the server swaps its TLS context; open connections keep theirs).
// When the CA itself nears its end, a new CA is made and the caBundle holds both until the old one expires.
//
// Admission: only pod CREATE is looked at. Anything unexpected (bad JSON, a failing Service list) answers
// "allowed, unchanged" and logs why: a broken injector must never stop pods (the configuration also says
// failurePolicy: Ignore, for when the manager is down altogether).
import https from 'node:https';
import type { AddressInfo } from 'node:net';

import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Backoff } from '@telepresence/tunnel';

import { decideInjection, type AgentSettings } from './agent-patch.js';
import { createCa, issueServingCert, serviceDnsNames, type Ca, type Issued } from './certs.js';
import type { InjectorApi } from './injector-api.js';

export interface InjectorOptions {
  readonly api: InjectorApi;
  readonly settings: AgentSettings;
  readonly log: Logger;
  readonly host: string;
  readonly port: number;
  /** The webhook Service (its DNS names go into the serving certificate). */
  readonly serviceName: string;
  readonly namespace: string;
  readonly clusterDomain?: string;
  /** MutatingWebhookConfiguration whose caBundle the manager keeps; '' = do not touch (tests). */
  readonly webhookConfigName: string;
  readonly certValidityMs?: number;
  readonly caValidityMs?: number;
  readonly now?: () => number;
  /** How often rotation is checked. */
  readonly checkIntervalMs?: number;
}

export interface RunningInjector {
  readonly port: number;
  /** PEM of the CAs clients must trust now (what the caBundle holds). */
  caBundle(): string;
  servingCert(): Issued;
  /** Checks expiry now and rotates what is due; exposed for tests. */
  rotateIfDue(): Promise<void>;
  /**
   * True once the caBundle is in the webhook configuration (retrying the sync meanwhile), false after
   * timeoutMs. Until then the API server cannot call us and, with failurePolicy Ignore, pods start without an
   * agent: enabling a workload then would roll it for nothing.
   */
  whenReady(timeoutMs: number): Promise<boolean>;
  readonly stats: { reviews: number; injected: number; errors: number };
  close(): Promise<void>;
}

const DAY = 86_400_000;
/** Retries of a failed caBundle sync: the first soon, then doubling up to every 2 s. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 2000;
const MAX_BODY = 4 * 1024 * 1024;

interface Review {
  uid: string;
  kind?: { kind?: string };
  operation?: string;
  namespace?: string;
  object?: V1Pod;
}

/** Validates the untrusted AdmissionReview body; returns the request or a reason it is not one. */
export function parseReview(body: string): Review | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return 'body is not JSON';
  }
  const req = (parsed as { request?: unknown } | null)?.request;
  if (typeof req !== 'object' || req === null) return 'AdmissionReview has no request';
  const r = req as Record<string, unknown>;
  if (typeof r['uid'] !== 'string' || r['uid'] === '') return 'AdmissionReview request has no uid';
  const object = r['object'];
  return {
    uid: r['uid'],
    kind: (typeof r['kind'] === 'object' && r['kind'] !== null ? r['kind'] : {}) as { kind?: string },
    ...(typeof r['operation'] === 'string' ? { operation: r['operation'] } : {}),
    ...(typeof r['namespace'] === 'string' ? { namespace: r['namespace'] } : {}),
    ...(typeof object === 'object' && object !== null ? { object: object as V1Pod } : {}),
  };
}

function reviewResponse(uid: string, patch?: unknown) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: {
      uid,
      allowed: true,
      ...(patch === undefined
        ? {}
        : { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }),
    },
  };
}

export async function startAgentInjector(options: InjectorOptions): Promise<RunningInjector> {
  const log = options.log.child({ component: 'agent-injector' });
  const now = options.now ?? Date.now;
  const certValidityMs = options.certValidityMs ?? 7 * DAY;
  const caValidityMs = options.caValidityMs ?? 365 * DAY;
  const names = serviceDnsNames(options.serviceName, options.namespace, options.clusterDomain);
  let ca: Ca = createCa(`telepresence-agent-injector-${options.namespace}`, caValidityMs, new Date(now()));
  let previousCa: Ca | undefined;
  let serving = issueServingCert(ca, names, certValidityMs, new Date(now()));
  const stats = { reviews: 0, injected: 0, errors: 0 };

  const bundle = (): string => {
    const cas = [ca];
    if (previousCa !== undefined && previousCa.notAfter.getTime() > now()) cas.push(previousCa);
    return cas.map((c) => c.certPem).join('');
  };

  const server = https.createServer({ key: serving.keyPem, cert: serving.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      void handle(Buffer.concat(chunks).toString('utf8')).then(
        ({ status, body }) => {
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(body));
        },
        (e: unknown) => {
          stats.errors++;
          log.error({ err: String(e) }, 'admission handling failed');
          res.writeHead(500).end();
        },
      );
    });
  });

  async function handle(body: string): Promise<{ status: number; body: unknown }> {
    stats.reviews++;
    const review = parseReview(body);
    if (typeof review === 'string') {
      stats.errors++;
      log.warn({ reason: review }, 'bad AdmissionReview');
      return { status: 400, body: { error: review } };
    }
    const pod = review.object;
    if (review.kind?.kind !== 'Pod' || review.operation !== 'CREATE' || pod === undefined)
      return { status: 200, body: reviewResponse(review.uid) };
    const namespace = review.namespace ?? pod.metadata?.namespace ?? 'default';
    const podName = pod.metadata?.name ?? pod.metadata?.generateName ?? '';
    try {
      const annotated = pod.metadata?.annotations?.['telepresence.io/inject-traffic-agent'] === 'enabled';
      const services = annotated ? await options.api.listServices(namespace) : [];
      const decision = decideInjection(pod, services, options.settings);
      if (!decision.inject) {
        log.debug({ pod: podName, namespace, reason: decision.reason }, 'not injecting');
        return { status: 200, body: reviewResponse(review.uid) };
      }
      stats.injected++;
      log.info(
        {
          pod: podName,
          namespace,
          workload: decision.workload,
          ports: decision.ports.map((p) => `${p.targetPortName || p.containerPort}->${p.agentPort}`),
        },
        'injecting the traffic-agent',
      );
      return { status: 200, body: reviewResponse(review.uid, decision.patch) };
    } catch (e) {
      stats.errors++;
      log.warn(
        { pod: podName, namespace, err: String(e) },
        'cannot decide on injection; leaving the pod unchanged',
      );
      return { status: 200, body: reviewResponse(review.uid) };
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new Error(`agent-injector cannot listen on ${options.host}:${options.port}: ${e.message}`)),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ port, names }, 'agent-injector webhook listening');

  // Keep the caBundle in the webhook configuration; retried, because the configuration may appear later.
  let caSynced = '';
  let syncing: Promise<void> | undefined;
  const isSynced = (): boolean => options.webhookConfigName === '' || caSynced === bundle();
  // whenReady's waiters, woken by each successful sync: they wait for the event, they do not poll.
  const syncedWaiters = new Set<() => void>();
  const syncCaBundle = (): Promise<void> => {
    if (options.webhookConfigName === '') return Promise.resolve();
    syncing ??= (async () => {
      const want = bundle();
      try {
        if (caSynced !== want) {
          await options.api.setCaBundle(options.webhookConfigName, want);
          caSynced = want;
          log.info({ config: options.webhookConfigName }, 'caBundle updated in the webhook configuration');
          for (const wake of [...syncedWaiters]) wake();
        }
      } catch (e) {
        log.warn(
          { config: options.webhookConfigName, err: String(e) },
          'cannot update the caBundle; will retry',
        );
      } finally {
        syncing = undefined;
      }
    })();
    return syncing;
  };
  await syncCaBundle();
  // Until a sync succeeds (the configuration may be created after the manager starts), retry: soon at
  // first, then every 2 s. One retry chain at a time.
  let retryTimer: NodeJS.Timeout | undefined;
  const retryDelay = new Backoff({ initialMs: RETRY_FIRST_MS, maxMs: RETRY_MAX_MS, multiplier: 2 });
  const retryUntilSynced = (): void => {
    if (isSynced()) {
      retryDelay.reset();
      return;
    }
    if (retryTimer !== undefined) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void syncCaBundle().then(retryUntilSynced);
    }, retryDelay.next());
    retryTimer.unref();
  };
  retryUntilSynced();

  async function rotateIfDue(): Promise<void> {
    const t = now();
    if (t > ca.notAfter.getTime() - caValidityMs / 3) {
      previousCa = ca;
      ca = createCa(`telepresence-agent-injector-${options.namespace}`, caValidityMs, new Date(t));
      log.info({ notAfter: ca.notAfter.toISOString() }, 'new injector CA');
      // Trust first, then serve: the bundle holds both CAs before the new certificate is used.
      await syncCaBundle();
      retryUntilSynced();
      serving = issueServingCert(ca, names, certValidityMs, new Date(t));
      server.setSecureContext({ key: serving.keyPem, cert: serving.certPem });
    } else if (t > serving.notAfter.getTime() - certValidityMs / 3) {
      serving = issueServingCert(ca, names, certValidityMs, new Date(t));
      server.setSecureContext({ key: serving.keyPem, cert: serving.certPem });
      log.info({ notAfter: serving.notAfter.toISOString() }, 'webhook serving certificate renewed');
    }
    if (caSynced !== bundle()) await syncCaBundle();
  }

  const timer = setInterval(() => void rotateIfDue(), options.checkIntervalMs ?? 60_000);
  timer.unref();

  return {
    port,
    caBundle: bundle,
    servingCert: () => serving,
    rotateIfDue,
    whenReady: (timeoutMs) => {
      if (isSynced()) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const done = (ok: boolean): void => {
          clearTimeout(timer);
          syncedWaiters.delete(wake);
          resolve(ok);
        };
        const wake = (): void => {
          if (isSynced()) done(true);
        };
        const timer = setTimeout(() => done(isSynced()), timeoutMs);
        syncedWaiters.add(wake);
        // Someone is waiting (an intercept): try now instead of at the next retry. A success wakes the
        // waiters; a failure is retried by the retry chain, which runs while the bundle is unsynced.
        void syncCaBundle();
      });
    },
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        clearTimeout(retryTimer);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
