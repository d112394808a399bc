import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN_DIR = path.join(ROOT, '.bin');
export const CLUSTER_DIR = path.join(ROOT, '.cluster');
export const PKI_DIR = path.join(CLUSTER_DIR, 'pki');
export const LOG_DIR = path.join(CLUSTER_DIR, 'logs');
export const STATE_FILE = path.join(CLUSTER_DIR, 'state.json');
/** The admin kubeconfig that `npm run cluster:up` promises (shared/design/REPORTS.md). */
export const KUBECONFIG = path.join(CLUSTER_DIR, 'kubeconfig');
export const AUDIT_LOG = path.join(CLUSTER_DIR, 'audit.log');

export const binary = (name: string): string => path.join(BIN_DIR, name);
