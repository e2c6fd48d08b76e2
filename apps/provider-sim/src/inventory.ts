/** What the simulated clouds have to rent. Prices drift around these bases. */
export interface LiumMachine {
  id: string;
  gpu: string;
  gpus: number;
  vramGb: number;
  cpus: number;
  ramGb: number;
  diskGb: number;
  basePrice: number;
  region: string;
  rental: 'spot' | 'on_demand';
}

export interface TargonResource {
  name: string;
  gpu: string;
  gpus: number;
  vramGb: number;
  vcpus: number;
  memoryGb: number;
  diskGb: number;
  basePrice: number;
  region: string;
  capacity: number;
}

const LIUM_BASE: Omit<LiumMachine, 'id'>[] = [
  { gpu: 'RTX 4090', gpus: 4, vramGb: 24, cpus: 32, ramGb: 128, diskGb: 2000, basePrice: 0.39, region: 'US-East', rental: 'on_demand' },
  { gpu: 'RTX 4090', gpus: 8, vramGb: 24, cpus: 64, ramGb: 256, diskGb: 4000, basePrice: 0.25, region: 'EU-West', rental: 'spot' },
  { gpu: 'A100 80GB', gpus: 8, vramGb: 80, cpus: 64, ramGb: 512, diskGb: 4000, basePrice: 1.29, region: 'US-Central', rental: 'on_demand' },
  { gpu: 'A100 80GB', gpus: 4, vramGb: 80, cpus: 32, ramGb: 256, diskGb: 2000, basePrice: 1.05, region: 'EU-West', rental: 'spot' },
  { gpu: 'H100 80GB', gpus: 8, vramGb: 80, cpus: 128, ramGb: 1024, diskGb: 8000, basePrice: 2.69, region: 'US-East', rental: 'on_demand' },
  { gpu: 'H100 80GB', gpus: 8, vramGb: 80, cpus: 128, ramGb: 512, diskGb: 8000, basePrice: 2.49, region: 'EU-West', rental: 'on_demand' },
  { gpu: 'H200', gpus: 8, vramGb: 141, cpus: 128, ramGb: 1024, diskGb: 8000, basePrice: 3.49, region: 'US-West', rental: 'on_demand' },
  { gpu: 'H200', gpus: 8, vramGb: 141, cpus: 128, ramGb: 1024, diskGb: 8000, basePrice: 2.89, region: 'Asia-East', rental: 'spot' },
];

const SLUG: Record<string, string> = { 'RTX 4090': 'rtx4090', 'A100 80GB': 'a100', 'H100 80GB': 'h100', H200: 'h200' };

/** Lium's machines; `copies` repeats the fleet (a bigger cloud for benchmarks). */
export function liumMachines(copies: number): LiumMachine[] {
  const out: LiumMachine[] = [];
  const seen: Record<string, number> = {};
  for (let c = 0; c < copies; c++) {
    for (const m of LIUM_BASE) {
      const slug = SLUG[m.gpu];
      seen[slug] = (seen[slug] ?? 0) + 1;
      out.push({ ...m, id: `${slug}_${String(seen[slug]).padStart(2, '0')}` });
    }
  }
  return out;
}

export function targonResources(capacity: number): TargonResource[] {
  return [
    { name: 'h200-small', gpu: 'H200', gpus: 1, vramGb: 141, vcpus: 16, memoryGb: 128, diskGb: 1000, basePrice: 2.4, region: 'US-Central', capacity },
    { name: 'h200-large', gpu: 'H200', gpus: 8, vramGb: 141, vcpus: 128, memoryGb: 1024, diskGb: 8000, basePrice: 19.2, region: 'US-Central', capacity },
    { name: 'b200-small', gpu: 'B200', gpus: 1, vramGb: 192, vcpus: 16, memoryGb: 160, diskGb: 1000, basePrice: 5.2, region: 'US-East', capacity },
    { name: 'b200-large', gpu: 'B200', gpus: 8, vramGb: 192, vcpus: 128, memoryGb: 1280, diskGb: 8000, basePrice: 41.6, region: 'US-East', capacity },
  ];
}

/** A price that drifts ±6% on a slow sine, different per offer; `drift` 0 keeps it at base. */
export function driftedPrice(base: number, offerId: string, now: number, periodMs: number, drift: number): number {
  let phase = 0;
  for (const ch of offerId) phase = (phase * 31 + ch.charCodeAt(0)) % 1000;
  const factor = drift === 0 ? 1 : 1 + drift * Math.sin((2 * Math.PI * now) / periodMs + phase);
  return Math.round(base * factor * 100) / 100;
}
