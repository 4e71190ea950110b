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
export async function issueServerCert(
  ca: KeyPair,
  commonName: string,
  dnsNames: readonly string[],
  ips: readonly string[],
): Promise<KeyPair> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'devcluster-cert-'));
  try {
    await writeFile(`${dir}/ca.key`, ca.key, { mode: 0o600 });
    await writeFile(`${dir}/ca.crt`, ca.cert);
    const san = [...dnsNames.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(',');
    await writeFile(
      `${dir}/ext.cnf`,
      `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n`,
    );
    await run('openssl', [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${dir}/srv.key`,
      '-out',
      `${dir}/srv.csr`,
      '-subj',
      `/CN=${commonName}`,
    ]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      `${dir}/srv.csr`,
      '-CA',
      `${dir}/ca.crt`,
      '-CAkey',
      `${dir}/ca.key`,
      '-CAcreateserial',
      '-out',
      `${dir}/srv.crt`,
      '-days',
      '3650',
      '-extfile',
      `${dir}/ext.cnf`,
    ]);
    return { key: await readFile(`${dir}/srv.key`, 'utf8'), cert: await readFile(`${dir}/srv.crt`, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
