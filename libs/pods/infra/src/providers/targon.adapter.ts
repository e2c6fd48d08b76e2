import { OfferUnavailableError, ProviderRejectedError, type AttestationEvidence, type CreateInstance, type InstanceState, type Offer, type ProviderAdapter, type ProviderInstance } from './port';
import { z } from 'zod';
import type { ProviderHttp } from './http-client';

const count = z.number().int().min(0);

/** A resource as Targon lists it: what the catalogue keeps of it. */
const TargonResource = z.object({
  name: z.string().min(1),
  gpu_type: z.string().min(1),
  gpus: count.min(1),
  vram_gb: count,
  vcpus: count,
  memory_gb: count,
  disk_gb: count,
  hourly_cost: z.number().min(0).finite(),
  region: z.string().min(1),
  available: count,
});

const TargonServer = z.object({
  uid: z.string().min(1),
  label: z.string().nullable(),
  resource: z.string(),
  status: z.string(),
  ipv4: z.string().nullable(),
  ssh_port: z.number().int().nullable(),
  created: z.number(),
  ssh_keys: z.array(z.string()).optional(),
});
type TargonServer = z.infer<typeof TargonServer>;

const TargonEvidence = z.object({ data: z.object({ quote: z.record(z.string(), z.unknown()), quote_raw: z.string(), signature: z.string(), signing_key: z.string() }) });

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
    const { data } = this.http.read('offers', z.object({ data: z.array(z.unknown()) }), await this.http.ok('offers', 'GET', '/api/resources'));
    // A resource Volt cannot read is left out of the catalogue; the others are listed.
    return this.http.readEach('offers', TargonResource, data).map((r) => ({
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
    // All or nothing: an instance left out would look gone to the reconciler.
    const { data } = this.http.read('list', z.object({ data: z.array(TargonServer) }), await this.http.ok('list', 'GET', '/api/servers'));
    return data.map(instance);
  }

  async create(spec: CreateInstance): Promise<ProviderInstance> {
    const answer = await this.http.call<unknown>('create', 'POST', '/api/servers', {
      resource: spec.offerId,
      image: spec.image,
      label: spec.tag,
      ssh_keys: spec.sshKeys,
    });
    if (answer.status === 409 || answer.status === 404) throw new OfferUnavailableError('targon', spec.offerId, (answer.body as { error: { message: string } }).error.message);
    if (answer.status >= 400) throw new ProviderRejectedError('targon', 'create', answer.status, JSON.stringify(answer.body).slice(0, 200));
    return instance(this.http.read('create', z.object({ data: TargonServer }), answer.body).data);
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
    const { data } = this.http.read('attest', TargonEvidence, await this.http.ok('attest', 'GET', `/api/servers/${instanceId}/attestation?nonce=${nonce}`));
    return { quote: data.quote, quoteRaw: data.quote_raw, signature: data.signature, signingKey: data.signing_key };
  }
}
