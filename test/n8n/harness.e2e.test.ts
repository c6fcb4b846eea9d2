// Proves the end-to-end harness on a real n8n 2.41.1: a packed community package is loaded as
// `<package>.<node>`, "Connect my account" against the test IdP stores oauthTokenData, a webhook
// workflow runs the package's node with that credential, and the CLI runs next to the server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIdp, type Idp } from '../stack/idp';
import { executeWorkflow, exportCredential, importWorkflows, installN8n, n8nAtLeast, startN8n, stopN8n } from './cli';
import { N8nClient, nodeOutput } from './client';
import { packProbePackage, PROBE_CREDENTIAL_TYPE, PROBE_NODE_TYPE } from './probe-package';

const CLIENT = { clientId: 'e2e-harness-client', clientSecret: 'e2e-harness-secret-not-real' };

let idp: Idp;
let n8n: N8nClient;
let workDir: string;

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

beforeAll(async () => {
	await installN8n(); // a no-op once the cache is complete
	idp = await startIdp();
	idp.addClient(CLIENT);
	workDir = mkdtempSync(join(tmpdir(), 'n8n-harness-'));
	await startN8n({ packageTarball: packProbePackage(workDir) });
	n8n = N8nClient.fromEnv();
	await n8n.login();
}, 30 * 60_000);

afterAll(async () => {
	await stopN8n();
	await idp?.stop();
	if (workDir) rmSync(workDir, { recursive: true, force: true });
}, 60_000);

async function connectedCredential(name: string): Promise<string> {
	const credential = await n8n.createCredential({
		name,
		type: PROBE_CREDENTIAL_TYPE,
		data: { ...CLIENT, idpUrl: idp.url, tenantId: 'test-tenant' },
	});
	const connect = await n8n.connectOAuth2(credential.id);
	expect(connect).toMatchObject({ status: 200, ok: true });
	return credential.id;
}

test('n8n loads the installed package as <package>.<node> and its credential as an oAuth2Api', async () => {
	const nodeTypes = await n8n.nodeTypes();
	expect(nodeTypes.map((t) => t.name)).toContain(PROBE_NODE_TYPE);
	const credentialTypes = await n8n.credentialTypes();
	expect(credentialTypes.find((t) => t.name === PROBE_CREDENTIAL_TYPE)?.extends).toEqual(['oAuth2Api']);
});

test('Connect my account exchanges the code at the IdP and stores oauthTokenData', async () => {
	idp.reset();
	const id = await connectedCredential('connect');
	expect(idp.tokenRequests).toEqual([expect.objectContaining({ grantType: 'authorization_code', clientId: CLIENT.clientId, status: 200 })]);
	const exported = await exportCredential(id);
	const data = isRecord(exported.data) ? exported.data : {};
	const token = isRecord(data.oauthTokenData) ? data.oauthTokenData : {};
	expect(token).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String), refresh_token: expect.any(String) });
	// n8n 2.33+ records the expiry at Connect; n8n 2.0 stores none (the nodes then refresh each run).
	if (n8nAtLeast('2.33.0')) expect(Number(token.n8n_expires_at)).toBeGreaterThan(Date.now());
	else expect(token.n8n_expires_at).toBeUndefined();
});

test('a webhook workflow runs the package node with the connected credential', async () => {
	const id = await connectedCredential('webhook');
	const path = `harness-${Date.now()}`;
	const workflow = await n8n.deployWorkflow({
		name: path,
		nodes: [
			{ name: 'Webhook', type: 'n8n-nodes-base.webhook', typeVersion: 2, position: [0, 0], parameters: { path, httpMethod: 'POST', responseMode: 'lastNode' } },
			{ name: 'E2E Probe', type: PROBE_NODE_TYPE, typeVersion: 1, position: [200, 0], parameters: {}, credentials: { [PROBE_CREDENTIAL_TYPE]: { id, name: 'webhook' } } },
		],
		connections: { Webhook: { main: [[{ node: 'E2E Probe', type: 'main', index: 0 }]] } },
	});
	const answer = await n8n.callWebhook(path, { body: { hello: 'world' } });
	expect(answer.status).toBe(200);
	expect(answer.json).toMatchObject({ hasAccessToken: true, hasRefreshToken: true, input: { body: { hello: 'world' } } });

	const execution = await n8n.waitForExecution(workflow.id);
	expect(execution.status).toBe('success');
	expect(nodeOutput(execution, 'E2E Probe')).toEqual([expect.objectContaining({ hasAccessToken: true })]);
	await n8n.deleteWorkflow(workflow.id);
});

test('the CLI imports and executes a workflow next to the running server', async () => {
	const id = await connectedCredential('cli');
	await importWorkflows([
		{
			id: 'harnessCliWf0001',
			name: 'harness cli',
			active: false,
			nodes: [
				{ id: 'n1', name: 'Start', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} },
				{ id: 'n2', name: 'E2E Probe', type: PROBE_NODE_TYPE, typeVersion: 1, position: [200, 0], parameters: {}, credentials: { [PROBE_CREDENTIAL_TYPE]: { id, name: 'cli' } } },
			],
			connections: { Start: { main: [[{ node: 'E2E Probe', type: 'main', index: 0 }]] } },
			settings: {},
		},
	]);
	const run = await executeWorkflow('harnessCliWf0001');
	const result = isRecord(run.result) ? run.result : {};
	expect(JSON.stringify(result)).toContain('"hasAccessToken":true');
}, 120_000);
