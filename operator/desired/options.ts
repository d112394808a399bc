export interface BuildOptions {
  variantImage: string;
  routerImage: string;
  /** Port of the inference API on every pod and Service. */
  httpPort: number;
  /** The ClusterRole each router's RoleBinding refers to (manifests/02-rbac.yaml, the chart's `<fullname>-router`). */
  routerClusterRole: string;
}

export const defaultBuildOptions: BuildOptions = {
  variantImage: 'ghcr.io/inference-cascade/variant-server:0.1.0',
  routerImage: 'ghcr.io/inference-cascade/router-sidecar:0.1.0',
  httpPort: 8080,
  routerClusterRole: 'inference-cascade-router',
};
