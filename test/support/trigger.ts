/**
 * Runs a trigger node the way n8n does: n8n-core's TriggersAndPollers calls `trigger()` with a real
 * TriggerContext (static data, credentials, refresh helper, binary helpers), and `emit` / `emitError`
 * are wired like n8n's ActiveWorkflowManager wires them. On `emitError` the harness does what n8n
 * 2.41 does (ActiveWorkflowManager's trigger failure handler): it closes the trigger, records the
 * error, and queues the workflow's activation again (after 1 s, doubling while activation fails),
 * with the workflow data it activated with before. Static data is "persisted" exactly where
 * n8n persists it for triggers: when the trigger emits, and once activation has finished
 * (ActiveWorkflowManager.add -> saveStaticData). A "restart" builds a new Workflow from that saved
 * copy only, so whatever n8n would not have saved is lost, as in a crash.
 */
import * as core from 'n8n-core';
import { ExecutionLifecycleHooks, TriggerContext } from 'n8n-core';
import {
	Workflow,
	type IDataObject,
	createRunExecutionData,
	type ITriggerFunctions,
	type INode,
	type INodeExecutionData,
	type INodeParameters,
	type IRun,
	type ITriggerResponse,
	type IWorkflowExecuteAdditionalData,
	type WorkflowActivateMode,
	type WorkflowExecuteMode,
} from 'n8n-workflow';

import { CREDENTIAL_TYPE } from '../../nodes/shared/constants';
import { EXECUTION_DEFAULTS, nodeTypes, stubbed, type CredentialStore } from './engine';

export const TRIGGER_TYPE = 'n8n-nodes-m365-mail.mailTrigger';

type GetTriggerFunctions = (wf: Workflow, n: INode, data: IWorkflowExecuteAdditionalData, m: WorkflowExecuteMode, a: WorkflowActivateMode) => ITriggerFunctions;
type RunTrigger = (workflow: Workflow, node: INode, get: GetTriggerFunctions, data: IWorkflowExecuteAdditionalData, mode: WorkflowExecuteMode, activation: WorkflowActivateMode) => Promise<ITriggerResponse | undefined>;

/**
 * n8n-core's TriggersAndPollers runs `trigger()` as n8n does. n8n-core 2.41 exports it and names the
 * method runTriggerFunction; the oldest supported n8n-core (2.0, the engine-oldest project) keeps
 * it in its dist folder and names the method runTrigger.
 */
function runTrigger(...args: Parameters<RunTrigger>): ReturnType<RunTrigger> {
	let Class: unknown = Reflect.get(core, 'TriggersAndPollers');
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	if (typeof Class !== 'function') Class = Reflect.get(require('n8n-core/dist/execution-engine/triggers-and-pollers') as object, 'TriggersAndPollers');
	if (typeof Class !== 'function') throw new Error('n8n-core has no TriggersAndPollers');
	const runner: unknown = Reflect.construct(Class, []);
	const run: unknown = Reflect.get(runner as object, 'runTriggerFunction') ?? Reflect.get(runner as object, 'runTrigger');
	if (typeof run !== 'function') throw new Error('TriggersAndPollers has no runTriggerFunction/runTrigger');
	return Reflect.apply(run, runner, args) as ReturnType<RunTrigger>;
}

export interface Started {
	/** The items of the execution this emit started. */
	items: INodeExecutionData[];
	at: number;
}

let workflowCounter = 0;

export function triggerNode(parameters: INodeParameters, name = 'Mail Trigger', credential = { id: 'cred-1', name: 'M365 reports' }): INode {
	return {
		id: 'trigger-1',
		name,
		type: TRIGGER_TYPE,
		typeVersion: 1,
		position: [0, 0],
		parameters,
		credentials: { [CREDENTIAL_TYPE]: credential },
	};
}

/** One workflow with the trigger, activated and deactivated like n8n does, across "restarts". */
export class TriggerHarness {
	/** What n8n's database holds as the workflow's static data. */
	saved: IDataObject = {};

	/** Each harness is its own workflow (n8n's workflow ids are unique). */
	readonly workflowId = `wf-trigger-${++workflowCounter}`;

	readonly started: Started[] = [];

	readonly errors: Error[] = [];

	/** n8n 2.41's unique execution de-duplication keys (kept in its database across restarts). */
	readonly executionKeys = new Set<string>();

	/** Emits n8n refused because an execution with the same key exists (DuplicateExecutionError). */
	duplicatesRefused = 0;

	/** How long each started execution runs before its done promise settles. */
	executionMs = 0;

	/** Called for every emitted execution (e.g. to run the rest of a workflow). */
	onStart?: (data: INodeExecutionData[][]) => void;

	/** What the trigger logged through n8n's logger (warn and info), in order. */
	readonly log: Array<{ level: 'warn' | 'info'; message: string; at: number }> = [];

	/** Activations n8n ran again after an emitError, in order, and whether each succeeded. */
	readonly reactivations: Array<{ at: number; error?: Error }> = [];

	/** n8n 2.41's WORKFLOW_REACTIVATE_INITIAL_TIMEOUT; doubled after each failed re-activation (to 24 h). */
	reactivateMs = 1000;

	private response?: ITriggerResponse;

	private queued?: NodeJS.Timeout;

	/** Bumped by deactivate(): a queued activation still running when the workflow was deactivated is closed. */
	private deactivations = 0;

	constructor(
		readonly store: CredentialStore,
		readonly node: INode,
	) {}

	private additionalData(mode: WorkflowExecuteMode): IWorkflowExecuteAdditionalData {
		const hooks = new ExecutionLifecycleHooks(mode, 'trigger-test', {
			id: this.workflowId,
			name: 'trigger test',
			active: true,
			activeVersionId: null,
			isArchived: false,
			createdAt: new Date(),
			updatedAt: new Date(),
			nodes: [this.node],
			connections: {},
		});
		return stubbed<IWorkflowExecuteAdditionalData>({
			hooks,
			credentialsHelper: this.store,
			...EXECUTION_DEFAULTS,
		});
	}

	private newWorkflow(staticData: IDataObject = structuredClone(this.saved)): Workflow {
		return new Workflow({
			id: this.workflowId,
			nodes: [this.node],
			connections: {},
			nodeTypes,
			active: true,
			staticData,
			settings: { executionOrder: 'v1' },
		});
	}

	/** n8n's WorkflowStaticDataService.saveStaticData: writes only when something changed. */
	private persist(workflow: Workflow): void {
		if (workflow.staticData.__dataChanged !== true) return;
		const copy: IDataObject = JSON.parse(JSON.stringify(workflow.staticData)) as IDataObject;
		delete copy.__dataChanged;
		this.saved = copy;
		workflow.staticData.__dataChanged = false;
	}

	/** The trigger's cursor as n8n's database holds it. */
	get cursor(): IDataObject | undefined {
		const node = this.saved[`node:${this.node.name}`];
		return node && typeof node === 'object' && !Array.isArray(node) ? ((node as IDataObject).cursor as IDataObject | undefined) : undefined;
	}

	/**
	 * `staticData`: what n8n activates with; by default what its database holds. A re-activation after
	 * emitError uses the workflow data loaded for the failed activation instead (n8n 2.41 passes it to
	 * addQueuedWorkflowActivation): the live static data object when the database had some at that
	 * activation, else (a workflow's first activation: null in the database) an empty one.
	 */
	async activate(activation: WorkflowActivateMode = 'activate', staticData?: IDataObject): Promise<void> {
		const loadedEmpty = Object.keys(staticData ?? this.saved).length === 0;
		const workflow = this.newWorkflow(staticData);
		const node = workflow.getNode(this.node.name);
		if (!node) throw new Error('trigger node missing');
		const mode: WorkflowExecuteMode = 'trigger';
		const additionalData = this.additionalData(mode);
		// As n8n 2.41 wires it: save static data, then create the execution unless its key exists.
		const finishedRun = (): IRun => ({ data: createRunExecutionData(), finished: true, mode: 'trigger', startedAt: new Date(), storedAt: 'db', status: 'success' });
		const emit: ITriggerFunctions['emit'] = (data, _response, done, key) => {
			this.persist(workflow);
			if (key !== undefined && this.executionKeys.has(key)) {
				this.duplicatesRefused++;
				// n8n settles the done promise of a refused duplicate at once.
				setImmediate(() => done?.resolve(finishedRun()));
				return;
			}
			if (key !== undefined) this.executionKeys.add(key);
			this.started.push({ items: data[0] ?? [], at: Date.now() });
			this.onStart?.(data);
			setTimeout(() => done?.resolve(finishedRun()), this.executionMs);
		};
		const emitError = (error: Error) => {
			this.errors.push(error);
			// n8n: remove the workflow's triggers (close function), register the activation error, run
			// the error workflow, queue the activation again with the workflow data of this activation.
			void this.closeTrigger();
			const again = loadedEmpty ? {} : workflow.staticData;
			this.queueActivation(activation, again, this.reactivateMs);
		};
		const getTriggerFunctions = (wf: Workflow, n: INode, data: IWorkflowExecuteAdditionalData, m: WorkflowExecuteMode, a: WorkflowActivateMode) =>
			this.recordingLogs(new TriggerContext(wf, n, data, m, a, emit, emitError));
		this.response = await runTrigger(workflow, node, getTriggerFunctions, additionalData, mode, activation);
		this.persist(workflow);
	}

	/** n8n's addQueuedWorkflowActivation: retries after `ms`, doubling while activation fails. */
	private queueActivation(activation: WorkflowActivateMode, staticData: IDataObject, ms: number): void {
		clearTimeout(this.queued);
		const generation = this.deactivations;
		this.queued = setTimeout(() => {
			this.queued = undefined;
			this.activate(activation, staticData).then(
				() => {
					this.reactivations.push({ at: Date.now() });
					if (generation !== this.deactivations) void this.closeTrigger();
				},
				(error: unknown) => {
					this.reactivations.push({ at: Date.now(), error: error instanceof Error ? error : new Error(String(error)) });
					if (generation === this.deactivations) this.queueActivation(activation, staticData, Math.min(ms * 2, 24 * 3600 * 1000));
				},
			);
		}, ms);
	}

	/** The trigger's log lines go to `log` (n8n's logger is a service; the node reads `this.logger`). */
	private recordingLogs(ctx: TriggerContext): TriggerContext {
		// n8n-core 2.41 memoizes `logger` on first read as a fixed property: read it on a stand-in.
		const real: TriggerContext['logger'] = Reflect.get(ctx, 'logger', Object.create(ctx));
		const logger = new Proxy(real, {
			get: (target, key) =>
				key === 'warn' || key === 'info' ? (message: string) => void this.log.push({ level: key, message, at: Date.now() }) : Reflect.get(target, key),
		});
		Object.defineProperty(ctx, 'logger', { value: logger, configurable: true });
		return ctx;
	}

	private async closeTrigger(): Promise<void> {
		const response = this.response;
		this.response = undefined;
		await response?.closeFunction?.();
	}

	/** Deactivation or a graceful shutdown: n8n drops a queued re-activation and calls the close function. */
	async deactivate(): Promise<void> {
		this.deactivations++;
		clearTimeout(this.queued);
		this.queued = undefined;
		await this.closeTrigger();
	}

	/** Log lines of one level, in order. */
	logged(level: 'warn' | 'info'): string[] {
		return this.log.filter((l) => l.level === level).map((l) => l.message);
	}

	/** "Fetch test event": manual mode, the manual trigger function, what it emitted. */
	async fetchTestEvent(): Promise<INodeExecutionData[][]> {
		const workflow = this.newWorkflow();
		const node = workflow.getNode(this.node.name);
		if (!node) throw new Error('trigger node missing');
		const mode: WorkflowExecuteMode = 'manual';
		const additionalData = this.additionalData(mode);
		const getTriggerFunctions = (wf: Workflow, n: INode, data: IWorkflowExecuteAdditionalData, m: WorkflowExecuteMode, a: WorkflowActivateMode) =>
			new TriggerContext(wf, n, data, m, a);
		const response = await runTrigger(workflow, node, getTriggerFunctions, additionalData, mode, 'manual');
		try {
			const emitted = response?.manualTriggerResponse;
			await response?.manualTriggerFunction?.();
			if (!emitted) throw new Error('no manual trigger response');
			const data = await emitted;
			this.persist(workflow);
			return data;
		} finally {
			await response?.closeFunction?.();
		}
	}

	/** Waits until `n` executions have started (or fails after `ms`). */
	async waitForStarted(n: number, ms = 30_000): Promise<Started[]> {
		const until = Date.now() + ms;
		while (this.started.length < n) {
			if (Date.now() > until) throw new Error(`only ${this.started.length} of ${n} executions started within ${ms} ms`);
			if (this.errors.length) throw this.errors[0];
			await new Promise((r) => setTimeout(r, 20));
		}
		return this.started;
	}
}

export type { IRun };
