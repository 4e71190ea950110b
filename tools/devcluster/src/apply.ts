// `devcluster apply -f`: creates or updates (JSON merge patch) each object of a YAML/JSON stream
// through the API server, like a minimal `kubectl apply`.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { findResourceByKind } from './api/resources.js';

interface KubeconfigLite {
  server: string;
  ca: string;
  token?: string;
  cert?: string;
  key?: string;
}

export function readKubeconfig(file: string): KubeconfigLite {
  const kc = parseYaml(readFileSync(file, 'utf8')) as {
    clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
    users: {
      user: { token?: string; 'client-certificate-data'?: string; 'client-key-data'?: string };
    }[];
  };
  const cluster = kc.clusters[0]?.cluster;
  const user = kc.users[0]?.user;
  if (!cluster || !user) throw new Error(`${file}: no cluster or user`);
  const fromB64 = (v: string | undefined) =>
    v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  const cert = fromB64(user['client-certificate-data']);
  const key = fromB64(user['client-key-data']);
  return {
    server: cluster.server,
    ca: fromB64(cluster['certificate-authority-data']) ?? '',
    ...(user.token ? { token: user.token } : {}),
    ...(cert && key ? { cert, key } : {}),
  };
}

export function request(
  kc: KubeconfigLite,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; body: unknown }> {
  const url = new URL(path, kc.server);
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const r = https.request(
      url,
      {
        method,
        ca: kc.ca,
        ...(kc.cert && kc.key ? { cert: kc.cert, key: kc.key } : {}),
        headers: {
          ...(kc.token ? { Authorization: `Bearer ${kc.token}` } : {}),
          Accept: 'application/json',
          ...(text ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = raw;
          try {
            parsed = JSON.parse(raw);
          } catch {
            /* text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    r.on('error', reject);
    r.end(text);
  });
}

export async function applyManifests(
  kubeconfigFile: string,
  text: string,
  log: (line: string) => void,
): Promise<void> {
  const kc = readKubeconfig(kubeconfigFile);
  const docs = parseAllDocuments(text)
    .map((d) => d.toJSON() as unknown)
    .flatMap((d) => (isList(d) ? d.items : [d]))
    .filter((d): d is Record<string, unknown> => typeof d === 'object' && d !== null);
  for (const obj of docs) {
    const apiVersion = String(obj['apiVersion'] ?? '');
    const kind = String(obj['kind'] ?? '');
    const t = findResourceByKind(apiVersion, kind);
    if (!t) throw new Error(`devcluster does not serve ${kind} (${apiVersion})`);
    const meta = (obj['metadata'] ?? {}) as Record<string, unknown>;
    const name = String(meta['name'] ?? '');
    const ns = t.namespaced ? String(meta['namespace'] ?? 'default') : undefined;
    const base = `${t.group ? `/apis/${t.group}/${t.version}` : '/api/v1'}${ns ? `/namespaces/${ns}` : ''}/${t.plural}`;
    const existing = await request(kc, 'GET', `${base}/${name}`);
    const res =
      existing.status === 404
        ? await request(kc, 'POST', base, obj)
        : await request(kc, 'PATCH', `${base}/${name}`, obj, 'application/merge-patch+json');
    if (res.status >= 300) {
      const msg =
        typeof res.body === 'object' && res.body !== null
          ? String((res.body as Record<string, unknown>)['message'])
          : String(res.body);
      throw new Error(`${kind} ${name}: ${msg}`);
    }
    log(
      `${t.singular}${t.group ? `.${t.group}` : ''}/${name} ${existing.status === 404 ? 'created' : 'configured'}`,
    );
  }
}

function isList(d: unknown): d is { items: unknown[] } {
  return (
    typeof d === 'object' &&
    d !== null &&
    Array.isArray((d as Record<string, unknown>)['items']) &&
    String((d as Record<string, unknown>)['kind']).endsWith('List')
  );
}
