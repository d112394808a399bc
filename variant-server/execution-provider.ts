/** Which onnxruntime execution providers to ask for: CUDA when the machine has one, CPU always. */
export type DeviceRequest = 'auto' | 'cpu' | 'cuda';

export interface DeviceFacts {
  /** An NVIDIA device node or driver is visible. */
  gpuPresent: boolean;
  /** This onnxruntime-node build lists the CUDA backend. */
  cudaBackendListed: boolean;
}

export class DeviceError extends Error {
  override name = 'DeviceError';
}

export function chooseExecutionProviders(request: DeviceRequest, facts: DeviceFacts): string[] {
  if (request === 'cpu') return ['cpu'];
  const cudaUsable = facts.gpuPresent && facts.cudaBackendListed;
  if (request === 'cuda' && !cudaUsable) {
    const missing = facts.gpuPresent ? 'this onnxruntime-node build has no CUDA backend' : 'no NVIDIA GPU is visible';
    throw new DeviceError(`device "cuda" was requested but ${missing}`);
  }
  return cudaUsable ? ['cuda', 'cpu'] : ['cpu'];
}

export function parseDeviceRequest(value: string | undefined, field: string): DeviceRequest {
  const device = value ?? 'auto';
  if (device === 'auto' || device === 'cpu' || device === 'cuda') return device;
  throw new DeviceError(`${field} must be one of auto, cpu, cuda; got "${device}"`);
}
