// Settings of the agent-injector, from the manager's environment (main.ts passes process.env).
import type { AgentSettings } from './agent-patch.js';

export interface InjectorConfig {
  readonly enabled: boolean;
  readonly host: string;
  readonly port: number;
  readonly serviceName: string;
  readonly webhookConfigName: string;
  readonly agent: AgentSettings;
}

export function parseInjectorConfig(
  env: Readonly<Record<string, string | undefined>>,
  manager: { namespace: string; serverPort: number; serverHost: string },
): InjectorConfig {
  const get = (k: string): string | undefined => {
    const v = env[k]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const portText = get('AGENT_INJECTOR_PORT') ?? '8443';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`AGENT_INJECTOR_PORT=${portText} is not a port number`);
  const serviceName = get('AGENT_INJECTOR_SERVICE') ?? 'agent-injector';
  const expText = get('AGENT_TOKEN_EXPIRATION') ?? '3600';
  const tokenExpirationSeconds = Number(expText);
  if (!Number.isInteger(tokenExpirationSeconds) || tokenExpirationSeconds < 600)
    throw new Error(
      `AGENT_TOKEN_EXPIRATION=${expText} is not a whole number of seconds of at least 600 (the API server's minimum)`,
    );
  return {
    enabled: get('AGENT_INJECTOR_ENABLED') !== 'false',
    host: manager.serverHost,
    port,
    serviceName,
    webhookConfigName: get('AGENT_INJECTOR_WEBHOOK') ?? `${serviceName}-${manager.namespace}`,
    agent: {
      image: get('AGENT_IMAGE') ?? 'traffic-agent:latest',
      managerHost: get('AGENT_MANAGER_HOST') ?? `traffic-manager.${manager.namespace}`,
      managerPort: manager.serverPort,
      logLevel: get('AGENT_LOG_LEVEL') ?? 'info',
      tokenExpirationSeconds,
    },
  };
}
