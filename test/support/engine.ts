/**
 * Runs workflow JSON through n8n-core's real WorkflowExecute, with the package's node types and a
 * credentials helper that really stores credential data (so a test can see a refresh persisted).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

if (!process.env.N8N_USER_FOLDER) {
	// A throw-away n8n user folder (binary data store included) for this process, removed at exit.
	// Under jest the workers are killed rather than exit: jest.config.js gives them a parent folder
	// (N8N_M365_TMP) that the main jest process removes.
	const folder = mkdtempSync(path.join(process.env.N8N_M365_TMP ?? tmpdir(), 'n8n-m365-engine-'));
	process.env.N8N_USER_FOLDER = folder;
	process.once('exit', () => rmSync(folder, { recursive: true, force: true }));
}
// n8n-core wants an instance key; without one it generates and announces it on every run
process.env.N8N_ENCRYPTION_KEY ??= 'n8n-nodes-m365-mail-engine-tests';

import { BinaryDataService, ExecutionLifecycleHooks, WorkflowExecute } from 'n8n-core';
import {
	ICredentialsHelper,
	Workflow,
	createRunExecutionData,
	type ICredentialDataDecryptedObject,
	type ICredentials,
	type IConnections,
	type IDataObject,
	type IHttpRequestOptions,
	type INode,
	type INodeCredentialsDetails,
	type INodeExecutionData,
	type INodeParameters,
	type INodeProperties,
	type INodeType,
	type INodeTypes,
	type IRun,
	type IVersionedNodeType,
	type IWorkflowExecuteAdditionalData,
	type WorkflowExecuteMode,
} from 'n8n-workflow';

import { MicrosoftMailOAuth2Api } from '../../credentials/MicrosoftMailOAuth2Api.credentials';
// `.node.js` so that tsx does not load the codex file SendReportEmail.node.json (see jest.config.js).
import { SendReportEmail } from '../../nodes/SendReportEmail/SendReportEmail.node.js';
import { VerifyMailbox } from '../../nodes/VerifyMailbox/VerifyMailbox.node.js';
import { MailTrigger } from '../../nodes/MailTrigger/MailTrigger.node.js';
import { CREDENTIAL_TYPE } from '../../nodes/shared/constants';
import { TestItems } from './test-items.node';
import { TokenProbe } from './token-probe.node';

export const NODE_TYPES: Record<string, INodeType> = {
	'n8n-nodes-m365-mail.sendReportEmail': new SendReportEmail(),
	'n8n-nodes-m365-mail.verifyMailbox': new VerifyMailbox(),
	'n8n-nodes-m365-mail.mailTrigger': new MailTrigger(),
	'test.items': new TestItems(),
	'test.tokenProbe': new TokenProbe(),
};

const BASE_PREFIX = 'n8n-nodes-base.';
const baseTypes = new Map<string, INodeType | IVersionedNodeType>();

/**
 * Loads a node of n8n-nodes-base (Manual Trigger, Edit Fields, Split Out, If...) by its type name,
 * so example workflows run unchanged. Its file is found from the package's n8n.nodes list.
 */
function baseNodeType(name: string): INodeType | IVersionedNodeType | undefined {
	if (baseTypes.has(name)) return baseTypes.get(name);
	const short = name.slice(BASE_PREFIX.length);
	const files = (require('n8n-nodes-base/package.json') as { n8n: { nodes: string[] } }).n8n.nodes;
	const file = files.find((f) => {
		const base = path.basename(f, '.node.js');
		return base.charAt(0).toLowerCase() + base.slice(1) === short;
	});
	if (!file) return undefined;
	const mod = require(`n8n-nodes-base/${file}`) as Record<string, new () => INodeType | IVersionedNodeType>;
	const Class = Object.values(mod).find((v) => typeof v === 'function');
	if (!Class) return undefined;
	const type = new Class();
	baseTypes.set(name, type);
	return type;
}

function isVersioned(t: INodeType | IVersionedNodeType): t is IVersionedNodeType {
	return 'nodeVersions' in t;
}

class TestNodeTypes implements INodeTypes {
	getByName(nodeType: string): INodeType | IVersionedNodeType {
		const type = NODE_TYPES[nodeType] ?? (nodeType.startsWith(BASE_PREFIX) ? baseNodeType(nodeType) : undefined);
		if (!type) throw new Error(`Unknown node type ${nodeType}`);
		return type;
	}

	getByNameAndVersion(nodeType: string, version?: number): INodeType {
		const type = this.getByName(nodeType);
		return isVersioned(type) ? type.getNodeType(version) : type;
	}

	getKnownTypes() {
		return {};
	}
}

export const nodeTypes = new TestNodeTypes();
const credentialType = new MicrosoftMailOAuth2Api();

export interface StoredCredential {
	id: string;
	name: string;
	type: string;
	data: ICredentialDataDecryptedObject;
}

/** Stores credentials like n8n's database would, and records every token update. */
export class CredentialStore extends ICredentialsHelper {
	readonly credentials = new Map<string, StoredCredential>();

	/** Each `updateCredentialsOauthTokenData` call, in order (what n8n would have saved). */
	readonly tokenUpdates: Array<{ id: string; oauthTokenData: IDataObject }> = [];

	add(credential: StoredCredential): StoredCredential {
		this.credentials.set(credential.id, structuredClone(credential));
		return credential;
	}

	get(id: string): StoredCredential {
		const c = this.credentials.get(id);
		if (!c) throw new Error(`No credential ${id}`);
		return c;
	}

	tokenData(id: string): IDataObject {
		const t = this.get(id).data.oauthTokenData;
		return t && typeof t === 'object' && !Array.isArray(t) ? (t as IDataObject) : {};
	}

	getParentTypes(name: string): string[] {
		return name === CREDENTIAL_TYPE ? ['oAuth2Api'] : [];
	}

	isCredentialUsableByNode(): boolean {
		return true;
	}

	async authenticate(_c: ICredentialDataDecryptedObject, _t: string, request: IHttpRequestOptions) {
		return request;
	}

	async preAuthentication() {
		return undefined;
	}

	async runPreAuthentication() {
		return undefined;
	}

	async getCredentials(): Promise<ICredentials> {
		throw new Error('not used by these nodes');
	}

	getCredentialsProperties(type: string): INodeProperties[] {
		return type === CREDENTIAL_TYPE ? credentialType.properties : [];
	}

	/** Like n8n: stored data, then defaults and `$self` expressions resolved unless `raw`. */
	async getDecrypted(
		_additionalData: IWorkflowExecuteAdditionalData,
		nodeCredentials: INodeCredentialsDetails,
		type: string,
		mode: WorkflowExecuteMode,
		_executeData?: unknown,
		raw?: boolean,
	): Promise<ICredentialDataDecryptedObject> {
		const stored = this.get(String(nodeCredentials.id));
		if (stored.type !== type) throw new Error(`Credential ${stored.id} is a ${stored.type}, not ${type}`);
		const data: ICredentialDataDecryptedObject = structuredClone(stored.data);
		if (raw) return data;
		for (const p of this.getCredentialsProperties(type)) {
			// Hidden fields always use the type's default, as in n8n.
			if (p.type === 'notice' || p.default === undefined) continue;
			if (data[p.name] === undefined || p.type === 'hidden')
				data[p.name] = structuredClone(p.default) as ICredentialDataDecryptedObject[string];
		}
		const probe: INode = {
			id: 'cred',
			name: 'cred',
			type: 'test.items',
			typeVersion: 1,
			position: [0, 0],
			parameters: {},
		};
		const workflow = new Workflow({ nodes: [probe], connections: {}, active: false, nodeTypes });
		const resolved = workflow.expression.getComplexParameterValue(
			probe,
			data as INodeParameters,
			mode,
			{},
			undefined,
			undefined,
			data,
		);
		return resolved as ICredentialDataDecryptedObject;
	}

	async updateCredentials(
		nodeCredentials: INodeCredentialsDetails,
		_type: string,
		data: ICredentialDataDecryptedObject,
	): Promise<void> {
		const stored = this.get(String(nodeCredentials.id));
		stored.data = structuredClone(data);
	}

	async updateCredentialsOauthTokenData(
		nodeCredentials: INodeCredentialsDetails,
		_type: string,
		data: ICredentialDataDecryptedObject,
	): Promise<void> {
		const stored = this.get(String(nodeCredentials.id));
		const oauthTokenData = structuredClone(data.oauthTokenData) as IDataObject;
		stored.data = { ...stored.data, oauthTokenData };
		this.tokenUpdates.push({ id: stored.id, oauthTokenData });
	}
}

export interface RunOptions {
	nodes: INode[];
	connections: IConnections;
	store: CredentialStore;
	mode?: WorkflowExecuteMode;
	/** Node to start from (default: the first node nothing feeds into). */
	start?: string;
	/** What the start node hands on (a trigger's emitted data); default one empty item. */
	startData?: INodeExecutionData[][];
}

export interface RunResult {
	run: IRun;
	/** Output items of a node's first run, first output. */
	output(nodeName: string, outputIndex?: number): INodeExecutionData[];
	/** The error a node raised, if any. */
	error(nodeName?: string): (Error & { description?: string | null; context?: IDataObject }) | undefined;
}

let executionCounter = 0;

/** What every test execution (workflow or trigger) is given besides its hooks and credentials. */
export const EXECUTION_DEFAULTS = {
	restApiUrl: 'http://127.0.0.1:5678/rest',
	instanceBaseUrl: 'http://127.0.0.1:5678/',
	webhookBaseUrl: 'http://127.0.0.1:5678/webhook',
	webhookWaitingBaseUrl: 'http://127.0.0.1:5678/webhook-waiting',
	webhookTestBaseUrl: 'http://127.0.0.1:5678/webhook-test',
	formWaitingBaseUrl: 'http://127.0.0.1:5678/form-waiting',
	variables: {},
	userId: 'user-1',
} satisfies Partial<IWorkflowExecuteAdditionalData>;

/**
 * The engine reads only part of `IWorkflowExecuteAdditionalData`; everything not given here is
 * undefined (works inside and outside jest, e.g. for the demo and the benchmark).
 */
export function stubbed<T extends object>(given: Partial<T>): T {
	return new Proxy(given, {
		get(target, key) {
			if (key in target) return Reflect.get(target, key);
			return undefined;
		},
	}) as T;
}

/**
 * Switches n8n's binary data to its filesystem store (under N8N_USER_FOLDER), as a self-hosted n8n
 * 2.x keeps it: binaries then carry an id into the store instead of their bytes.
 */
export async function useFilesystemBinaryData(): Promise<void> {
	// n8n-core may carry its own copy of @n8n/di: use the container it registers its services in.
	const fromCore = createRequire(require.resolve('n8n-core'));
	const { Container } = fromCore('@n8n/di') as { Container: { get<T>(type: new (...args: never[]) => T): T } };
	await Container.get(BinaryDataService).init();
}

export async function runWorkflow({ nodes, connections, store, mode = 'manual', start: startName, startData }: RunOptions): Promise<RunResult> {
	const workflow = new Workflow({
		id: 'wf-test',
		nodes,
		connections,
		nodeTypes,
		active: false,
		settings: { executionOrder: 'v1' },
	});
	const executionId = String(++executionCounter);
	const hooks = new ExecutionLifecycleHooks(mode, executionId, {
		id: 'wf-test',
		name: 'test',
		active: false,
		activeVersionId: null,
		isArchived: false,
		createdAt: new Date(),
		updatedAt: new Date(),
		nodes,
		connections,
	});
	let finish: (run: IRun) => void = () => undefined;
	const finished = new Promise<IRun>((resolve) => (finish = resolve));
	hooks.addHandler('workflowExecuteAfter', (fullRunData) => finish(fullRunData));
	const additionalData = stubbed<IWorkflowExecuteAdditionalData>({
		hooks,
		executionId,
		credentialsHelper: store,
		currentNodeParameters: undefined,
		...EXECUTION_DEFAULTS,
		ssrfBridge: undefined,
		otel: undefined,
	});
	// The first node nothing feeds into starts the run (the test items node).
	const fed = new Set(Object.values(connections).flatMap((c) => (c.main ?? []).flat().map((t) => t?.node)));
	const first = startName ? nodes.find((n) => n.name === startName) : nodes.find((n) => !fed.has(n.name));
	const start = first && workflow.getNode(first.name);
	if (!start) throw new Error('workflow has no start node');
	const runExecutionData = createRunExecutionData({
		executionData: {
			nodeExecutionStack: [{ node: start, data: { main: startData ?? [[{ json: {} }]] }, source: null }],
		},
	});
	const execute = new WorkflowExecute(additionalData, mode, runExecutionData);
	await execute.processRunExecutionData(workflow);
	const run = await finished;
	return {
		run,
		output(nodeName, outputIndex = 0) {
			const taskData = run.data.resultData.runData[nodeName]?.[0];
			if (!taskData) throw new Error(`Node "${nodeName}" did not run`);
			if (taskData.error) throw new Error(`Node "${nodeName}" failed: ${taskData.error.message}`);
			return taskData.data?.main[outputIndex] ?? [];
		},
		error(nodeName) {
			const err = nodeName
				? run.data.resultData.runData[nodeName]?.[0]?.error
				: run.data.resultData.error;
			return err ?? undefined;
		},
	};
}

/** A credential as an admin would fill it in, pointing at local test servers. */
export function credentialData(overrides: ICredentialDataDecryptedObject = {}): ICredentialDataDecryptedObject {
	return {
		grantType: 'authorizationCode',
		cloud: 'global',
		tenantId: 'test-tenant',
		clientId: 'client-1',
		clientSecret: 'client-secret-value-1',
		mailbox: 'alice@example.test',
		smtpHost: '127.0.0.1',
		smtpPort: 587,
		smtpSecurity: 'starttls',
		imapHost: '127.0.0.1',
		imapPort: 993,
		allowUnauthorizedCerts: false,
		...overrides,
	};
}

/** A linear workflow: test items -> the node under test (-> more nodes). */
export function chain(
	items: Array<{ json: IDataObject; binary?: Record<string, { base64: string; fileName: string; mimeType: string }> }>,
	...steps: Array<Omit<INode, 'id' | 'position' | 'typeVersion'> & { typeVersion?: number }>
): { nodes: INode[]; connections: IConnections } {
	const nodes: INode[] = [
		{
			id: 'items',
			name: 'Items',
			type: 'test.items',
			typeVersion: 1,
			position: [0, 0],
			parameters: { items: JSON.stringify(items) },
		},
		...steps.map((s, i) => ({ typeVersion: 1, ...s, id: `n${i}`, position: [(i + 1) * 200, 0] as [number, number] })),
	];
	const connections: IConnections = {};
	for (let i = 0; i < nodes.length - 1; i++)
		connections[nodes[i].name] = { main: [[{ node: nodes[i + 1].name, type: 'main', index: 0 }]] };
	return { nodes, connections };
}
