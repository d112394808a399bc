// Reads the API server's audit log (.cluster/audit.log, writes only): the ground truth for which
// user issued which write, independent of anything the operator says about itself.
import { existsSync, readFileSync } from 'node:fs';
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

export function auditEvents(filter: (e: AuditEvent) => boolean): AuditEvent[] {
  if (!existsSync(AUDIT_LOG)) return [];
  return readFileSync(AUDIT_LOG, 'utf8').split('\n').filter(Boolean).flatMap((line) => {
    try {
      const event = JSON.parse(line) as AuditEvent;
      return filter(event) ? [event] : [];
    } catch {
      return [];
    }
  });
}

export interface WriteQuery {
  user: string;
  since: Date;
  until?: Date;
  namespace?: string;
  verbs?: string[];
  excludeResources?: string[];
}

export function writesBy({ user, since, until, namespace, verbs = ['create', 'update', 'patch', 'delete'], excludeResources = [] }: WriteQuery): AuditEvent[] {
  return auditEvents((e) => {
    const at = new Date(e.stageTimestamp);
    return e.user.username === user && verbs.includes(e.verb) && at >= since && (!until || at <= until) &&
      (!namespace || e.objectRef?.namespace === namespace) && !excludeResources.includes(e.objectRef?.resource ?? '');
  });
}
