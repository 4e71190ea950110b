// Certificates for the agent-injector webhook: a CA the manager generates at start (its PEM goes into
// the MutatingWebhookConfiguration's caBundle) and short-lived serving certificates it signs for the
// webhook Service's DNS names. Keys come from node:crypto; node-forge only assembles and signs the X.509
// structures (node:crypto cannot issue certificates).
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import forge from 'node-forge';

export interface Issued {
  readonly certPem: string;
  readonly keyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface Ca extends Issued {
  readonly key: forge.pki.rsa.PrivateKey;
  readonly cert: forge.pki.Certificate;
}

function keyPair(): { pub: forge.pki.rsa.PublicKey; priv: forge.pki.rsa.PrivateKey; privPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    pub: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey,
    priv: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey,
    privPem: privateKey,
  };
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive
  return b.toString('hex');
}

// Backdated a little: clocks of the API server and the manager's node may differ.
const SKEW_MS = 5 * 60_000;

export function createCa(commonName: string, validityMs: number, now = new Date()): Ca {
  const { pub, priv, privPem } = keyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = pub;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - SKEW_MS);
  cert.validity.notAfter = new Date(now.getTime() + validityMs);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(priv, forge.md.sha256.create());
  return {
    key: priv,
    cert,
    certPem: forge.pki.certificateToPem(cert),
    keyPem: privPem,
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
  };
}

/** A serving certificate for the given DNS names, signed by the CA. */
export function issueServingCert(
  ca: Ca,
  dnsNames: readonly string[],
  validityMs: number,
  now = new Date(),
): Issued {
  const { pub, privPem } = keyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = pub;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - SKEW_MS);
  const notAfter = Math.min(now.getTime() + validityMs, ca.notAfter.getTime());
  cert.validity.notAfter = new Date(notAfter);
  cert.setSubject([{ name: 'commonName', value: dnsNames[0] ?? 'agent-injector' }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: dnsNames.map((value) => ({ type: 2, value })) },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  return {
    certPem: forge.pki.certificateToPem(cert),
    keyPem: privPem,
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
  };
}

/** The names the API server uses to reach a Service-backed webhook (it verifies `<svc>.<ns>.svc`). */
export function serviceDnsNames(
  service: string,
  namespace: string,
  clusterDomain = 'cluster.local',
): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.${clusterDomain}`,
  ];
}
