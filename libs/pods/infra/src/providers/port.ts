import type { ProviderName } from '@volt/pods-contracts';

/** An instance as its provider describes it, in Volt's words. */
export type InstanceState = 'provisioning' | 'running' | 'stopping' | 'stopped' | 'starting' | 'terminating' | 'reclaimed';

export interface ProviderInstance {
  instanceId: string;
  /** Volt's pod id, set at create; null on instances Volt did not make. */
  tag: string | null;
  offerId: string;
  state: InstanceState;
  ip: string | null;
  sshPort: number | null;
  createdAt: string;
  /** The public keys the instance accepts now. */
  sshKeys: string[];
}

/** One offer, as the catalogue stores it. */
export interface Offer {
  machineId: string;
  provider: ProviderName;
  offerId: string;
  resourceName: string | null;
  gpuType: string;
  gpuCount: number;
  vramGb: number;
  cpuCores: number;
  ramGb: number;
  storageGb: number;
  pricePerGpuHour: number;
  availableGpus: number;
  location: string;
  confidential: boolean;
  instanceType: 'dedicated' | 'spot';
  minimumRuntimeMinutes: number;
}

export interface CreateInstance {
  tag: string;
  offerId: string;
  gpuCount: number;
  volumeGb: number;
  image: string;
  sshKeys: string[];
  envVars: Record<string, string>;
  ports: number[];
  registryAuth: { registry: string; username: string; password: string } | null;
}

export interface AttestationEvidence {
  quote: Record<string, unknown>;
  /** The signed bytes of the quote, base64: what a verifier checks the signature against. */
  quoteRaw: string;
  signature: string;
  signingKey: string;
}

/**
 * One GPU cloud behind Volt's port. Adapters own no state: they translate intents
 * into the provider's API and its answers back. Create is idempotent by tag.
 */
export interface ProviderAdapter {
  readonly name: ProviderName;
  readonly confidential: boolean;
  listOffers(): Promise<Offer[]>;
  listInstances(): Promise<ProviderInstance[]>;
  create(spec: CreateInstance): Promise<ProviderInstance>;
  start(instanceId: string, spec: { gpuCount: number; volumeGb: number; sshKeys: string[] }): Promise<void>;
  stop(instanceId: string): Promise<void>;
  /** Replaces the public keys the instance accepts (a running machine takes them at once). */
  setSshKeys(instanceId: string, sshKeys: string[]): Promise<void>;
  /** Asks for destruction; resolves also when the instance is already gone. */
  destroy(instanceId: string): Promise<void>;
  attest(instanceId: string, nonce: string): Promise<AttestationEvidence>;
  /** Volt's machine id for one of this provider's offers, and back. */
  machineIdOf(offerId: string): string;
  offerIdOf(machineId: string): string | undefined;
}

/**
 * The offer is gone (withdrawn) or has not the GPUs asked for (`soldOut`: others took them)
 * although the catalogue still listed it so.
 */
export class OfferUnavailableError extends Error {
  override readonly name = 'OfferUnavailableError';
  constructor(readonly provider: ProviderName, readonly offerId: string, detail: string, readonly soldOut = false) {
    super(`${provider} offer ${offerId} is no longer available: ${detail}`);
  }
}

/** The provider did not answer usefully after retries, or its circuit is open. */
export class ProviderUnavailableError extends Error {
  override readonly name = 'ProviderUnavailableError';
  constructor(readonly provider: ProviderName, readonly operation: string, detail: string) {
    super(`${provider} ${operation} failed: ${detail}`);
  }
}

/** The provider refused the call for a reason retrying will not fix (4xx). */
export class ProviderRejectedError extends Error {
  override readonly name = 'ProviderRejectedError';
  constructor(readonly provider: ProviderName, readonly operation: string, readonly status: number, detail: string) {
    super(`${provider} ${operation} refused (${status}): ${detail}`);
  }
}
