import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query } from '@nestjs/common';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import {
  CanTerminateSchema,
  CreatePodBodySchema,
  CreateTargonPodBodySchema,
  CreateLiumPodBodySchema,
  PodActionSchema,
  PodIdSchema,
  PodListQuerySchema,
  PodListSchema,
  PodSchema,
  PodUpdatedSchema,
  UpdatePodBodySchema,
  type Pod,
} from '@volt/pods-contracts';
import { findPod, listPods, podDetail, runSecondsAt, type PodRow } from '@volt/pods-infra';
import { podUsage } from '@volt/billing-infra';
import { resourceIdFor, sendCommand } from '../commands';
import { Access } from '../http/access';
import { ApiException, parseWith } from '../http/api-error';
import { CurrentCaller, type Caller } from '../http/caller';
import { ApiDoc } from '../openapi/api-doc';

type Action = { id: string; status: Pod['status']; message: string };

/** Seed 000's pods, with seed 002's can-terminate. Reads come from the session-state read model (and billing's meters for cost). */
@Controller('api/volt/pods')
export class PodsController {
  constructor(@Inject(RUNTIME) private readonly runtime: VoltRuntime) {}

  private async row(caller: Caller, id: string): Promise<PodRow> {
    const row = PodIdSchema.safeParse(id).success ? await findPod(this.runtime.db, caller.tenantId, id) : undefined;
    if (!row) throw ApiException.of('NOT_FOUND', 'Pod not found.');
    return row;
  }

  /** The pod as its read model has it, with uptime and cost from billing's meters (what the ledger charges). */
  private async detail(caller: Caller, id: string): Promise<Pod> {
    const row = await this.row(caller, id);
    // A pod that has never run has no meters (storage is metered from its first stop): nothing to ask billing.
    const neverRan = row.run_seconds === 0 && row.running_since === null;
    return podDetail(row, neverRan ? { uptime_hours: 0, total_cost: 0 } : await podUsage(this.runtime.db, caller.tenantId, row.pod_id));
  }

  private send<T>(caller: Caller, type: string, data: unknown): Promise<T> {
    return sendCommand<T>(this.runtime, caller, 'pods', type, data).catch((error) => {
      // Seed 003's stale_inventory body names the request, so the customer can quote it.
      if (error instanceof ApiException && error.body.code === 'STALE_INVENTORY') throw new ApiException({ ...error.body, request_id: caller.requestId });
      throw error;
    });
  }

  @Get()
  @ApiDoc({ summary: 'List pods (Lium and Targon), newest first', query: PodListQuerySchema, response: PodListSchema })
  @Access({ scope: 'pods' })
  list(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    return listPods(this.runtime.db, caller.tenantId, parseWith(PodListQuerySchema, query, 'query'));
  }

  @Get(':id')
  @ApiDoc({ summary: 'Get a pod with its IP, ports, uptime and cost', response: PodSchema })
  @Access({ scope: 'pods' })
  async get(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<Pod> {
    // Both read models caught up with the store first, so that status, uptime and cost agree with
    // each other and with what any process (the reconciler, another instance) wrote a moment
    // before: a stop answered a moment ago is not still accruing. (A create's own answer needs no
    // catch-up: its reply waited for the pods read model, and a new pod has no meter yet.)
    await this.runtime.catchUps.of(['pods', 'billing']);
    return this.detail(caller, id);
  }

  @Get(':id/can-terminate')
  @ApiDoc({ summary: 'Whether a spot pod has met its minimum runtime (minutes)', response: CanTerminateSchema })
  @Access({ scope: 'pods' })
  async canTerminate(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    const row = await this.row(caller, id);
    const runtime = Math.floor(runSecondsAt(row, new Date()) / 60);
    const minimumRuntime = row.instance_type === 'spot' ? row.minimum_runtime_minutes : 0;
    const timeRemaining = row.status === 'running' ? Math.max(0, minimumRuntime - runtime) : 0;
    return { canTerminate: timeRemaining === 0, runtime, timeRemaining, minimumRuntime };
  }

  @Post()
  @HttpCode(201)
  @ApiDoc({ summary: 'Create a Lium pod (machine_id, template_id) or a Targon confidential pod (provider: "targon")', body: CreatePodBodySchema, response: PodSchema })
  @Access({ scope: 'pods', limit: 'pod-create' })
  async create(@CurrentCaller() caller: Caller, @Body() body: unknown): Promise<Pod> {
    const targon = typeof body === 'object' && body !== null && (body as { provider?: unknown }).provider === 'targon';
    const podId = resourceIdFor(caller, 'pod');
    const requestedAt = new Date().toISOString();
    const common = { podId, requestedAt, name: '', sshKeyIds: [] as string[] };
    let data;
    if (targon) {
      const b = parseWith(CreateTargonPodBodySchema, body, 'body');
      data = { ...common, name: b.name ?? podId, provider: 'targon', machineId: null, resourceName: b.resource_name, templateId: null, image: b.image, maxCostPerHour: b.cost_per_hour, sshKeyIds: b.ssh_key_ids, gpuCount: 1, volumeSizeGb: 0 };
    } else {
      const b = parseWith(CreateLiumPodBodySchema, body, 'body');
      data = { ...common, name: b.name ?? podId, provider: 'lium', machineId: b.machine_id, resourceName: null, templateId: b.template_id, image: null, maxCostPerHour: null, sshKeyIds: b.ssh_key_ids, gpuCount: b.gpu_count, volumeSizeGb: b.volume_size_gb };
    }
    const created = await this.send<{ podId: string }>(caller, 'CreatePod', data);
    return this.detail(caller, created.podId);
  }

  @Put(':id')
  @ApiDoc({ summary: 'Rename a pod or change its SSH keys; grow its volume or change its GPUs only while stopped', body: UpdatePodBodySchema, response: PodUpdatedSchema })
  @Access({ scope: 'pods' })
  async update(@CurrentCaller() caller: Caller, @Param('id') id: string, @Body() body: unknown) {
    const existing = await this.row(caller, id);
    const b = parseWith(UpdatePodBodySchema, body, 'body');
    await this.send(caller, 'UpdatePod', {
      podId: existing.pod_id,
      name: b.name,
      sshKeyIds: b.ssh_key_ids,
      volumeSizeGb: b.volume_size_gb,
      gpuCount: b.gpu_count,
      requestedAt: new Date().toISOString(),
    });
    const r = await this.row(caller, id);
    return { id: r.pod_id, name: r.name, status: r.status, ssh_keys: r.ssh_key_ids, volume_size_gb: r.volume_size_gb, gpu_count: r.gpu_count, message: 'Pod updated successfully.' };
  }

  @Post(':id/start')
  @HttpCode(200)
  @ApiDoc({ summary: 'Start a stopped pod; billing resumes once it is running', response: PodActionSchema })
  @Access({ scope: 'pods' })
  async start(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<Action> {
    const existing = await this.row(caller, id);
    return this.send<Action>(caller, 'StartPod', { podId: existing.pod_id, requestedAt: new Date().toISOString() });
  }

  @Post(':id/stop')
  @HttpCode(200)
  @ApiDoc({ summary: 'Stop a running pod; GPU billing pauses, storage is kept', response: PodActionSchema })
  @Access({ scope: 'pods' })
  async stop(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<Action> {
    const existing = await this.row(caller, id);
    return this.send<Action>(caller, 'StopPod', { podId: existing.pod_id, requestedAt: new Date().toISOString() });
  }

  @Delete(':id')
  @ApiDoc({ summary: 'Delete a pod permanently and destroy its instance', response: PodActionSchema })
  @Access({ scope: 'pods' })
  async remove(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<Action> {
    const existing = await this.row(caller, id);
    return this.send<Action>(caller, 'DeletePod', { podId: existing.pod_id, requestedAt: new Date().toISOString() });
  }
}
