/**
 * A task (a config reload) that callers may ask for at any time. Asked while idle, it runs; asked
 * while it runs, one more run follows that one, shared by everyone who asked meanwhile: the run in
 * progress may have read its input before their change, so they never get its stale answer.
 */
export function coalesced<T>(task: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let queued: Promise<T> | undefined;
  const start = (): Promise<T> => {
    running = task().finally(() => {
      running = undefined;
    });
    return running;
  };
  const settled = (): undefined => undefined;
  return () => {
    if (queued) return queued;
    if (!running) return start();
    queued = running.then(settled, settled).then(() => {
      queued = undefined;
      return start();
    });
    return queued;
  };
}
