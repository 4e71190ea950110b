// A self-signed cluster CA and serving certificates, made with the openssl CLI (node:crypto cannot
// issue X.509 certificates).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../net/exec.js';

export interface KeyPair {
  readonly key: string;
  readonly cert: string;
}

export async function createCa(commonName: string): Promise<KeyPair> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'devcluster-ca-'));
  try {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${dir}/ca.key`,
      '-out',
      `${dir}/ca.crt`,
      '-days',
      '3650',
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ]);
    return { key: await readFile(`${dir}/ca.key`, 'utf8'), cert: await readFile(`${dir}/ca.crt`, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A serving certificate for the given DNS names and IPs, signed by the CA. */
export function issueServerCert(
  ca: KeyPair,
  commonName: string,
  dnsNames: readonly string[],
  ips: readonly string[],
): Promise<KeyPair> {
  const san = [...dnsNames.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(',');
  return issueCert(ca, `/CN=${commonName}`, [
    `subjectAltName=${san}`,
    'extendedKeyUsage=serverAuth',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'basicConstraints=CA:FALSE',
  ]);
}

const subjectName = /^[A-Za-z0-9][A-Za-z0-9:._@-]*$/;

/**
 * A client certificate as the apiserver's x509 authenticator reads it: CN is the user name, each O a
 * group (e.g. system:masters).
 */
export function issueClientCert(ca: KeyPair, user: string, groups: readonly string[]): Promise<KeyPair> {
  for (const n of [user, ...groups]) {
    if (!subjectName.test(n))
      throw new Error(`invalid user or group name ${JSON.stringify(n)}: use letters, digits and :._@-`);
  }
  const subject = `${groups.map((g) => `/O=${g}`).join('')}/CN=${user}`;
  return issueCert(ca, subject, [
    'extendedKeyUsage=clientAuth',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'basicConstraints=CA:FALSE',
  ]);
}

async function issueCert(ca: KeyPair, subject: string, extensions: readonly string[]): Promise<KeyPair> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'devcluster-cert-'));
  try {
    await writeFile(`${dir}/ca.key`, ca.key, { mode: 0o600 });
    await writeFile(`${dir}/ca.crt`, ca.cert);
    await writeFile(`${dir}/ext.cnf`, `${extensions.join('\n')}\n`);
    await run('openssl', [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${dir}/leaf.key`,
      '-out',
      `${dir}/leaf.csr`,
      '-subj',
      subject,
    ]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      `${dir}/leaf.csr`,
      '-CA',
      `${dir}/ca.crt`,
      '-CAkey',
      `${dir}/ca.key`,
      '-CAcreateserial',
      '-out',
      `${dir}/leaf.crt`,
      '-days',
      '3650',
      '-extfile',
      `${dir}/ext.cnf`,
    ]);
    return {
      key: await readFile(`${dir}/leaf.key`, 'utf8'),
      cert: await readFile(`${dir}/leaf.crt`, 'utf8'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
