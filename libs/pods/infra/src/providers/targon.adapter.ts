import { OfferUnavailableError, ProviderRejectedError, type AttestationEvidence, type CreateInstance, type InstanceState, type Offer, type ProviderAdapter, type ProviderInstance } from './port';
import type { ProviderHttp } from './http-client';

interface TargonResource {
  name: string;
  gpu_type: string;
  gpus: number;
  vram_gb: number;
  vcpus: number;
  memory_gb: number;
  disk_gb: number;
  hourly_cost: number;
  region: string;
  available: number;
}

interface TargonServer {
  uid: string;
  label: string | null;
  resource: string;
  status: string;
  ipv4: string | null;
  ssh_port: number | null;
  created: number;
  ssh_keys?: string[];
}

const STATE: Record<string, InstanceState> = {
  provisioning: 'provisioning',
  active: 'running',
  powering_off: 'stopping',
  off: 'stopped',
  powering_on: 'starting',
  terminating: 'terminating',
  preempted: 'reclaimed',
};

function instance(s: TargonServer): ProviderInstance {
  return { instanceId: s.uid, tag: s.label, offerId: s.resource, state: STATE[s.status] ?? 'provisioning', ip: s.ipv4, sshPort: s.ssh_port, createdAt: new Date(s.created * 1000).toISOString(), sshKeys: s.ssh_keys ?? [] };
}

/** Targon: confidential compute on Intel TDX, rented by resource name, with attestation evidence per server. */
export class TargonAdapter implements ProviderAdapter {
  readonly name = 'targon' as const;
  readonly confidential = true;

  constructor(private readonly http: ProviderHttp) {}

  machineIdOf(offerId: string): string {
    return `mach_targon_${offerId.replace(/-/g, '_')}`;
  }

  offerIdOf(machineId: string): string | undefined {
    return machineId.startsWith('mach_targon_') ? machineId.slice('mach_targon_'.length).replace(/_/g, '-') : undefined;
  }

  async listOffers(): Promise<Offer[]> {
    const { data } = await this.http.ok<{ data: TargonResource[] }>('offers', 'GET', '/api/resources');
    return data.map((r) => ({
      machineId: this.machineIdOf(r.name),
      provider: 'targon',
      offerId: r.name,
      resourceName: r.name,
      gpuType: r.gpu_type,
      gpuCount: r.gpus,
      vramGb: r.vram_gb,
      cpuCores: r.vcpus,
      ramGb: r.memory_gb,
      storageGb: r.disk_gb,
      pricePerGpuHour: Math.round((r.hourly_cost / r.gpus) * 100) / 100,
      availableGpus: r.available > 0 ? r.gpus : 0,
      location: r.region,
      confidential: true,
      instanceType: 'dedicated',
      minimumRuntimeMinutes: 0,
    }));
  }

  async listInstances(): Promise<ProviderInstance[]> {
    const { data } = await this.http.ok<{ data: TargonServer[] }>('list', 'GET', '/api/servers');
    return data.map(instance);
  }

  async create(spec: CreateInstance): Promise<ProviderInstance> {
    const answer = await this.http.call<{ data: TargonServer } | { error: { code: string; message: string } }>('create', 'POST', '/api/servers', {
      resource: spec.offerId,
      image: spec.image,
      label: spec.tag,
      ssh_keys: spec.sshKeys,
    });
    if (answer.status === 409 || answer.status === 404) throw new OfferUnavailableError('targon', spec.offerId, (answer.body as { error: { message: string } }).error.message);
    if (answer.status >= 400) throw new ProviderRejectedError('targon', 'create', answer.status, JSON.stringify(answer.body).slice(0, 200));
    return instance((answer.body as { data: TargonServer }).data);
  }

  async start(instanceId: string): Promise<void> {
    await this.http.ok('start', 'POST', `/api/servers/${instanceId}/power`, { state: 'on' });
  }

  async stop(instanceId: string): Promise<void> {
    await this.http.ok('stop', 'POST', `/api/servers/${instanceId}/power`, { state: 'off' });
  }

  async setSshKeys(instanceId: string, sshKeys: string[]): Promise<void> {
    await this.http.ok('keys', 'PATCH', `/api/servers/${instanceId}`, { ssh_keys: sshKeys });
  }

  async destroy(instanceId: string): Promise<void> {
    const answer = await this.http.call('destroy', 'DELETE', `/api/servers/${instanceId}`);
    if (answer.status >= 400 && answer.status !== 404) throw new ProviderRejectedError('targon', 'destroy', answer.status, JSON.stringify(answer.body).slice(0, 200));
  }

  async attest(instanceId: string, nonce: string): Promise<AttestationEvidence> {
    const { data } = await this.http.ok<{ data: { quote: Record<string, unknown>; quote_raw: string; signature: string; signing_key: string } }>('attest', 'GET', `/api/servers/${instanceId}/attestation?nonce=${nonce}`);
    return { quote: data.quote, quoteRaw: data.quote_raw, signature: data.signature, signingKey: data.signing_key };
  }
}
