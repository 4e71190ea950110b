// Projected volumes other than kube-api-access-* (e.g. an audience-bound service-account token for a
// sidecar): each container's mounts are written under <pod dir>/mounts/<container>/ as a mirror of
// their paths, and the container's setup copies them into its private /run. Sources: serviceAccountToken
// (audience, expirationSeconds, bound to the pod), configMap items, downwardAPI metadata fields.
// Containers share the host's file system except /run, so a mountPath must lie under /run or /var/run.
// The service-account tokens written are returned so that the kubelet can rotate them (token-rotation.ts).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { field, isRecord, str, type KubeObject } from '../api/object.js';
import type { Store } from '../api/store.js';
import type { RotatedToken } from './token-rotation.js';

type Rec = Record<string, unknown>;

export interface ProjectedDeps {
  readonly store: Store;
  /** A token for the pod's service account with this audience and lifetime, bound to the pod. */
  readonly token: (audience: string | undefined, expirationSeconds: number) => string;
}

/** Where the mount's files go, relative to the container's root (`run/...`), or why it cannot be. */
export function runPath(mountPath: string): string | { error: string } {
  const p = path.posix.normalize(mountPath);
  for (const prefix of ['/run/', '/var/run/']) {
    if (p.startsWith(prefix) && p.length > prefix.length) return `run/${p.slice(prefix.length)}`;
  }
  return {
    error: `devcluster mounts projected volumes only under /run or /var/run (containers share the host's other files): ${mountPath}`,
  };
}

export interface ProjectedMounts {
  /** Why the container cannot be set up (a missing config map, a mount path devcluster cannot provide). */
  readonly error?: string;
  /** The service-account tokens written, by their path inside the container. */
  readonly tokens: readonly RotatedToken[];
}

/** Writes the projected volumes of one container's mounts under `dir` (a mirror of their paths). */
export async function writeProjectedMounts(
  pod: KubeObject,
  container: Rec,
  dir: string,
  deps: ProjectedDeps,
): Promise<ProjectedMounts> {
  const tokens: RotatedToken[] = [];
  const volumes = field(pod, 'spec', 'volumes');
  const mounts = container['volumeMounts'];
  for (const m of Array.isArray(mounts) ? mounts.filter(isRecord) : []) {
    const name = str(m['name']) ?? '';
    if (name.startsWith('kube-api-access-')) continue; // the kubelet's own, at the standard path
    const vol = (Array.isArray(volumes) ? volumes.filter(isRecord) : []).find((v) => v['name'] === name);
    const sources = field(vol, 'projected', 'sources');
    if (!Array.isArray(sources)) continue;
    const target = runPath(str(m['mountPath']) ?? '');
    if (typeof target !== 'string') return { error: target.error, tokens };
    const base = path.join(dir, target);
    for (const src of sources.filter(isRecord)) {
      const files = sourceFiles(pod, src, deps);
      if (typeof files === 'string') return { error: files, tokens };
      for (const [rel, content, token] of files) {
        const file = path.join(base, rel);
        if (!file.startsWith(base + path.sep))
          return { error: `projected volume ${name}: bad path ${rel}`, tokens };
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, content, { mode: 0o644 });
        if (token) tokens.push({ ...token, file: `/${path.posix.join(target, rel)}`, mirror: file });
      }
    }
  }
  return { tokens };
}

type SourceFile = [rel: string, content: string, token?: Omit<RotatedToken, 'file' | 'mirror'>];

function sourceFiles(pod: KubeObject, src: Rec, deps: ProjectedDeps): SourceFile[] | string {
  const sat = src['serviceAccountToken'];
  if (isRecord(sat)) {
    const exp = Number(sat['expirationSeconds'] ?? 3600);
    const audience = str(sat['audience']);
    return [[str(sat['path']) ?? 'token', deps.token(audience, exp), { audience, expirationSeconds: exp }]];
  }
  const cm = src['configMap'];
  if (isRecord(cm)) {
    const cmName = str(cm['name']) ?? '';
    const obj = deps.store.get('configmaps', pod.metadata.namespace ?? 'default', cmName);
    if (!obj) return cm['optional'] === true ? [] : `configmap "${cmName}" not found`;
    const data = isRecord(obj['data']) ? obj['data'] : {};
    const items = Array.isArray(cm['items']) ? cm['items'].filter(isRecord) : undefined;
    return (items ?? Object.keys(data).map((key) => ({ key, path: key }))).map((i) => [
      String(i['path']),
      String(data[String(i['key'])] ?? ''),
    ]);
  }
  const dapi = src['downwardAPI'];
  if (isRecord(dapi)) {
    const items = Array.isArray(dapi['items']) ? dapi['items'].filter(isRecord) : [];
    return items.map((i) => {
      const fp = str(field(i, 'fieldRef', 'fieldPath')) ?? '';
      const value = field(pod, ...fp.split('.'));
      return [String(i['path']), typeof value === 'string' ? value : JSON.stringify(value ?? '')];
    });
  }
  return [];
}
