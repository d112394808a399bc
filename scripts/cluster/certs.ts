// Certificates for the local control plane, made with the openssl CLI: a CA, the API server's
// serving certificate for 127.0.0.1, an admin client certificate (system:masters), the
// service-account signing key pair, and for the metrics API: a front-proxy CA with the client
// certificate the API server's aggregator presents to metrics-server (requestheader
// authentication), metrics-server's serving certificate (for the name the aggregator dials,
// metrics-server.kube-system.svc) and the serving certificate of kwok's emulated kubelet.
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
  frontProxyCaCert: string;
  frontProxyCaKey: string;
  frontProxyClientCert: string;
  frontProxyClientKey: string;
  metricsServerCert: string;
  metricsServerKey: string;
  kwokCert: string;
  kwokKey: string;
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
  frontProxyCaCert: file('front-proxy-ca.crt'),
  frontProxyCaKey: file('front-proxy-ca.key'),
  frontProxyClientCert: file('front-proxy-client.crt'),
  frontProxyClientKey: file('front-proxy-client.key'),
  metricsServerCert: file('metrics-server.crt'),
  metricsServerKey: file('metrics-server.key'),
  kwokCert: file('kwok.crt'),
  kwokKey: file('kwok.key'),
};

/** The common name the aggregator's client certificate carries (--requestheader-allowed-names). */
export const FRONT_PROXY_CLIENT = 'front-proxy-client';

const openssl = (...args: string[]): void => {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

function selfSignedCa(cert: string, key: string, subject: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '3650', '-subj', subject);
}

function signedCert(name: string, subject: string, extensions: string, ca = { cert: PKI.caCert, key: PKI.caKey }): void {
  const csr = file(`${name}.csr`);
  const ext = file(`${name}.ext`);
  writeFileSync(ext, extensions);
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', file(`${name}.key`), '-out', csr, '-subj', subject);
  openssl('x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial',
    '-days', '3650', '-out', file(`${name}.crt`), '-extfile', ext);
}

const serverCert = (sans: string): string => [
  'basicConstraints=CA:FALSE',
  'keyUsage=digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth',
  `subjectAltName=${sans}`,
].join('\n');

const clientCert = [
  'basicConstraints=CA:FALSE',
  'keyUsage=digitalSignature,keyEncipherment',
  'extendedKeyUsage=clientAuth',
].join('\n');

const CORE: (keyof Pki)[] = ['caCert', 'caKey', 'apiserverCert', 'apiserverKey', 'adminCert', 'adminKey', 'serviceAccountKey', 'serviceAccountPub'];

/**
 * Creates what is missing. A new CA means every certificate is made again; an existing CA is kept
 * (and with it kubeconfigs written before), and only the certificates added later are created.
 */
export function ensurePki(): Pki {
  mkdirSync(PKI_DIR, { recursive: true });
  const fresh = !CORE.every((k) => existsSync(PKI[k]));
  const missing = (...keys: (keyof Pki)[]): boolean => fresh || !keys.every((k) => existsSync(PKI[k]));
  if (fresh) {
    selfSignedCa(PKI.caCert, PKI.caKey, '/CN=inference-cascade-local-ca');
    signedCert('apiserver', '/CN=kube-apiserver', serverCert(
      'DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,' +
        'DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1'));
    signedCert('admin', '/O=system:masters/CN=cluster-admin', clientCert);
    openssl('genrsa', '-out', PKI.serviceAccountKey, '2048');
    openssl('rsa', '-in', PKI.serviceAccountKey, '-pubout', '-out', PKI.serviceAccountPub);
  }
  const newFrontProxyCa = missing('frontProxyCaCert', 'frontProxyCaKey');
  if (newFrontProxyCa) selfSignedCa(PKI.frontProxyCaCert, PKI.frontProxyCaKey, '/CN=inference-cascade-front-proxy-ca');
  if (newFrontProxyCa || missing('frontProxyClientCert', 'frontProxyClientKey')) {
    signedCert('front-proxy-client', `/CN=${FRONT_PROXY_CLIENT}`, clientCert,
      { cert: PKI.frontProxyCaCert, key: PKI.frontProxyCaKey });
  }
  if (missing('metricsServerCert', 'metricsServerKey')) {
    signedCert('metrics-server', '/CN=metrics-server', serverCert(
      'DNS:metrics-server.kube-system.svc,DNS:metrics-server.kube-system.svc.cluster.local,DNS:localhost,IP:127.0.0.1'));
  }
  // kwok serves every fake node's kubelet API on one port; the nodes' InternalIP is 127.0.0.1.
  if (missing('kwokCert', 'kwokKey')) signedCert('kwok', '/CN=kwok-kubelet', serverCert('DNS:localhost,IP:127.0.0.1'));
  return PKI;
}
