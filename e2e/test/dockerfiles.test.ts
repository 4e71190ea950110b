// The Dockerfiles cannot be built here (no Docker engine, no hadolint package): this checks the
// properties that matter instead. Multi-stage, pinned Node 20 base, production dependencies only,
// non-root, each app's entrypoint, and every workspace package it imports present in the image.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { repo } from './helpers/tp-cluster.js';

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** Instructions with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

interface Image {
  readonly dockerfile: string;
  /** Under apps/. */
  readonly app: string;
  /** What the test names call it. */
  readonly what: string;
  /** The app's own entrypoint, ports and tools. */
  readonly runtime: { readonly title: string; check(finalStage: readonly Instruction[]): void };
}

const images: readonly Image[] = [
  {
    dockerfile: 'Dockerfile.agent',
    app: 'traffic-agent',
    what: 'agent',
    runtime: {
      title:
        'starts the compiled agent, exposes the first agent port and carries nft for numeric-port redirects',
      check(finalStage) {
        expect(finalStage.find((i) => i.op === 'ENTRYPOINT')?.args).toBe(
          '["node", "apps/traffic-agent/dist/main.js"]',
        );
        expect(finalStage.find((i) => i.op === 'EXPOSE')?.args).toMatch(/\b9900\b/);
        expect(finalStage.some((i) => i.op === 'RUN' && /apt-get install .*nftables/.test(i.args))).toBe(
          true,
        );
      },
    },
  },
  {
    dockerfile: 'Dockerfile.manager',
    app: 'traffic-manager',
    what: 'manager',
    runtime: {
      title: 'starts the compiled manager and exposes its ports and a health check',
      check(finalStage) {
        expect(finalStage.find((i) => i.op === 'ENTRYPOINT')?.args).toBe(
          '["node", "apps/traffic-manager/dist/main.js"]',
        );
        expect(finalStage.find((i) => i.op === 'EXPOSE')?.args).toMatch(/\b8081\b.*\b9464\b/);
        expect(finalStage.find((i) => i.op === 'HEALTHCHECK')?.args).toMatch(/\/healthz/);
      },
    },
  },
];

describe.each(images)('$dockerfile', ({ dockerfile, app, what, runtime }) => {
  const instructions = parseDockerfile(readFileSync(path.join(repo, dockerfile), 'utf8'));
  const stages = instructions.filter((i) => i.op === 'FROM');
  const finalStageStart = instructions.lastIndexOf(stages.at(-1)!);
  const finalStage = instructions.slice(finalStageStart);

  it('is multi-stage on a pinned Node 20 image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const arg = instructions.find((i) => i.op === 'ARG' && i.args.startsWith('NODE_IMAGE='));
    expect(arg?.args).toMatch(/^NODE_IMAGE=node:20\.\d+/);
    expect(instructions.some((i) => /:latest\b/.test(i.args))).toBe(false);
  });

  it('installs only production dependencies into the runtime image', () => {
    const names = new Set(stages.map((s) => /\bAS\s+(\S+)/i.exec(s.args)?.[1]));
    const fromStages = finalStage.filter((i) => i.op === 'COPY').map((i) => /--from=(\S+)/.exec(i.args)?.[1]);
    for (const s of fromStages) expect(names.has(s)).toBe(true);
    const nodeModules = finalStage.find((i) => i.op === 'COPY' && /node_modules/.test(i.args));
    const producer = /--from=(\S+)/.exec(nodeModules?.args ?? '')?.[1];
    const producerStart = instructions.findIndex(
      (i) => i.op === 'FROM' && new RegExp(`AS ${producer ?? '-'}$`, 'i').test(i.args),
    );
    const producerRuns = instructions
      .slice(producerStart + 1)
      .filter((i, idx, all) => all.slice(0, idx).every((p) => p.op !== 'FROM') && i.op === 'RUN');
    expect(producerRuns.some((r) => /npm ci .*--omit=dev/.test(r.args))).toBe(true);
    expect(finalStage.some((i) => i.op === 'RUN' && /npm (ci|install)/.test(i.args))).toBe(false);
  });

  it('runs as a non-root user', () => {
    const user = finalStage.filter((i) => i.op === 'USER').at(-1);
    expect(user).toBeDefined();
    expect(user!.args).not.toMatch(/^(root|0)(:|$)/);
  });

  it(runtime.title, () => runtime.check(finalStage));

  it(`copies every workspace package the ${what} imports (built) into the runtime image`, () => {
    const pkg = JSON.parse(readFileSync(path.join(repo, 'apps', app, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const libs = Object.keys(pkg.dependencies)
      .filter((d) => d.startsWith('@telepresence/'))
      .map((d) => d.slice('@telepresence/'.length));
    expect(libs.length).toBeGreaterThan(0);
    const copies = finalStage.filter((i) => i.op === 'COPY').map((i) => i.args);
    const builds = instructions
      .filter((i) => i.op === 'RUN')
      .map((i) => i.args)
      .join(' ');
    for (const lib of libs) {
      expect(copies).toContain(`--from=build /src/libs/${lib}/dist/ libs/${lib}/dist/`);
      expect(builds).toContain(`libs/${lib}/tsconfig.build.json`);
    }
  });

  it('copies the manifest of every workspace before npm ci (the lockfile names them all)', () => {
    const root = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
      workspaces: string[];
    };
    const lock = JSON.parse(readFileSync(path.join(repo, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, unknown>;
    };
    const workspaceDirs = Object.keys(lock.packages).filter((p) => p !== '' && !p.includes('node_modules'));
    expect(root.workspaces.length).toBeGreaterThan(0);
    const copies = instructions.filter((i) => i.op === 'COPY').map((i) => i.args);
    for (const dir of workspaceDirs) {
      expect(copies).toContain(`${dir}/package.json ${dir}/`);
    }
  });
});
