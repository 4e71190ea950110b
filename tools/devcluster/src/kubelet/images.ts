// Image -> program mapping: this cluster runs no container images, so each image name maps to a local
// program (the image's ENTRYPOINT/CMD). Entries are looked up by the full reference, then without tag or
// digest, then by the last path component ("ghcr.io/x/traffic-manager:2.1" -> "traffic-manager").
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ImageEntry {
  /** The ENTRYPOINT: program and leading arguments. `${repo}` and `${devcluster}` are replaced by paths. */
  readonly command: readonly string[];
  /** The CMD: default arguments when the container has no `args`. */
  readonly args?: readonly string[];
  /** Extra environment the image sets. */
  readonly env?: Readonly<Record<string, string>>;
  /** Programs the image contains, for containers whose `command` names one (command[0] -> argv). */
  readonly commands?: Readonly<Record<string, readonly string[]>>;
}

export type ImageMap = Readonly<Record<string, ImageEntry>>;

export const devclusterDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const repoDir = path.resolve(devclusterDir, '..', '..');
export const defaultImagesFile = path.join(devclusterDir, 'images.json');

function expand(s: string): string {
  return s.replaceAll('${repo}', repoDir).replaceAll('${devcluster}', devclusterDir);
}

/** Reads mapping files; later files override earlier entries. */
export function loadImageMap(files: readonly string[]): ImageMap {
  const out: Record<string, ImageEntry> = {};
  for (const f of files) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(f, 'utf8'));
    } catch (err) {
      throw new Error(`cannot read image map ${f}: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null)
      throw new Error(`image map ${f} must be a JSON object`);
    for (const [name, entry] of Object.entries(parsed as Record<string, unknown>)) {
      if (name.startsWith('$')) continue; // "$comment" keys
      const e = entry as Partial<ImageEntry>;
      // An image may have no ENTRYPOINT (busybox: CMD ["sh"]); then it needs a CMD.
      if (!Array.isArray(e.command) || (e.command.length === 0 && (e.args ?? []).length === 0))
        throw new Error(
          `image map ${f}: "${name}" needs a "command" array, or "command": [] and non-empty "args"`,
        );
      out[name] = e as ImageEntry;
    }
  }
  return out;
}

export function imageCandidates(image: string): string[] {
  const noDigest = image.split('@')[0] ?? image;
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const noTag = colon > lastSlash ? noDigest.slice(0, colon) : noDigest;
  const base = noTag.slice(noTag.lastIndexOf('/') + 1);
  return [...new Set([image, noDigest, noTag, base])];
}

export interface ResolvedProgram {
  readonly argv: string[];
  readonly env: Record<string, string>;
}

/**
 * The argv a container runs: `command` replaces the image's entrypoint (looked up in the image's
 * `commands`, else run as a host program), `args` replaces its CMD, as in Kubernetes.
 */
export function resolveProgram(
  images: ImageMap,
  image: string,
  command: readonly string[] | undefined,
  args: readonly string[] | undefined,
): ResolvedProgram | string {
  const entry = imageCandidates(image)
    .map((c) => images[c])
    .find((e) => e !== undefined);
  const env = Object.fromEntries(Object.entries(entry?.env ?? {}).map(([k, v]) => [k, expand(v)]));
  // The first word of a command the image does not run itself: one of its programs, else a host program.
  const program = (argv: readonly string[]): string[] => {
    const [first, ...rest] = argv;
    const mapped = entry?.commands?.[first ?? ''] ?? entry?.commands?.[path.basename(first ?? '')];
    return [...(mapped ? mapped.map(expand) : [first ?? '']), ...rest];
  };
  if (command && command.length > 0) return { argv: [...program(command), ...(args ?? [])], env };
  if (!entry)
    return `image "${image}" is not mapped to a program (add it to ${defaultImagesFile} or a --images file)`;
  // No ENTRYPOINT: the args (or the image's CMD) are the command, as with `kubectl run bb --image=busybox -- sleep 1`.
  if (entry.command.length === 0) return { argv: program((args ?? entry.args ?? []).map(expand)), env };
  return { argv: [...entry.command.map(expand), ...(args ?? entry.args ?? []).map(expand)], env };
}
