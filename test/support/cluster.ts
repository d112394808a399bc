// Placeholder until the control-plane launcher lands: nothing is started yet.
export async function stopClusterIfStartedByTests(): Promise<void> {}
