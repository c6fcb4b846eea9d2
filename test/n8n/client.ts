// A small typed REST client for a real n8n 2.41 started by test/n8n/n8n.sh: owner login, credentials,
// the OAuth2 "Connect my account" flow without a browser, node types, workflows run by webhook,
// executions. Endpoints and payloads as n8n 2.41.1 serves them (see test/n8n/README.md).
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseFlatted } from './flatted';

/** Defaults shared with test/n8n/n8n.sh (override with the same N8N_E2E_* variables). */
export const N8N_E2E_DEFAULTS = {
	port: 15678,
	email: 'owner@example.test',
	password: 'Passw0rd!mailstack',
} as const;

export interface N8nClientOptions {
	baseUrl: string;
	email: string;
	password: string;
}

export interface CredentialInput {
	name: string;
	type: string;
	data: Record<string, unknown>;
	projectId?: string;
}

export interface CredentialSummary {
	id: string;
	name: string;
	type: string;
}

export interface NodeTypeSummary {
	name: string;
	displayName: string;
	version: number | number[];
	credentials?: Array<{ name: string; required?: boolean }>;
}

export interface CredentialTypeSummary {
	name: string;
	displayName: string;
	extends?: string[];
}

export interface ConnectResult {
	/** The URL n8n sent the "browser" to (the provider's authorize endpoint). */
	authorizeUrl: string;
	/** The callback the provider redirected to, with code and state. */
	callbackUrl: string;
	status: number;
	/** n8n's callback page (HTML); contains "Connection successful" when the code exchange worked. */
	body: string;
	ok: boolean;
}

export interface WorkflowNode {
	id?: string;
	name: string;
	type: string;
	typeVersion: number;
	position: [number, number];
	parameters: Record<string, unknown>;
	credentials?: Record<string, { id: string; name: string }>;
	webhookId?: string;
}

export interface WorkflowInput {
	name: string;
	nodes: WorkflowNode[];
	connections: Record<string, unknown>;
	settings?: Record<string, unknown>;
}

export interface WorkflowSummary {
	id: string;
	name: string;
	versionId: string;
	active: boolean;
}

export interface WebhookResponse {
	status: number;
	text: string;
	/** The body parsed as JSON, or undefined if it was not JSON. */
	json: unknown;
}

export interface ExecutionSummary {
	id: string;
	workflowId: string;
	status: string;
	mode: string;
	finished: boolean;
	startedAt: string | null;
	stoppedAt: string | null;
}

/** One node's run, as in `resultData.runData[nodeName][i]`. */
export interface NodeRun {
	executionStatus?: string;
	error?: { message?: string; description?: string; [key: string]: unknown };
	data?: { main?: Array<Array<{ json: Record<string, unknown> }> | null> };
}

export interface ExecutionDetail extends ExecutionSummary {
	data: {
		resultData: {
			runData: Record<string, NodeRun[]>;
			error?: { message?: string; [key: string]: unknown };
			lastNodeExecuted?: string;
		};
	};
}

export class N8nApiError extends Error {
	constructor(
		readonly method: string,
		readonly path: string,
		readonly status: number,
		readonly body: string,
	) {
		super(`n8n ${method} ${path} -> ${status}: ${body.slice(0, 500)}`);
		this.name = 'N8nApiError';
	}
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return undefined;
	}
}

/** n8n's REST answers are `{ data: ... }`. */
function unwrap(body: unknown): unknown {
	return isRecord(body) && 'data' in body ? body.data : body;
}

interface HttpAnswer {
	status: number;
	headers: Record<string, string | string[] | undefined>;
	text: string;
}

/**
 * One HTTP exchange on its own connection (no keep-alive pool): fetch's pooled sockets sometimes
 * met n8n closing an idle keep-alive connection and failed with "other side closed".
 */
async function http(
	method: string,
	url: string,
	options: { headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
	const target = new URL(url);
	const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
	const headers: Record<string, string> = { connection: 'close', ...options.headers };
	if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
	return await new Promise<HttpAnswer>((resolve, reject) => {
		const req = send(target, { method, headers, agent: false, timeout: options.timeoutMs ?? 60_000 }, (res) => {
			const chunks: Buffer[] = [];
			res.on('data', (chunk: Buffer) => chunks.push(chunk));
			res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
			res.on('error', reject);
		});
		req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in ${options.timeoutMs ?? 60_000} ms`)));
		req.on('error', reject);
		req.end(options.body);
	});
}

function header(answer: HttpAnswer, name: string): string | undefined {
	const value = answer.headers[name];
	return Array.isArray(value) ? value[0] : value;
}

export class N8nClient {
	private cookie = '';

	constructor(readonly options: N8nClientOptions) {}

	/** From N8N_E2E_URL / N8N_E2E_PORT, N8N_E2E_OWNER_EMAIL, N8N_E2E_OWNER_PASSWORD (as n8n.sh). */
	static fromEnv(env: NodeJS.ProcessEnv = process.env): N8nClient {
		const port = env.N8N_E2E_PORT ?? String(N8N_E2E_DEFAULTS.port);
		return new N8nClient({
			baseUrl: (env.N8N_E2E_URL ?? `http://127.0.0.1:${port}`).replace(/\/$/, ''),
			email: env.N8N_E2E_OWNER_EMAIL ?? N8N_E2E_DEFAULTS.email,
			password: env.N8N_E2E_OWNER_PASSWORD ?? N8N_E2E_DEFAULTS.password,
		});
	}

	get baseUrl(): string {
		return this.options.baseUrl;
	}

	/** `POST /rest/login`; keeps the `n8n-auth` cookie for every later call. */
	async login(): Promise<void> {
		const res = await http('POST', `${this.baseUrl}/rest/login`, {
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ emailOrLdapLoginId: this.options.email, password: this.options.password }),
		});
		if (res.status !== 200) throw new N8nApiError('POST', '/rest/login', res.status, res.text);
		const setCookie = res.headers['set-cookie'] ?? [];
		const auth = (Array.isArray(setCookie) ? setCookie : [setCookie]).find((c) => c.startsWith('n8n-auth='));
		if (!auth) throw new Error('n8n login answered without an n8n-auth cookie');
		this.cookie = auth.split(';')[0];
	}

	/** Raw REST call with the session cookie; returns the unwrapped `data`. */
	async rest(method: string, path: string, body?: unknown): Promise<unknown> {
		if (!this.cookie) await this.login();
		const res = await http(method, `${this.baseUrl}${path}`, {
			headers: { cookie: this.cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		if (res.status < 200 || res.status >= 300) throw new N8nApiError(method, path, res.status, res.text);
		return unwrap(parseJson(res.text));
	}

	// ------------------------------------------------------------------------------ credentials

	async createCredential(input: CredentialInput): Promise<CredentialSummary> {
		const data = await this.rest('POST', '/rest/credentials', input);
		if (!isRecord(data) || typeof data.id !== 'string') throw new Error('unexpected credential answer');
		return { id: data.id, name: String(data.name), type: String(data.type) };
	}

	/** The credential as the editor sees it (secrets redacted); use the CLI's export for real values. */
	async getCredential(id: string): Promise<Record<string, unknown>> {
		const data = await this.rest('GET', `/rest/credentials/${encodeURIComponent(id)}?includeData=true`);
		if (!isRecord(data)) throw new Error('unexpected credential answer');
		return data;
	}

	async deleteCredential(id: string): Promise<void> {
		await this.rest('DELETE', `/rest/credentials/${encodeURIComponent(id)}`);
	}

	/** `GET /rest/oauth2-credential/auth?id=` -> the provider's authorize URL (one-time state, 5 min). */
	async oauth2AuthorizeUrl(credentialId: string): Promise<string> {
		const url = await this.rest('GET', `/rest/oauth2-credential/auth?id=${encodeURIComponent(credentialId)}`);
		if (typeof url !== 'string') throw new Error('unexpected oauth2 auth answer');
		return url;
	}

	/**
	 * "Connect my account" without a browser: follows the authorize URL through the provider's
	 * redirects (no cookie sent there) until it points back at n8n, then opens n8n's callback with
	 * the session cookie, which makes n8n exchange the code and store `oauthTokenData`.
	 */
	async connectOAuth2(credentialId: string): Promise<ConnectResult> {
		const authorizeUrl = await this.oauth2AuthorizeUrl(credentialId);
		let url = authorizeUrl;
		for (let hop = 0; hop < 10 && !url.startsWith(`${this.baseUrl}/`); hop++) {
			const res = await http('GET', url);
			const location = header(res, 'location');
			if (res.status < 300 || res.status >= 400 || !location) {
				throw new Error(`OAuth provider did not redirect (${res.status}) at ${url}: ${res.text.slice(0, 300)}`);
			}
			url = new URL(location, url).toString();
		}
		if (!url.startsWith(`${this.baseUrl}/`)) throw new Error(`OAuth redirects never came back to n8n (last: ${url})`);
		if (!this.cookie) await this.login();
		const res = await http('GET', url, { headers: { cookie: this.cookie } });
		return {
			authorizeUrl,
			callbackUrl: url,
			status: res.status,
			body: res.text,
			ok: res.status === 200 && res.text.includes('Connection successful'),
		};
	}

	// ------------------------------------------------------------------------------- node types

	/** Every node type the server loaded (`/types/nodes.json`, needs the session since 2.x). */
	async nodeTypes(): Promise<NodeTypeSummary[]> {
		const data = await this.rest('GET', '/types/nodes.json');
		if (!Array.isArray(data)) throw new Error('unexpected /types/nodes.json answer');
		return data.filter(isRecord).map((t) => ({
			name: String(t.name),
			displayName: String(t.displayName),
			version: Array.isArray(t.version) ? t.version.map(Number) : Number(t.version),
			credentials: Array.isArray(t.credentials)
				? t.credentials.filter(isRecord).map((c) => ({ name: String(c.name), required: c.required === true }))
				: undefined,
		}));
	}

	async credentialTypes(): Promise<CredentialTypeSummary[]> {
		const data = await this.rest('GET', '/types/credentials.json');
		if (!Array.isArray(data)) throw new Error('unexpected /types/credentials.json answer');
		return data.filter(isRecord).map((t) => ({
			name: String(t.name),
			displayName: String(t.displayName),
			extends: Array.isArray(t.extends) ? t.extends.map(String) : undefined,
		}));
	}

	// -------------------------------------------------------------------------------- workflows

	async createWorkflow(input: WorkflowInput): Promise<WorkflowSummary> {
		// The editor gives every webhook node a webhookId; n8n 2.0 registers no production webhook
		// for a node without one (n8n 2.41 does), so give one as the editor would.
		const nodes = input.nodes.map((n) => (n.type === 'n8n-nodes-base.webhook' && !n.webhookId ? { ...n, webhookId: randomUUID() } : n));
		const data = await this.rest('POST', '/rest/workflows', { active: false, settings: {}, ...input, nodes });
		return toWorkflowSummary(data);
	}

	/** Publishes (activates) the workflow so its webhooks listen on /webhook/<path>. */
	async activateWorkflow(workflow: Pick<WorkflowSummary, 'id' | 'versionId'>): Promise<WorkflowSummary> {
		const data = await this.rest('POST', `/rest/workflows/${encodeURIComponent(workflow.id)}/activate`, {
			versionId: workflow.versionId,
		});
		return toWorkflowSummary(data);
	}

	async deactivateWorkflow(id: string): Promise<void> {
		await this.rest('POST', `/rest/workflows/${encodeURIComponent(id)}/deactivate`, {});
	}

	/**
	 * Archives (which unpublishes) and then deletes a workflow: n8n 2.x deletes archived workflows only.
	 * Unpublishing finishes in the background; until it has, DELETE answers 409 "still being
	 * unpublished", which is retried for up to 15 s.
	 */
	async deleteWorkflow(id: string): Promise<void> {
		const path = `/rest/workflows/${encodeURIComponent(id)}`;
		await this.rest('POST', `${path}/archive`, {});
		const deadline = Date.now() + 15_000;
		for (;;) {
			try {
				await this.rest('DELETE', path);
				return;
			} catch (error) {
				if (!(error instanceof N8nApiError && error.status === 409) || Date.now() > deadline) throw error;
				await new Promise((resolve) => setTimeout(resolve, 250));
			}
		}
	}

	/** Creates and activates in one go. */
	async deployWorkflow(input: WorkflowInput): Promise<WorkflowSummary> {
		return await this.activateWorkflow(await this.createWorkflow(input));
	}

	/**
	 * Calls a production webhook (`/webhook/<path>`) of an active workflow. Right after activation
	 * n8n 2.41 may still answer 404 "not registered" for a moment; such answers (which run nothing)
	 * are retried for up to `waitRegisteredMs`.
	 */
	async callWebhook(
		path: string,
		options: { method?: string; body?: unknown; headers?: Record<string, string>; waitRegisteredMs?: number } = {},
	): Promise<WebhookResponse> {
		const deadline = Date.now() + (options.waitRegisteredMs ?? 15_000);
		for (;;) {
			const res = await http(options.method ?? 'POST', `${this.baseUrl}/webhook/${path.replace(/^\//, '')}`, {
				headers: { ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
				body: options.body === undefined ? undefined : JSON.stringify(options.body),
			});
			const notRegistered = res.status === 404 && res.text.includes('is not registered');
			if (!notRegistered || Date.now() > deadline) return { status: res.status, text: res.text, json: parseJson(res.text) };
			await new Promise((r) => setTimeout(r, 250));
		}
	}

	// ------------------------------------------------------------------------------- executions

	async listExecutions(filter: { workflowId?: string; status?: string; limit?: number } = {}): Promise<ExecutionSummary[]> {
		const query = new URLSearchParams({ limit: String(filter.limit ?? 50) });
		const f: Record<string, string> = {};
		if (filter.workflowId) f.workflowId = filter.workflowId;
		if (filter.status) f.status = filter.status;
		if (Object.keys(f).length) query.set('filter', JSON.stringify(f));
		const data = await this.rest('GET', `/rest/executions?${query.toString()}`);
		const results = isRecord(data) && Array.isArray(data.results) ? data.results : [];
		return results.filter(isRecord).map(toExecutionSummary);
	}

	/**
	 * `listExecutions`, asked again (up to 20 times, 0.5 s apart) while it fails: under load n8n may
	 * answer 503 "Database is not ready!" for a moment.
	 */
	async listExecutionsPatiently(filter: { workflowId?: string; status?: string; limit?: number } = {}): Promise<ExecutionSummary[]> {
		for (let attempt = 1; ; attempt++) {
			try {
				return await this.listExecutions(filter);
			} catch (error: unknown) {
				if (attempt >= 20) throw error;
				await new Promise<void>((r) => setTimeout(r, 500));
			}
		}
	}

	/** One execution with its run data (n8n sends it "flatted"; decoded here). */
	async getExecution(id: string): Promise<ExecutionDetail> {
		const data = await this.rest('GET', `/rest/executions/${encodeURIComponent(id)}`);
		if (!isRecord(data)) throw new Error('unexpected execution answer');
		const runData = typeof data.data === 'string' ? parseFlatted(data.data) : data.data;
		const resultData = isRecord(runData) && isRecord(runData.resultData) ? runData.resultData : {};
		return {
			...toExecutionSummary(data),
			data: {
				resultData: {
					runData: isRecord(resultData.runData) ? (resultData.runData as Record<string, NodeRun[]>) : {},
					error: isRecord(resultData.error) ? resultData.error : undefined,
					lastNodeExecuted: typeof resultData.lastNodeExecuted === 'string' ? resultData.lastNodeExecuted : undefined,
				},
			},
		};
	}

	/** Waits until the workflow has a finished execution (newest first), or fails after timeoutMs. */
	async waitForExecution(workflowId: string, timeoutMs = 30_000): Promise<ExecutionDetail> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const done = (await this.listExecutions({ workflowId, limit: 1 })).find(
				(e) => !['new', 'running', 'waiting'].includes(e.status),
			);
			if (done) return await this.getExecution(done.id);
			if (Date.now() > deadline) throw new Error(`no finished execution of workflow ${workflowId} after ${timeoutMs} ms`);
			await new Promise((r) => setTimeout(r, 250));
		}
	}
}

/** The items a node produced on its first output in its first run. */
export function nodeOutput(execution: ExecutionDetail, nodeName: string): Array<Record<string, unknown>> {
	const run = execution.data.resultData.runData[nodeName]?.[0];
	return (run?.data?.main?.[0] ?? []).map((item) => item.json);
}

function toWorkflowSummary(data: unknown): WorkflowSummary {
	if (!isRecord(data) || typeof data.id !== 'string') throw new Error('unexpected workflow answer');
	return { id: data.id, name: String(data.name), versionId: String(data.versionId), active: data.active === true };
}

function toExecutionSummary(e: Record<string, unknown>): ExecutionSummary {
	const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
	return {
		id: String(e.id),
		workflowId: String(e.workflowId),
		status: String(e.status),
		mode: String(e.mode),
		finished: e.finished === true,
		startedAt: str(e.startedAt),
		stoppedAt: str(e.stoppedAt),
	};
}
