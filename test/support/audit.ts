// Reads the API server's audit log (.cluster/audit.log, writes only): the ground truth for which
// user issued which write, independent of anything the operator says about itself. The log grows
// by megabytes per test, so it is read incrementally from where the last read stopped.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { AUDIT_LOG } from '../../scripts/cluster/paths.js';

export interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
  stageTimestamp: string;
  requestURI: string;
}

export const serviceAccountUser = (namespace: string, name: string): string => `system:serviceaccount:${namespace}:${name}`;

const WRITE_VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection'];
let offset = 0;
let partial = '';
let events: AuditEvent[] = [];

/** Only this run's events are kept: the log outlives test runs, so reading starts at its end. */
export function startAuditLog(): void {
  offset = existsSync(AUDIT_LOG) ? statSync(AUDIT_LOG).size : 0;
  partial = '';
  events = [];
}

function readNew(): void {
  if (!existsSync(AUDIT_LOG)) return;
  const size = statSync(AUDIT_LOG).size;
  if (size < offset) {
    offset = 0; // rotated
    partial = '';
  }
  if (size === offset) return;
  const fd = openSync(AUDIT_LOG, 'r');
  const buffer = Buffer.alloc(size - offset);
  readSync(fd, buffer, 0, buffer.length, offset);
  closeSync(fd);
  offset = size;
  const lines = (partial + buffer.toString('utf8')).split('\n');
  partial = lines.pop() ?? '';
  for (const line of lines) {
    if (!line) continue;
    const event = JSON.parse(line) as AuditEvent;
    if (WRITE_VERBS.includes(event.verb) && event.user.username.startsWith('system:serviceaccount:')) events.push(event);
  }
}

export interface WriteQuery {
  user: string;
  since: Date;
  until?: Date;
  namespace?: string;
  verbs?: string[];
  excludeResources?: string[];
}

/** Writes by a ServiceAccount user, as the API server recorded them. */
export function writesBy({ user, since, until, namespace, verbs = ['create', 'update', 'patch', 'delete'], excludeResources = [] }: WriteQuery): AuditEvent[] {
  readNew();
  return events.filter((e) => {
    const at = new Date(e.stageTimestamp);
    return e.user.username === user && verbs.includes(e.verb) && at >= since && (!until || at <= until) &&
      (!namespace || e.objectRef?.namespace === namespace) && !excludeResources.includes(e.objectRef?.resource ?? '');
  });
}
