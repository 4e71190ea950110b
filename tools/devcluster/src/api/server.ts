// The HTTPS handler: discovery, REST verbs on every served resource, list/watch with resourceVersions,
// Table output for kubectl, Status errors, and the pods/portforward and pods/log subresources.
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import type { Authenticator, UserInfo } from './authn.js';
import { patchTypeOf, type ApiCore, type DeleteOptions } from './core.js';
import { ApiError, badRequest, notFound } from './errors.js';
import { isRecord, type KubeObject } from './object.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import { decodeProtobufObject, isProtobuf } from './protobuf.js';
import { openApiDocument, openApiRoot, openApiV2Protobuf } from './openapi.js';
import { servePodLog, type PodLogFile } from './pod-logs.js';
import { handlePortForwardUpgrade, type PodDialer } from './portforward.js';
import {
  apiVersionOf,
  findResource,
  groups,
  resourceKey,
  resourceTypes,
  type ResourceType,
} from './resources.js';
import { impersonate } from './impersonation.js';
import { forbidden, type Authorizer } from './rbac.js';
import { requestInfo, type RequestAttributes } from './request-info.js';
import type { Reviews } from './reviews.js';
import { issuer, type TokenSigner } from './sa-tokens.js';
import { matches, parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { StoreEvent } from './store.js';
import { toTable, type IncludeObject } from './tables.js';

export interface ApiServerOptions {
  readonly core: ApiCore;
  readonly authn: Authenticator;
  readonly authz: Authorizer;
  readonly reviews: Reviews;
  readonly signer: TokenSigner;
  readonly tls: { key: string; cert: string };
  /** The CA whose client certificates authenticate (CN = user, O = groups). */
  readonly clientCa: string;
  readonly dialPod: PodDialer;
  /** The file a container's output goes to (for pods/log). */
  readonly podLogFile?: PodLogFile;
  /** Address advertised in /api's serverAddressByClientCIDRs. */
  readonly advertiseAddress: string;
  readonly bookmarkIntervalMs?: number;
  /** The run's name, for the hint that answers pods/exec and pods/attach. */
  readonly clusterName?: string;
  readonly log?: (msg: string) => void;
}

interface Route {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

export function createApiServer(options: ApiServerOptions): https.Server {
  const handler = new Handler(options);
  const tls = {
    key: options.tls.key,
    cert: options.tls.cert,
    ca: options.clientCa,
    requestCert: true,
    rejectUnauthorized: false,
  };
  const server = https.createServer(tls, (req, res) => {
    handler.handle(req, res).catch((err: unknown) => handler.fail(res, err));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    handler.upgrade(req, socket, head);
  });
  return server;
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseBody(raw: Buffer, contentType: string): unknown {
  if (isProtobuf(contentType)) return decodeProtobufObject(raw);
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    if (contentType.includes('yaml')) return parseYaml(text) as unknown;
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`failed to decode request body: ${(err as Error).message}`);
  }
}

class Handler {
  private readonly core: ApiCore;

  constructor(private readonly o: ApiServerOptions) {
    this.core = o.core;
  }

  fail(res: ServerResponse, err: unknown): void {
    const e =
      err instanceof ApiError
        ? err
        : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`);
    if (!(err instanceof ApiError))
      this.o.log?.(`api: internal error: ${(err as Error).stack ?? String(err)}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, e.code, e.toStatus());
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    try {
      const url = new URL(req.url ?? '/', 'https://x');
      const user = this.user(req);
      const info = requestInfo(req.method ?? 'GET', url.pathname, url.searchParams);
      this.authorize({ user, ...info });
      // Streaming subresources also need `create`, whatever the method (as with the apiserver's
      // AuthorizePodWebsocketUpgradeCreatePermission, on by default since 1.31).
      if (info.verb !== 'create' && ['portforward', 'exec', 'attach'].includes(info.subresource))
        this.authorize({ user, ...info, verb: 'create' });
      const route = this.route(url.pathname);
      if (route?.type.plural === 'pods' && route.name && ['exec', 'attach'].includes(route.subresource ?? ''))
        throw this.noExec(route.namespace ?? 'default', route.name, route.subresource ?? '');
      if (!route || route.type.plural !== 'pods' || route.subresource !== 'portforward' || !route.name) {
        throw notFound('', '', url.pathname);
      }
      const pod = this.core.get(route.type, route.namespace, route.name);
      handlePortForwardUpgrade(
        req,
        socket,
        head,
        pod,
        url.searchParams.getAll('ports'),
        this.o.dialPod,
        this.o.log,
      );
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', (err as Error).message);
      const body = JSON.stringify(e.toStatus());
      socket.end(
        `HTTP/1.1 ${e.code} ${e.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://x');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const user = this.user(req);
    this.authorize({ user, ...requestInfo(method, path, url.searchParams) });
    if (['/healthz', '/livez', '/readyz'].includes(path)) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (path === '/version') return sendJson(res, 200, versionInfo());
    if (path === '/.well-known/openid-configuration') return sendJson(res, 200, openIdConfiguration());
    if (path === '/openid/v1/jwks') return sendJson(res, 200, this.o.signer.jwks());
    if (path === '/openapi/v3') return sendJson(res, 200, openApiRoot());
    if (path === '/openapi/v2') {
      // An empty OpenAPI v2 document (protobuf, as kubectl requests it): kubectl validates Lists
      // client-side and skips kinds without a schema.
      const doc = openApiV2Protobuf();
      res.writeHead(200, {
        'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf',
        'Content-Length': doc.length,
      });
      res.end(doc);
      return;
    }
    const oa = /^\/openapi\/v3\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    if (oa) {
      const doc = oa[1] ? openApiDocument('', 'v1') : openApiDocument(oa[2] ?? '', oa[3] ?? '');
      if (doc) return sendJson(res, 200, doc);
    }
    if (path === '/api') {
      return sendJson(res, 200, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: this.o.advertiseAddress }],
      });
    }
    if (path === '/apis')
      return sendJson(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: groups().map(apiGroup) });
    if (path === '/api/v1') return sendJson(res, 200, resourceList('', 'v1'));
    const gm = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (gm) {
      const g = groups().find((x) => x.name === gm[1]);
      if (g && !gm[2]) return sendJson(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g) });
      if (g && gm[2] && g.versions.includes(gm[2])) return sendJson(res, 200, resourceList(g.name, gm[2]));
    }
    const route = this.route(path);
    if (!route) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const { type: t, namespace, name, subresource } = route;
    const q = url.searchParams;
    const accept = req.headers.accept ?? '';
    const asTable = /as=Table/.test(accept);
    if (subresource && !t.subresources.includes(subresource)) {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    }

    if (method === 'GET' && subresource === 'log' && name) {
      return servePodLog(req, res, this.core.get(t, namespace, name), q, this.o.podLogFile);
    }
    if (subresource === 'scale' && name) {
      return this.scale(req, res, t, namespace, name, method);
    }
    if (subresource === 'portforward') {
      throw new ApiError(400, 'BadRequest', 'Upgrade request required');
    }
    if ((subresource === 'exec' || subresource === 'attach') && name) {
      this.core.get(t, namespace, name);
      throw this.noExec(namespace ?? 'default', name, subresource);
    }
    if (method === 'POST' && subresource === 'token' && name) {
      const body = parseBody(await readBody(req), req.headers['content-type'] ?? '');
      return sendJson(res, 201, this.o.reviews.tokenRequest(namespace ?? 'default', name, body));
    }
    if (t.virtual) {
      if (method !== 'POST' || name !== undefined)
        throw new ApiError(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
        );
      const body = parseBody(await readBody(req), req.headers['content-type'] ?? '');
      return sendJson(res, 201, this.o.reviews.create(t, namespace, body, user));
    }

    switch (method) {
      case 'GET':
        if (name === undefined) {
          if (q.get('watch') === 'true' || q.get('watch') === '1')
            return this.watch(req, res, t, namespace, q, asTable);
          return this.list(res, t, namespace, q, asTable);
        }
        return this.sendObject(res, 200, this.core.get(t, namespace, name), asTable, q);
      case 'POST': {
        if (name !== undefined)
          throw new ApiError(
            405,
            'MethodNotAllowed',
            `the server does not allow this method on the requested resource`,
          );
        const body = parseBody(await readBody(req), req.headers['content-type'] ?? '');
        const created = await this.core.create(t, namespace, body, requestUser(user), q.has('dryRun'));
        return this.sendObject(res, 201, created, asTable, q);
      }
      case 'PUT': {
        if (name === undefined)
          throw new ApiError(
            405,
            'MethodNotAllowed',
            'the server does not allow this method on the requested resource',
          );
        const body = parseBody(await readBody(req), req.headers['content-type'] ?? '');
        const updated = this.core.update(t, namespace, name, body, subresource, requestUser(user));
        return this.sendObject(res, 200, updated, asTable, q);
      }
      case 'PATCH': {
        if (name === undefined)
          throw new ApiError(
            405,
            'MethodNotAllowed',
            'the server does not allow this method on the requested resource',
          );
        const ct = req.headers['content-type'] ?? '';
        const pt = patchTypeOf(ct);
        const body = parseBody(await readBody(req), ct);
        const patched = await this.core.patch(t, namespace, name, pt, body, subresource, requestUser(user));
        return this.sendObject(res, 200, patched, asTable, q);
      }
      case 'DELETE': {
        const body = parseBody(await readBody(req), req.headers['content-type'] ?? '');
        const opts = deleteOptions(body, q);
        if (name === undefined) return this.deleteCollection(res, t, namespace, q, opts);
        const deleted = this.core.delete(t, namespace, name, opts);
        return this.sendObject(res, 200, deleted, asTable, q);
      }
      default:
        throw new ApiError(405, 'MethodNotAllowed', `method ${method} not allowed`);
    }
  }

  /** devcluster runs no container runtime to attach to: say what to use instead. */
  private noExec(namespace: string, pod: string, subresource: string): ApiError {
    this.core.get(findResource('', 'v1', 'pods')!, namespace, pod);
    const name = this.o.clusterName ? ` --name ${this.o.clusterName}` : '';
    return new ApiError(
      400,
      'BadRequest',
      `devcluster does not implement pods/${subresource}: run the command with "devcluster exec${name} pod/${namespace}/${pod} -- CMD..."`,
    );
  }

  /** The authenticated user, or whom it impersonates (Impersonate-* headers). */
  private user(req: IncomingMessage): UserInfo {
    return impersonate(req, this.o.authn.authenticate(req), (a) => this.authorize(a));
  }

  /** RBAC on the request; 403 with the apiserver's message when denied. */
  private authorize(a: RequestAttributes): void {
    const d = this.o.authz.authorize(a);
    if (!d.allowed) {
      this.o.log?.(
        `authz: denied ${a.user.username} ${a.verb} ${a.resourceRequest ? `${a.resource}${a.subresource ? `/${a.subresource}` : ''} ${a.namespace}/${a.name}` : a.path}`,
      );
      throw forbidden(a, d.reason);
    }
  }

  private route(path: string): Route | undefined {
    let m = /^\/api\/v1\/(.*)$/.exec(path);
    let group = '';
    let version = 'v1';
    let rest: string[];
    if (m) rest = (m[1] ?? '').split('/');
    else {
      m = /^\/apis\/([^/]+)\/([^/]+)\/(.*)$/.exec(path);
      if (!m) return undefined;
      group = m[1] ?? '';
      version = m[2] ?? '';
      rest = (m[3] ?? '').split('/');
    }
    rest = rest.map(decodeURIComponent);
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const t = findResource(group, version, rest[2] ?? '');
      if (t && t.namespaced) {
        namespace = rest[1];
        rest = rest.slice(2);
      }
    }
    const t = findResource(group, version, rest[0] ?? '');
    if (!t || rest.length > 3) return undefined;
    if (t.namespaced && namespace === undefined && rest.length > 1) return undefined;
    return { type: t, namespace, name: rest[1], subresource: rest[2] };
  }

  private sendObject(
    res: ServerResponse,
    code: number,
    obj: KubeObject,
    asTable: boolean,
    q: URLSearchParams,
  ): void {
    if (asTable) {
      return sendJson(
        res,
        code,
        toTable(
          obj.kind ?? '',
          [obj],
          { resourceVersion: obj.metadata.resourceVersion ?? '' },
          includeObject(q),
        ),
      );
    }
    sendJson(res, code, obj);
  }

  private filter(q: URLSearchParams): (o: KubeObject) => boolean {
    const ls = q.get('labelSelector');
    const fs = q.get('fieldSelector');
    const reqs = ls ? parseLabelSelector(ls) : [];
    const fsel = fs ? parseFieldSelector(fs) : () => true;
    return (o) => matches(reqs, o.metadata.labels ?? {}) && fsel(o);
  }

  private list(
    res: ServerResponse,
    t: ResourceType,
    namespace: string | undefined,
    q: URLSearchParams,
    asTable: boolean,
  ): void {
    const store = this.core.store;
    const rv = String(store.resourceVersion);
    let items = store.list(resourceKey(t), namespace).filter(this.filter(q));
    const limit = Number(q.get('limit') ?? 0);
    const cont = q.get('continue');
    let start = 0;
    if (cont) {
      try {
        start = Number(JSON.parse(Buffer.from(cont, 'base64').toString('utf8')).start) || 0;
      } catch {
        throw badRequest('invalid continue token');
      }
    }
    items = items.slice(start);
    const meta: Record<string, unknown> = { resourceVersion: rv };
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      meta['continue'] = Buffer.from(JSON.stringify({ start: start + limit, rv })).toString('base64');
      meta['remainingItemCount'] = store.list(resourceKey(t), namespace).length - start - limit;
    }
    if (asTable) return sendJson(res, 200, toTable(t.kind, items, meta, includeObject(q)));
    sendJson(res, 200, { kind: `${t.kind}List`, apiVersion: apiVersionOf(t), metadata: meta, items });
  }

  private deleteCollection(
    res: ServerResponse,
    t: ResourceType,
    namespace: string | undefined,
    q: URLSearchParams,
    opts: DeleteOptions,
  ): void {
    const items = this.core.store.list(resourceKey(t), namespace).filter(this.filter(q));
    const out: KubeObject[] = [];
    for (const o of items) {
      try {
        out.push(this.core.delete(t, o.metadata.namespace, o.metadata.name ?? '', opts));
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
      }
    }
    sendJson(res, 200, {
      kind: `${t.kind}List`,
      apiVersion: apiVersionOf(t),
      metadata: { resourceVersion: String(this.core.store.resourceVersion) },
      items: out,
    });
  }

  /** The scale subresource (autoscaling/v1 Scale) of deployments and replicasets. */
  private async scale(
    req: IncomingMessage,
    res: ServerResponse,
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    method: string,
  ): Promise<void> {
    const toScale = (o: KubeObject) => {
      const spec = isRecord(o['spec']) ? o['spec'] : {};
      const status = isRecord(o['status']) ? o['status'] : {};
      const ml =
        isRecord(spec['selector']) && isRecord(spec['selector']['matchLabels'])
          ? spec['selector']['matchLabels']
          : {};
      return {
        kind: 'Scale',
        apiVersion: 'autoscaling/v1',
        metadata: {
          name,
          namespace,
          uid: o.metadata.uid,
          resourceVersion: o.metadata.resourceVersion,
          creationTimestamp: o.metadata.creationTimestamp,
        },
        spec: { replicas: Number(spec['replicas'] ?? 0) },
        status: {
          replicas: Number(status['replicas'] ?? 0),
          selector: Object.entries(ml)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(','),
        },
      };
    };
    const current = this.core.get(t, namespace, name);
    if (method === 'GET') return sendJson(res, 200, toScale(current));
    if (method !== 'PUT' && method !== 'PATCH')
      throw new ApiError(405, 'MethodNotAllowed', `method ${method} not allowed on scale`);
    const ct = req.headers['content-type'] ?? '';
    const body = parseBody(await readBody(req), ct);
    let next: unknown = body;
    if (method === 'PATCH') {
      const pt = patchTypeOf(ct);
      const base = toScale(current);
      next =
        pt === 'json'
          ? jsonPatch(base, body)
          : pt === 'merge'
            ? mergePatch(base, body)
            : strategicMergePatch(base, body);
    }
    const replicas = isRecord(next) && isRecord(next['spec']) ? Number(next['spec']['replicas']) : NaN;
    if (!Number.isInteger(replicas) || replicas < 0)
      throw badRequest('spec.replicas must be a non-negative integer');
    const updated = await this.core.patch(t, namespace, name, 'merge', { spec: { replicas } });
    sendJson(res, 200, toScale(updated));
  }

  /**
   * Watch: without resourceVersion (or "0") the current objects come first as ADDED; with one, every
   * later change is replayed, or a 410 ERROR event is sent when that version is too old. Objects that
   * stop matching a selector are sent as DELETED, like the apiserver's watch cache does.
   */
  private watch(
    req: IncomingMessage,
    res: ServerResponse,
    t: ResourceType,
    namespace: string | undefined,
    q: URLSearchParams,
    asTable: boolean,
  ): void {
    const store = this.core.store;
    const key = resourceKey(t);
    const pred = this.filter(q);
    const include = includeObject(q);
    const rvParam = q.get('resourceVersion') ?? '';
    const matching = new Set<string>();
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    res.flushHeaders();
    const write = (type: string, object: unknown) => {
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const emitObj = (type: string, o: KubeObject) => {
      write(
        type,
        asTable ? toTable(t.kind, [o], { resourceVersion: o.metadata.resourceVersion ?? '' }, include) : o,
      );
    };
    const onEvent = (e: StoreEvent) => {
      if (e.key !== key) return;
      const o = e.object;
      if (namespace !== undefined && o.metadata.namespace !== namespace) return;
      const uid = o.metadata.uid ?? '';
      const now = e.type !== 'DELETED' && pred(o);
      const was = matching.has(uid);
      if (e.type === 'DELETED') {
        if (was) {
          matching.delete(uid);
          emitObj('DELETED', o);
        }
        return;
      }
      if (now) {
        matching.add(uid);
        emitObj(was ? 'MODIFIED' : 'ADDED', o);
      } else if (was) {
        matching.delete(uid);
        emitObj('DELETED', o);
      }
    };
    const current = store.list(key, namespace).filter(pred);
    if (rvParam === '' || rvParam === '0' || q.get('sendInitialEvents') === 'true') {
      for (const o of current) {
        matching.add(o.metadata.uid ?? '');
        emitObj('ADDED', o);
      }
      if (q.get('sendInitialEvents') === 'true') {
        write('BOOKMARK', {
          kind: t.kind,
          apiVersion: apiVersionOf(t),
          metadata: {
            resourceVersion: String(store.resourceVersion),
            annotations: { 'k8s.io/initial-events-end': 'true' },
          },
        });
      }
    } else {
      const from = Number(rvParam);
      let events: StoreEvent[];
      try {
        if (!Number.isFinite(from)) throw badRequest(`invalid resource version "${rvParam}"`);
        events = store.eventsSince(key, from);
      } catch (err) {
        const e = err instanceof ApiError ? err : badRequest(String(err));
        write('ERROR', e.toStatus());
        res.end();
        return;
      }
      // What matched at `from` is what matches now, minus objects created since, plus those deleted since.
      const changed = new Set(events.map((e) => e.object.metadata.uid ?? ''));
      for (const o of current) if (!changed.has(o.metadata.uid ?? '')) matching.add(o.metadata.uid ?? '');
      const firstSeen = new Map<string, StoreEvent>();
      for (const e of events)
        if (!firstSeen.has(e.object.metadata.uid ?? '')) firstSeen.set(e.object.metadata.uid ?? '', e);
      for (const [uid, e] of firstSeen) {
        if (e.type !== 'ADDED' && (namespace === undefined || e.object.metadata.namespace === namespace)) {
          // Existed before `from`: whether it matched then is approximated by its first changed version.
          if (pred(e.object) || e.type === 'DELETED') matching.add(uid);
        }
      }
      for (const e of events) onEvent(e);
    }
    const unsubscribe = store.subscribe(onEvent);
    const timers: NodeJS.Timeout[] = [];
    if (q.get('allowWatchBookmarks') === 'true') {
      timers.push(
        setInterval(() => {
          write('BOOKMARK', {
            kind: t.kind,
            apiVersion: apiVersionOf(t),
            metadata: { resourceVersion: String(store.resourceVersion) },
          });
        }, this.o.bookmarkIntervalMs ?? 5000),
      );
    }
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    const close = () => {
      unsubscribe();
      for (const tm of timers) clearTimeout(tm);
      res.end();
    };
    timers.push(setTimeout(close, (timeout > 0 ? timeout : 1800) * 1000));
    req.on('close', close);
    res.on('close', close);
  }
}

function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  return v === 'Object' || v === 'None' ? v : 'Metadata';
}

function deleteOptions(body: unknown, q: URLSearchParams): DeleteOptions {
  const out: DeleteOptions = {};
  const grace = isRecord(body) ? body['gracePeriodSeconds'] : q.get('gracePeriodSeconds');
  if (grace !== undefined && grace !== null) out.gracePeriodSeconds = Number(grace);
  const pp = isRecord(body) ? body['propagationPolicy'] : q.get('propagationPolicy');
  if (pp === 'Foreground' || pp === 'Background' || pp === 'Orphan') out.propagationPolicy = pp;
  return out;
}

function requestUser(u: UserInfo): { username: string; uid?: string; groups: readonly string[] } {
  return { username: u.username, ...(u.uid ? { uid: u.uid } : {}), groups: u.groups };
}

function openIdConfiguration(): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}/openid/v1/jwks`,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
  };
}

function versionInfo(): Record<string, string> {
  return {
    major: '1',
    minor: '33',
    gitVersion: 'v1.33.0-devcluster',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: 'go1.24.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

function apiGroup(g: { name: string; versions: string[] }): Record<string, unknown> {
  const versions = g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v }));
  return { name: g.name, versions, preferredVersion: versions[0] };
}

function resourceList(group: string, version: string): Record<string, unknown> {
  const resources: Record<string, unknown>[] = [];
  for (const t of resourceTypes.filter((r) => r.group === group && r.version === version)) {
    resources.push({
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: t.verbs,
      ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
      ...(t.categories ? { categories: t.categories } : {}),
    });
    for (const sub of t.subresources) {
      const verbs =
        sub === 'portforward' || sub === 'exec' || sub === 'attach'
          ? ['create', 'get']
          : sub === 'log'
            ? ['get']
            : sub === 'token'
              ? ['create']
              : ['get', 'patch', 'update'];
      const kind =
        sub === 'portforward'
          ? 'PodPortForwardOptions'
          : sub === 'exec'
            ? 'PodExecOptions'
            : sub === 'attach'
              ? 'PodAttachOptions'
              : sub === 'token'
                ? 'TokenRequest'
                : sub === 'scale'
                  ? 'Scale'
                  : t.kind;
      resources.push({ name: `${t.plural}/${sub}`, singularName: '', namespaced: t.namespaced, kind, verbs });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}
