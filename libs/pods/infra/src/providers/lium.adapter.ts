import { OfferUnavailableError, ProviderRejectedError, type CreateInstance, type InstanceState, type Offer, type ProviderAdapter, type ProviderInstance } from './port';
import { z } from 'zod';
import type { ProviderHttp } from './http-client';

const count = z.number().int().min(0);

/** An executor as Lium lists it: what the catalogue keeps of it. */
const LiumExecutor = z.object({
  id: z.string().min(1),
  gpu_model: z.string().min(1),
  gpu_count: count.min(1),
  gpu_memory_gb: count,
  cpu_count: count,
  memory_gb: count,
  disk_gb: count,
  price_per_gpu_hour: z.number().min(0).finite(),
  free_gpus: count,
  region: z.string().min(1),
  rental: z.enum(['spot', 'on_demand']),
  min_rental_minutes: count,
});

const LiumPod = z.object({
  id: z.string().min(1),
  tag: z.string().nullable(),
  executor_id: z.string(),
  state: z.string(),
  public_ip: z.string().nullable(),
  ssh_port: z.number().int().nullable(),
  created_at: z.string(),
  ssh_keys: z.array(z.string()).optional(),
});
type LiumPod = z.infer<typeof LiumPod>;

const STATE: Record<string, InstanceState> = {
  PENDING: 'provisioning',
  RUNNING: 'running',
  STOPPING: 'stopping',
  STOPPED: 'stopped',
  STARTING: 'starting',
  TERMINATING: 'terminating',
  PREEMPTED: 'reclaimed',
};

function instance(p: LiumPod): ProviderInstance {
  return { instanceId: p.id, tag: p.tag, offerId: p.executor_id, state: STATE[p.state] ?? 'provisioning', ip: p.public_ip, sshPort: p.ssh_port, createdAt: p.created_at, sshKeys: p.ssh_keys ?? [] };
}

/** Lium: standard GPU machines ("executors"), spot and on-demand. */
export class LiumAdapter implements ProviderAdapter {
  readonly name = 'lium' as const;
  readonly confidential = false;

  constructor(private readonly http: ProviderHttp) {}

  machineIdOf(offerId: string): string {
    return `mach_${offerId}`;
  }

  offerIdOf(machineId: string): string | undefined {
    return machineId.startsWith('mach_') && !machineId.startsWith('mach_targon_') ? machineId.slice(5) : undefined;
  }

  async listOffers(): Promise<Offer[]> {
    const { executors } = this.http.read('offers', z.object({ executors: z.array(z.unknown()) }), await this.http.ok('offers', 'GET', '/v1/executors'));
    // An offer Volt cannot read is left out of the catalogue; the others are listed.
    return this.http.readEach('offers', LiumExecutor, executors).map((e) => ({
      machineId: this.machineIdOf(e.id),
      provider: 'lium',
      offerId: e.id,
      resourceName: null,
      gpuType: e.gpu_model,
      gpuCount: e.gpu_count,
      vramGb: e.gpu_memory_gb,
      cpuCores: e.cpu_count,
      ramGb: e.memory_gb,
      storageGb: e.disk_gb,
      pricePerGpuHour: e.price_per_gpu_hour,
      availableGpus: e.free_gpus,
      location: e.region,
      confidential: false,
      instanceType: e.rental === 'spot' ? 'spot' : 'dedicated',
      minimumRuntimeMinutes: e.min_rental_minutes,
    }));
  }

  async listInstances(): Promise<ProviderInstance[]> {
    // All or nothing: an instance left out would look gone to the reconciler.
    const { pods } = this.http.read('list', z.object({ pods: z.array(LiumPod) }), await this.http.ok('list', 'GET', '/v1/pods'));
    return pods.map(instance);
  }

  async create(spec: CreateInstance): Promise<ProviderInstance> {
    const answer = await this.http.call<unknown>('create', 'POST', '/v1/pods', {
      executor_id: spec.offerId,
      gpu_count: spec.gpuCount,
      volume_gb: spec.volumeGb,
      image: spec.image,
      ssh_keys: spec.sshKeys,
      env: spec.envVars,
      ports: spec.ports,
      registry_auth: spec.registryAuth,
      tag: spec.tag,
    });
    // 404: the executor is no longer offered; 409: it is, without that many free GPUs now.
    if (answer.status === 404 || answer.status === 409) throw new OfferUnavailableError('lium', spec.offerId, (answer.body as { detail: string }).detail, answer.status === 409);
    if (answer.status >= 400) return this.rejected('create', answer);
    return instance(this.http.read('create', LiumPod, answer.body));
  }

  async start(instanceId: string, spec: { gpuCount: number; volumeGb: number; sshKeys: string[] }): Promise<void> {
    await this.http.ok('start', 'POST', `/v1/pods/${instanceId}/start`, { gpu_count: spec.gpuCount, volume_gb: spec.volumeGb, ssh_keys: spec.sshKeys });
  }

  async stop(instanceId: string): Promise<void> {
    await this.http.ok('stop', 'POST', `/v1/pods/${instanceId}/stop`);
  }

  async setSshKeys(instanceId: string, sshKeys: string[]): Promise<void> {
    await this.http.ok('keys', 'PUT', `/v1/pods/${instanceId}/ssh-keys`, { ssh_keys: sshKeys });
  }

  async destroy(instanceId: string): Promise<void> {
    const answer = await this.http.call('destroy', 'DELETE', `/v1/pods/${instanceId}`);
    if (answer.status >= 400 && answer.status !== 404) this.rejected('destroy', answer);
  }

  attest(): Promise<never> {
    return Promise.reject(new Error('lium machines are not confidential: there is no attestation'));
  }

  private rejected(operation: string, answer: { status: number; body: unknown }): never {
    throw new ProviderRejectedError('lium', operation, answer.status, JSON.stringify(answer.body).slice(0, 200));
  }
}
