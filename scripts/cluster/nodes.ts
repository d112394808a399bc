// kwok's fake nodes: CPU nodes for the cheap variants, a tainted GPU node for full precision.
// They carry the GPU label and taint that the operator's placement rules target, and the annotation
// that sends metrics-server to kwok's emulated kubelet resource metrics for the node.
import { GPU_NODE_LABEL, GPU_RESOURCE, GPU_TAINT } from '../../operator/desired/placement.js';

interface NodeOptions {
  name: string;
  gpus?: number;
}

export function fakeNode({ name, gpus = 0 }: NodeOptions): Record<string, unknown> {
  const resources: Record<string, string> = { cpu: '256', memory: '1Ti', pods: '2000' };
  if (gpus > 0) resources[GPU_RESOURCE] = String(gpus);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: {
        'kwok.x-k8s.io/node': 'fake',
        'node.alpha.kubernetes.io/ttl': '0',
        // kwok serves every node's kubelet resource metrics on one port under a per-node path;
        // metrics-server scrapes the path this annotation names instead of /metrics/resource.
        'metrics.k8s.io/resource-metrics-path': `/metrics/nodes/${name}/metrics/resource`,
      },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
        ...(gpus > 0 ? { [GPU_NODE_LABEL]: 'true' } : {}),
      },
    },
    spec: gpus > 0 ? { taints: [GPU_TAINT] } : {},
    status: { allocatable: resources, capacity: resources, nodeInfo: { architecture: 'amd64', operatingSystem: 'linux', kubeletVersion: 'fake' } },
  };
}

export function fakeNodes(cpuNodes = 2, gpuNodes = 1, gpusPerNode = 128): Record<string, unknown>[] {
  return [
    ...Array.from({ length: cpuNodes }, (_, i) => fakeNode({ name: `kwok-cpu-${i}` })),
    ...Array.from({ length: gpuNodes }, (_, i) => fakeNode({ name: `kwok-gpu-${i}`, gpus: gpusPerNode })),
  ];
}
