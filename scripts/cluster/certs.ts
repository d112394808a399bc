// Certificates for the local control plane, made with the openssl CLI: a CA, the API server's
// serving certificate for 127.0.0.1, an admin client certificate (system:masters) and the
// service-account signing key pair.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PKI_DIR } from './paths.js';

export interface Pki {
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

const file = (name: string): string => path.join(PKI_DIR, name);

export const PKI: Pki = {
  caCert: file('ca.crt'),
  caKey: file('ca.key'),
  apiserverCert: file('apiserver.crt'),
  apiserverKey: file('apiserver.key'),
  adminCert: file('admin.crt'),
  adminKey: file('admin.key'),
  serviceAccountKey: file('sa.key'),
  serviceAccountPub: file('sa.pub'),
};

const openssl = (...args: string[]): void => {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

function signedCert(name: string, subject: string, extensions: string): void {
  const csr = file(`${name}.csr`);
  const ext = file(`${name}.ext`);
  writeFileSync(ext, extensions);
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', file(`${name}.key`), '-out', csr, '-subj', subject);
  openssl('x509', '-req', '-in', csr, '-CA', PKI.caCert, '-CAkey', PKI.caKey, '-CAcreateserial',
    '-days', '3650', '-out', file(`${name}.crt`), '-extfile', ext);
}

export function ensurePki(): Pki {
  if (Object.values(PKI).every((f) => existsSync(f))) return PKI;
  mkdirSync(PKI_DIR, { recursive: true });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', PKI.caKey, '-out', PKI.caCert, '-days', '3650', '-subj', '/CN=inference-cascade-local-ca');
  signedCert('apiserver', '/CN=kube-apiserver', [
    'basicConstraints=CA:FALSE',
    'keyUsage=digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,' +
      'DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1',
  ].join('\n'));
  signedCert('admin', '/O=system:masters/CN=cluster-admin', [
    'basicConstraints=CA:FALSE',
    'keyUsage=digitalSignature,keyEncipherment',
    'extendedKeyUsage=clientAuth',
  ].join('\n'));
  openssl('genrsa', '-out', PKI.serviceAccountKey, '2048');
  openssl('rsa', '-in', PKI.serviceAccountKey, '-pubout', '-out', PKI.serviceAccountPub);
  return PKI;
}
