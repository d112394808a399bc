// Where a model may be loaded from. A model URI names a folder (or file) and must not be able to
// step out of it: URL parsing turns "%2e%2e" into "..", so "file:///models/%2e%2e/etc/passwd"
// would otherwise load /etc/passwd. The same rules hold in the CRD (CEL), the router's config
// parser, the router's local model lookup and the variant server.
import { fileURLToPath } from 'node:url';

export const MODEL_URI_SCHEMES = ['file', 'http', 'https', 's3', 'gs', 'pvc'] as const;
export class ModelUriError extends Error {
  override name = 'ModelUriError';
}

/**
 * Returns why `uri` is not an acceptable model URI, or undefined when it is: a known scheme; no
 * percent-encoded '.', '/' or '\'; no '.' or '..' path segments; no backslashes; a file:// URI
 * with no host other than localhost.
 */
export function modelUriProblem(uri: string): string | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(uri)?.[1]?.toLowerCase();
  if (!scheme || !(MODEL_URI_SCHEMES as readonly string[]).includes(scheme)) {
    return `must be a ${MODEL_URI_SCHEMES.map((s) => `${s}://`).join(', ')} URI`;
  }
  if (/\s/.test(uri)) return 'must not contain spaces';
  if (/%(2e|2f|5c)/i.test(uri)) return "must not percent-encode '.', '/' or a backslash";
  if (uri.includes('\\')) return 'must not contain backslashes';
  const path = uri.slice(scheme.length + 3).replace(/[?#].*$/, '');
  if (path.split('/').some((segment) => segment === '..' || segment === '.')) return "must not contain '.' or '..' path segments";
  if (scheme === 'file' && !/^(localhost)?\//i.test(path)) return 'a file:// URI must have no host (file:///path)';
  return undefined;
}

/** Throws a ModelUriError naming `field` when the URI is not acceptable. */
export function checkModelUri(uri: string, field = 'model.uri'): string {
  const problem = modelUriProblem(uri);
  if (problem) throw new ModelUriError(`${field} "${uri}": ${problem}`);
  return uri;
}

/** The local path a checked file:// URI names. */
export function modelUriPath(uri: string, field = 'model.uri'): string {
  checkModelUri(uri, field);
  if (!uri.toLowerCase().startsWith('file://')) throw new ModelUriError(`${field} "${uri}": only file:// URIs name a local path`);
  return fileURLToPath(uri.replace(/^file:\/\/localhost\//i, 'file:///'));
}
