import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject, createPrivateKey, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SshEndpoints } from './ssh-endpoints';
import { driftedPrice, liumMachines, targonResources, type LiumMachine, type TargonResource } from './inventory';

export type ProviderName = 'lium' | 'targon';
export type Operation = 'offers' | 'list' | 'describe' | 'create' | 'start' | 'stop' | 'destroy' | 'attest' | 'keys';
/** The simulator's own lifecycle, which each provider's API renames in its own words. */
export type Phase = 'provisioning' | 'running' | 'stopping' | 'stopped' | 'starting' | 'terminating' | 'reclaimed';

export interface Instance {
  id: string;
  provider: ProviderName;
  /** The caller's label (Volt puts its pod id here); null for instances nobody asked for. */
  tag: string | null;
  offerId: string;
  gpus: number;
  volumeGb: number;
  image: string;
  sshKeys: string[];
  phase: Phase;
  phaseAt: number;
  createdAt: number;
  ip: string;
  sshPort: number;
}

/** Faults per provider, set over the admin API or SIM_FAULTS. Rates are 0..1. */
export interface Faults {
  latencyMs: number;
  errorRate: Partial<Record<Operation, number>>;
  hang: Operation[];
  /** Create does its work, then answers 500 anyway. */
  createThen500: number;
  /** Destroy answers 202 and does nothing. */
  destroyNoop: number;
  /** Running machines do not answer SSH (a broken image, a firewall). */
  sshDown: boolean;
}

export const noFaults = (): Faults => ({ latencyMs: 0, errorRate: {}, hang: [], createThen500: 0, destroyNoop: 0, sshDown: false });

export interface WorldOptions {
  stateFile?: string;
  /** How long each state change takes inside the provider. */
  transitionMs: number;
  liumCopies: number;
  targonCapacity: number;
  priceDrift: number;
  pricePeriodMs: number;
  faults?: Partial<Record<ProviderName, Partial<Faults>>>;
  /** Where the instances' SSH endpoints listen and what address the providers report for them. */
  sshHost?: string;
  /** The interface they listen on (default: sshHost). */
  sshBind?: string;
}

interface Saved {
  instances: Instance[];
  withdrawn: string[];
  signingKey: string;
}

const AFTER: Partial<Record<Phase, Phase | null>> = { provisioning: 'running', stopping: 'stopped', starting: 'running', terminating: null };

/**
 * The simulated clouds' state. Transitions are computed from timestamps when read,
 * so a restart (state reloaded from its file) carries on where it was.
 */
export class World {
  readonly lium: LiumMachine[];
  readonly targon: TargonResource[];
  readonly instances = new Map<string, Instance>();
  readonly withdrawn = new Set<string>();
  /** GPUs of a Lium machine that the provider's other customers use (not kept across restarts). */
  readonly occupied = new Map<string, number>();
  faults: Record<ProviderName, Faults>;
  transitionMs: number;
  private readonly signingKey: KeyObject;
  readonly publicKeyPem: string;
  private readonly ssh: SshEndpoints;
  private readonly sshHost: string;
  private saveTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: WorldOptions) {
    this.lium = liumMachines(options.liumCopies);
    this.targon = targonResources(options.targonCapacity);
    this.transitionMs = options.transitionMs;
    this.faults = { lium: { ...noFaults(), ...options.faults?.lium }, targon: { ...noFaults(), ...options.faults?.targon } };
    const saved = this.load();
    this.signingKey = saved ? createPrivateKey(saved.signingKey) : generateKeyPairSync('ed25519').privateKey;
    this.publicKeyPem = createPublicKey(this.signingKey).export({ type: 'spki', format: 'pem' }).toString();
    this.sshHost = options.sshHost ?? '127.0.0.1';
    this.ssh = new SshEndpoints(options.sshBind ?? this.sshHost, (id) => {
      const i = this.current(id);
      return !i ? 'gone' : i.phase === 'running' && !this.faults[i.provider].sshDown ? 'up' : 'down';
    });
    if (saved) {
      for (const i of saved.instances) {
        // Instances saved by a simulator that reported unreachable addresses get this one.
        i.ip = this.sshHost;
        this.instances.set(i.id, i);
        this.listen(i);
      }
      for (const w of saved.withdrawn) this.withdrawn.add(w);
    }
  }

  private listen(instance: Instance): void {
    this.ssh.open(instance.id, instance.sshPort, (port) => {
      instance.sshPort = port;
      this.changed();
    });
  }

  /** Stops listening for every instance (the simulator is stopping). */
  close(): void {
    this.ssh.closeAll();
  }

  private load(): Saved | undefined {
    const file = this.options.stateFile;
    if (!file || !fs.existsSync(file)) return undefined;
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Saved;
  }

  /** Writes the state soon; many changes in a burst make one write. */
  changed(): void {
    if (!this.options.stateFile || this.saveTimer) return;
    this.saveTimer = setTimeout(() => this.saveNow(), 100);
  }

  saveNow(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    const file = this.options.stateFile;
    if (!file) return;
    const saved: Saved = {
      instances: [...this.instances.values()],
      withdrawn: [...this.withdrawn],
      signingKey: this.signingKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(saved));
    fs.renameSync(`${file}.tmp`, file);
  }

  /** Brings an instance's phase up to now; returns undefined once it is gone. */
  current(id: string, now = Date.now()): Instance | undefined {
    const instance = this.instances.get(id);
    if (!instance) return undefined;
    const next = AFTER[instance.phase];
    if (next !== undefined && now - instance.phaseAt >= this.transitionMs) {
      if (next === null) {
        this.instances.delete(id);
        this.ssh.close(id);
        this.changed();
        return undefined;
      }
      instance.phase = next;
      instance.phaseAt = instance.phaseAt + this.transitionMs;
      this.changed();
    }
    return instance;
  }

  list(provider: ProviderName): Instance[] {
    const now = Date.now();
    const out: Instance[] = [];
    for (const id of [...this.instances.keys()]) {
      const i = this.current(id, now);
      if (i && i.provider === provider) out.push(i);
    }
    return out;
  }

  findByTag(provider: ProviderName, tag: string): Instance | undefined {
    return this.list(provider).find((i) => i.tag === tag && i.phase !== 'terminating');
  }

  setPhase(instance: Instance, phase: Phase): void {
    instance.phase = phase;
    instance.phaseAt = Date.now();
    this.changed();
  }

  /** The machine moves (a host migration): its SSH endpoint answers at a new port from now on. */
  move(instance: Instance): void {
    this.ssh.close(instance.id);
    instance.sshPort = this.ssh.allocate();
    this.listen(instance);
    this.changed();
  }

  setKeys(instance: Instance, sshKeys: string[]): void {
    instance.sshKeys = sshKeys;
    this.changed();
  }

  price(offerId: string, base: number): number {
    return driftedPrice(base, offerId, Date.now(), this.options.pricePeriodMs, this.options.priceDrift);
  }

  /** GPUs in use on a Lium machine, or instances of a Targon resource. */
  used(provider: ProviderName, offerId: string): number {
    let n = provider === 'lium' ? (this.occupied.get(offerId) ?? 0) : 0;
    for (const i of this.list(provider)) if (i.offerId === offerId) n += provider === 'lium' ? i.gpus : 1;
    return n;
  }

  launch(provider: ProviderName, spec: { tag: string | null; offerId: string; gpus: number; volumeGb: number; image: string; sshKeys: string[] }, phase: Phase = 'provisioning'): Instance {
    const id = provider === 'lium' ? randomBytes(16).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-') : `srv_${randomBytes(9).toString('base64url')}`;
    const instance: Instance = {
      id,
      provider,
      ...spec,
      phase,
      phaseAt: Date.now(),
      createdAt: Date.now(),
      ip: this.sshHost,
      sshPort: this.ssh.allocate(),
    };
    this.instances.set(id, instance);
    this.listen(instance);
    this.changed();
    return instance;
  }

  /** Targon's evidence: a TDX-style quote binding the caller's nonce, signed with the simulator's hardware key. */
  attest(instance: Instance, nonce: string) {
    const measure = (what: string) => createHash('sha384').update(what).digest('hex');
    const quote = {
      version: 4,
      tee: 'intel_tdx',
      server_id: instance.id,
      measurements: {
        mrtd: measure(`td:${instance.offerId}`),
        rtmr0: measure('firmware:tdvf-2026.1'),
        rtmr1: measure('kernel:6.8-tdx'),
        rtmr2: measure(`cmdline:${instance.id}`),
        rtmr3: measure(`image:${instance.image}`),
      },
      report_data: nonce,
      issued_at: new Date().toISOString(),
    };
    // The signature covers the quote's exact bytes, which travel base64-encoded beside the parsed quote.
    const raw = Buffer.from(JSON.stringify(quote));
    const signature = sign(null, raw, this.signingKey).toString('base64');
    return { quote, quote_raw: raw.toString('base64'), signature, signing_key: this.publicKeyPem };
  }

  reset(): void {
    this.instances.clear();
    this.withdrawn.clear();
    this.occupied.clear();
    this.faults = { lium: noFaults(), targon: noFaults() };
    this.transitionMs = this.options.transitionMs;
    this.changed();
  }
}
