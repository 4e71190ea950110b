// The agent's configuration, parsed from the environment the injector gives the sidecar (main.ts passes
// process.env; tests pass plain objects). Every problem is reported at once, naming the variable.
import { isIP } from 'node:net';

/** One port the agent owns: it listens on agentPort and forwards to the app container's containerPort. */
export interface InterceptPort {
  /** The Service port's name and number, and the container port name the Service targeted (may be ''). */
  readonly serviceName: string;
  readonly servicePortName: string;
  readonly servicePort: number;
  readonly targetPortName: string;
  /** Where the app container listens. */
  readonly containerPort: number;
  /** Where the agent listens (the port the Service now reaches in this pod). */
  readonly agentPort: number;
  /**
   * True when the Service targets the container port by number: the agent then redirects that port to
   * agentPort inside the pod's network namespace (see port-redirect.ts).
   */
  readonly redirect: boolean;
}

export interface AgentConfig {
  readonly managerHost: string;
  readonly managerPort: number;
  readonly podName: string;
  readonly namespace: string;
  readonly podIp: string;
  readonly workload: string;
  /** Address the app is reached at when not intercepted (the pod IP, like the original since 2.20). */
  readonly appHost: string;
  readonly ports: readonly InterceptPort[];
  readonly logLevel: string;
  readonly remainIntervalMs: number;
  readonly dialTimeoutMs: number;
  readonly resolvConfPath: string;
  readonly hostsPath: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Env variable names, shared with the injector that sets them. */
export const ENV = {
  managerHost: 'AGENT_MANAGER_HOST',
  managerPort: 'AGENT_MANAGER_PORT',
  podName: 'POD_NAME',
  namespace: 'POD_NAMESPACE',
  podIp: 'POD_IP',
  workload: 'AGENT_WORKLOAD',
  appHost: 'AGENT_APP_HOST',
  ports: 'AGENT_PORTS',
  logLevel: 'AGENT_LOG_LEVEL',
  remainInterval: 'AGENT_REMAIN_INTERVAL_MS',
  dialTimeout: 'AGENT_DIAL_TIMEOUT_MS',
  resolvConf: 'AGENT_RESOLV_CONF',
  hosts: 'AGENT_HOSTS_FILE',
} as const;

const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

function port(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined;
}

function parsePorts(text: string | undefined, problems: string[]): InterceptPort[] {
  if (text === undefined || text.trim() === '') return [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    problems.push(`${ENV.ports} is not JSON (${(e as Error).message}); expected a list of port objects`);
    return [];
  }
  if (!Array.isArray(raw)) {
    problems.push(`${ENV.ports} must be a JSON list of port objects`);
    return [];
  }
  const out: InterceptPort[] = [];
  raw.forEach((item: unknown, i) => {
    const r = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const containerPort = port(r['containerPort']);
    const agentPort = port(r['agentPort']);
    if (containerPort === undefined || agentPort === undefined) {
      problems.push(`${ENV.ports}[${i}] needs containerPort and agentPort between 1 and 65535`);
      return;
    }
    out.push({
      serviceName: typeof r['serviceName'] === 'string' ? r['serviceName'] : '',
      servicePortName: typeof r['servicePortName'] === 'string' ? r['servicePortName'] : '',
      servicePort: port(r['servicePort']) ?? 0,
      targetPortName: typeof r['targetPortName'] === 'string' ? r['targetPortName'] : '',
      containerPort,
      agentPort,
      redirect: r['redirect'] === true,
    });
  });
  // Several Service ports may reach one container port (e.g. a named and a headless numeric Service):
  // they share its agent port. One agent port for two container ports would be ambiguous.
  const target = new Map<number, number>();
  for (const p of out) {
    const other = target.get(p.agentPort);
    if (other !== undefined && other !== p.containerPort)
      problems.push(
        `${ENV.ports}: agent port ${p.agentPort} is used for container ports ${other} and ${p.containerPort}`,
      );
    target.set(p.agentPort, p.containerPort);
  }
  return out;
}

function positiveMs(env: Record<string, string | undefined>, name: string, dflt: number, problems: string[]) {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    problems.push(`${name}=${v} must be a positive number of milliseconds`);
    return dflt;
  }
  return n;
}

export function parseAgentConfig(env: Record<string, string | undefined>): AgentConfig {
  const problems: string[] = [];
  const required = (name: string): string => {
    const v = env[name];
    if (v === undefined || v === '') {
      problems.push(`${name} is not set`);
      return '';
    }
    return v;
  };
  const managerHost = required(ENV.managerHost);
  const managerPortText = env[ENV.managerPort] ?? '8081';
  const managerPort = port(managerPortText);
  if (managerPort === undefined) problems.push(`${ENV.managerPort}=${managerPortText} is not a port number`);
  const podName = required(ENV.podName);
  const namespace = required(ENV.namespace);
  const podIp = required(ENV.podIp);
  if (podIp !== '' && isIP(podIp) === 0) problems.push(`${ENV.podIp}=${podIp} is not an IP address`);
  const workload = required(ENV.workload);
  const appHost = env[ENV.appHost] ?? podIp;
  const logLevel = env[ENV.logLevel] ?? 'info';
  if (!LOG_LEVELS.has(logLevel))
    problems.push(`${ENV.logLevel}=${logLevel} must be one of ${[...LOG_LEVELS].join(', ')}`);
  const ports = parsePorts(env[ENV.ports], problems);
  const config: AgentConfig = {
    managerHost,
    managerPort: managerPort ?? 8081,
    podName,
    namespace,
    podIp,
    workload,
    appHost,
    ports,
    logLevel,
    remainIntervalMs: positiveMs(env, ENV.remainInterval, 5000, problems),
    dialTimeoutMs: positiveMs(env, ENV.dialTimeout, 3000, problems),
    resolvConfPath: env[ENV.resolvConf] ?? '/etc/resolv.conf',
    hostsPath: env[ENV.hosts] ?? '/etc/hosts',
  };
  if (problems.length > 0)
    throw new ConfigError(`traffic-agent configuration is invalid:\n  ${problems.join('\n  ')}`);
  return config;
}

/** Does an intercept's service_port ("http", "80", "" = the only/first port) name this port? */
export function portMatches(p: InterceptPort, servicePort: string): boolean {
  if (servicePort === '') return true;
  if (/^\d+$/.test(servicePort)) {
    const n = Number(servicePort);
    return n === p.servicePort || n === p.containerPort;
  }
  return servicePort === p.servicePortName || servicePort === p.targetPortName;
}
