// How the cascade's pods stop. On SIGTERM a server first fails readiness while still serving for
// SHUTDOWN_DELAY_MS, long enough for endpoint removal to reach every kube-proxy, then stops
// listening and drains (the variant server for at most its 20 s drain timeout, the router for at
// most one hard request timeout): 5 s + 20 s stays inside the 30 s grace period.
export const SHUTDOWN_DELAY_MS = 5000;
export const TERMINATION_GRACE_SECONDS = 30;
