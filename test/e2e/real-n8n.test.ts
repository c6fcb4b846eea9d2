// The package inside a real n8n 2.41.1, installed from its `npm pack` tarball as a community
// package, against the real mail stack (Entra-like IdP, Postfix, Dovecot): it loads, "Connect my
// account" stores tokens (REST and a real Chromium), the examples run through `n8n execute`, a
// stale token is refreshed once and persisted even for two simultaneous executions, and the
// credential's Test button answers. One n8n start for the whole file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { executeWorkflow, exportCredential, importCredentials, importWorkflows, n8nAtLeast } from '../n8n/cli';
import type { N8nClient } from '../n8n/client';
import { mailStackConfig } from '../stack/mailstack';
import {
	appOnlyCredentialData,
	artifactPath,
	CREDENTIAL_TYPE,
	cliRunDocument,
	DELEGATED_SCOPE,
	delegatedCredentialData,
	E2E_CLIENT,
	e2eTokenRequests,
	findMessage,
	idpAdmin,
	idpVerify,
	isRecord,
	openBrowser,
	PACKAGE,
	record,
	REPO,
	signIn,
	startPackedN8n,
	type PackedN8n,
} from './support';

jest.setTimeout(180_000);

const stack = mailStackConfig();
const admin = idpAdmin(stack);
const EXAMPLE_CREDENTIAL = { id: 'm365MailCred01', name: 'Microsoft 365 Mail (reports mailbox)' };
const WEEKLY = 'm365WeeklyRpt01';
const HEALTH = 'm365HealthChk01';

let n8n: N8nClient;
let instance: PackedN8n | undefined;

beforeAll(async () => {
	instance = await startPackedN8n(stack);
	n8n = instance.n8n;
}, 30 * 60_000);

afterAll(async () => {
	await instance?.stop();
}, 120_000);

async function storedToken(id: string): Promise<Record<string, unknown>> {
	return record(record((await exportCredential(id)).data).oauthTokenData);
}

/** Puts token data straight into n8n's database (import:credentials overwrites the row with that id). */
async function storeCredential(id: string, name: string, data: Record<string, unknown>): Promise<void> {
	await importCredentials([{ id, name, type: CREDENTIAL_TYPE, data }]);
}

function runData(result: unknown): Record<string, Array<Record<string, unknown>>> {
	const runs = record(record(record(record(result).data).resultData).runData);
	return Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, Array.isArray(v) ? v.filter(isRecord) : []]));
}

/** Items of a node's output `output` (0 = first) in a CLI run. */
function cliItems(result: unknown, node: string, output = 0): Array<Record<string, unknown>> {
	const run = runData(result)[node]?.[0];
	const main = record(record(run).data).main;
	const items: unknown = Array.isArray(main) ? main[output] : undefined;
	return Array.isArray(items) ? items.filter(isRecord).map((i) => record(i.json)) : [];
}

describe('package load', () => {
	test('n8n lists both nodes, their Tool variants and the credential type', async () => {
		const names = (await n8n.nodeTypes()).map((t) => t.name);
		for (const node of ['sendReportEmail', 'verifyMailbox', 'sendReportEmailTool', 'verifyMailboxTool']) {
			expect(names).toContain(`${PACKAGE}.${node}`);
		}
		const credential = (await n8n.credentialTypes()).find((t) => t.name === CREDENTIAL_TYPE);
		expect(credential).toMatchObject({ displayName: 'Microsoft 365 Mail OAuth2 API', extends: ['oAuth2Api'] });
	});
});

describe('Connect my account (REST)', () => {
	test('authorize URL -> IdP -> callback; n8n stores refresh_token and n8n_expires_at', async () => {
		const since = Date.now();
		const credential = await n8n.createCredential({ name: 'e2e connect', type: CREDENTIAL_TYPE, data: delegatedCredentialData(stack) });
		const connect = await n8n.connectOAuth2(credential.id);
		expect(connect).toMatchObject({ ok: true, status: 200 });
		const authorize = new URL(connect.authorizeUrl);
		expect(`${authorize.origin}${authorize.pathname}`).toBe(stack.authorizeUrl);
		expect(authorize.searchParams.get('scope')).toBe(DELEGATED_SCOPE);
		// As n8n's own Microsoft credentials: an admin signed in elsewhere is asked which account to use.
		expect(authorize.searchParams.get('prompt')).toBe('select_account');
		expect(authorize.searchParams.get('redirect_uri')).toBe(`${n8n.baseUrl}/rest/oauth2-credential/callback`);
		expect(await e2eTokenRequests(since)).toEqual([expect.objectContaining({ grantType: 'authorization_code', status: 200 })]);

		const token = await storedToken(credential.id);
		expect(token).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String), scope: expect.stringContaining('SMTP.Send') });
		// n8n 2.33+ records the expiry at Connect; n8n 2.0 stores none (the nodes then refresh each run).
		if (n8nAtLeast('2.33.0')) expect(Number(token.n8n_expires_at)).toBeGreaterThan(Date.now());
		else expect(token.n8n_expires_at).toBeUndefined();
		expect(await idpVerify(String(token.access_token), 'alice@example.test')).toMatchObject({ ok: true });
	});
});

describe('examples executed by n8n (n8n execute)', () => {
	beforeAll(async () => {
		await storeCredential(EXAMPLE_CREDENTIAL.id, EXAMPLE_CREDENTIAL.name, delegatedCredentialData(stack));
		expect(await n8n.connectOAuth2(EXAMPLE_CREDENTIAL.id)).toMatchObject({ ok: true });
		const example = (file: string): Record<string, unknown> => record(JSON.parse(readFileSync(join(REPO, 'examples', file), 'utf8')));
		await importWorkflows([
			{ ...example('weekly-report.json'), id: WEEKLY },
			{ ...example('mailbox-health-check.json'), id: HEALTH },
		]);
	}, 180_000);

	test('weekly report: sent through Postfix, found over IMAP in Dovecot with its table and CSV', async () => {
		const run = await executeWorkflow(WEEKLY);
		// A failed node has no items: show its error instead of an empty list.
		expect(record(runData(run.result)['Send Report Email']?.[0]).error).toBeUndefined();
		const sent = cliItems(run.result, 'Send Report Email');
		expect(sent).toEqual([expect.objectContaining({ accepted: ['reports@example.test'], rejected: [], response: expect.stringMatching(/^250 /) })]);

		const mail = await findMessage('reports@example.test', String(sent[0].messageId));
		expect(mail.subject).toMatch(/^Weekly service report – week \d+, \d{4}$/);
		expect(mail.messageId).toBe(sent[0].messageId);
		expect(mail.from?.value[0]?.address).toBe('alice@example.test');
		expect(mail.html || '').toContain('Northwind Traders');
		expect(mail.html || '').toContain('&lt;b&gt;VPN&lt;/b&gt; renewal due'); // escaped, not markup
		expect(mail.text || '').toContain('Fabrikam & Sons');
		const csv = mail.attachments.find((a) => a.filename === 'weekly-service-report.csv');
		expect(csv?.contentType).toMatch(/^text\/csv/);
		const lines = csv?.content.toString('utf8').replace(/^\uFEFF/, '').trim().split(/\r?\n/) ?? [];
		expect(lines[0]).toContain('Client');
		expect(lines).toHaveLength(5); // header + four clients
		expect(lines.join('\n')).toContain('Tailspin Toys');
	});

	test('health check: Verified, the alert branch stays idle', async () => {
		const run = await executeWorkflow(HEALTH);
		expect(cliItems(run.result, 'Verify Mailbox')).toEqual([expect.objectContaining({ status: 'Verified', mailbox: 'alice@example.test', failedCheck: null })]);
		expect(runData(run.result)['Alert the admin']).toBeUndefined();
	});

	test('health check: Not Verified when bob signed in for alice\'s mailbox; the alert branch runs', async () => {
		// A genuine refusal: valid tokens of another user (bob) stored for alice's mailbox, fresh by
		// n8n_expires_at; a refresh would only bring bob's token again. As in Exchange, SMTP logs in
		// as bob (accepted); Dovecot refuses bob opening alice's mailbox (no Full Access).
		const bob = await admin.issueTokens({ clientId: E2E_CLIENT.clientId, user: 'bob@example.test', scope: DELEGATED_SCOPE });
		await storeCredential(EXAMPLE_CREDENTIAL.id, EXAMPLE_CREDENTIAL.name, {
			...delegatedCredentialData(stack),
			oauthTokenData: { ...bob, n8n_expires_at: String(Date.now() + 3_600_000) },
		});
		const run = await executeWorkflow(HEALTH);
		const result = cliRunDocument(run.stdout);
		const [verify] = cliItems(result, 'Verify Mailbox');
		expect(verify).toMatchObject({
			status: 'Not Verified',
			mailbox: 'alice@example.test',
			failedCheck: expect.any(String),
			reason: expect.any(String),
			hint: expect.any(String),
		});
		expect(verify).toMatchObject({ failedCheck: 'imap', code: 'IMAP_NO_FULL_ACCESS', hint: expect.stringContaining('Add-MailboxPermission -Identity alice@example.test -User bob@example.test -AccessRights FullAccess') });
		expect(verify.notes).toEqual(expect.arrayContaining([expect.stringContaining('Signed in as bob@example.test, for the mailbox alice@example.test')]));
		console.log('Not Verified:', JSON.stringify({ ...verify, checks: undefined, hosts: undefined }));
		// The If node routed it to the alert, and the alert ran. Through the same refused mailbox it
		// cannot go out (the example's note says so): bob may not send as alice, and the run fails.
		expect(cliItems(result, 'Not Verified?', 0)).toHaveLength(1);
		const alert = runData(result)['Alert the admin'];
		expect(alert).toHaveLength(1);
		expect(record(alert[0].error).message).toBe('SMTP: bob@example.test signed in, but may not send as alice@example.test (it needs Send As on that address).');
		// n8n 2.0's `execute --rawOutput` prints a failed run with status "running"; the failure is the
		// Alert node's error above.
		expect(result.status).toBe(n8nAtLeast('2.41.0') ? 'error' : 'running');
	});
});

describe('token persistence in n8n', () => {
	const CRED = { id: 'm365E2eStale001', name: 'e2e stale' };

	async function staleCredential(): Promise<{ token: Record<string, unknown>; since: number }> {
		const fresh = await admin.issueTokens({ clientId: E2E_CLIENT.clientId, user: 'alice@example.test', scope: DELEGATED_SCOPE });
		const token = { ...fresh, n8n_expires_at: String(Date.now() - 60_000) };
		await storeCredential(CRED.id, CRED.name, { ...delegatedCredentialData(stack), oauthTokenData: token });
		return { token, since: Date.now() };
	}

	test('a run refreshes a stale token once and n8n stores the new refresh token', async () => {
		const { token: before, since } = await staleCredential();
		const path = `e2e-persist-${Date.now()}`;
		const workflow = await n8n.deployWorkflow(webhookSendWorkflow(path, CRED));
		const answer = await n8n.callWebhook(path, { body: { run: 'persist' } });
		expect(answer.status).toBe(200);
		const refreshes = (await e2eTokenRequests(since)).filter((r) => r.grantType === 'refresh_token');
		expect(refreshes).toEqual([expect.objectContaining({ status: 200 })]);

		const after = await storedToken(CRED.id);
		expect(after.refresh_token).toEqual(expect.any(String));
		expect(after.refresh_token).not.toBe(before.refresh_token);
		expect(after.access_token).not.toBe(before.access_token);
		// n8n 2.33+ records the new expiry; older n8n keeps the stored one (the next run refreshes again).
		if (n8nAtLeast('2.33.0')) expect(Number(after.n8n_expires_at)).toBeGreaterThan(Date.now());
		else expect(Number(after.n8n_expires_at)).toBeLessThan(Date.now());
		expect(await idpVerify(String(after.access_token), 'alice@example.test')).toMatchObject({ ok: true });
		// The stored refresh token is one the IdP issued: it redeems.
		const redeem = await fetch(stack.tokenUrl, {
			method: 'POST',
			body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: String(after.refresh_token), client_id: E2E_CLIENT.clientId, client_secret: E2E_CLIENT.clientSecret }),
		});
		expect(redeem.status).toBe(200);
		await n8n.deleteWorkflow(workflow.id);
	});

	// n8n 2.30+ runs one refresh per credential at a time in a process and hands both executions its
	// result; n8n 2.0 lets each execution refresh (both succeed; the last saved token wins).
	const oneRefresh = n8nAtLeast('2.30.0');
	test(`two simultaneous webhook executions with the same stale credential: both succeed, ${oneRefresh ? 'one refresh' : 'each refreshes'}`, async () => {
		const { since } = await staleCredential();
		const path = `e2e-concurrent-${Date.now()}`;
		const workflow = await n8n.deployWorkflow(webhookSendWorkflow(path, CRED));
		await admin.setDelay(300); // widen the window in which both executions need the token
		const answers = await Promise.all([1, 2].map((i) => n8n.callWebhook(path, { body: { run: `concurrent ${i}` } })));
		await admin.setDelay(0);
		for (const answer of answers) {
			expect(answer.status).toBe(200);
			expect(answer.json).toMatchObject({ accepted: ['reports@example.test'] });
		}
		const refreshes = (await e2eTokenRequests(since)).filter((r) => r.grantType === 'refresh_token');
		expect(refreshes.map((r) => r.status)).toEqual(oneRefresh ? [200] : [200, 200]);
		const executions = await n8n.listExecutions({ workflowId: workflow.id });
		expect(executions.map((e) => e.status)).toEqual(['success', 'success']);
		await n8n.deleteWorkflow(workflow.id);
	});
});

function webhookSendWorkflow(path: string, credential: { id: string; name: string }): Parameters<N8nClient['deployWorkflow']>[0] {
	return {
		name: path,
		nodes: [
			{ name: 'Webhook', type: 'n8n-nodes-base.webhook', typeVersion: 2, position: [0, 0], parameters: { path, httpMethod: 'POST', responseMode: 'lastNode' } },
			{
				name: 'Send Report Email',
				type: `${PACKAGE}.sendReportEmail`,
				typeVersion: 1,
				position: [220, 0],
				credentials: { [CREDENTIAL_TYPE]: credential },
				parameters: { mode: 'perItem', to: 'reports@example.test', subject: `={{ "e2e ${path} " + $json.body.run }}`, emailFormat: 'text', text: 'sent by the e2e tier' },
			},
		],
		connections: { Webhook: { main: [[{ node: 'Send Report Email', type: 'main', index: 0 }]] } },
	};
}

describe('a shared mailbox used through a delegate (Exchange rules in Postfix and Dovecot)', () => {
	const SHARED = 'shared@example.test';

	function webhookWorkflow(path: string, credential: { id: string; name: string }, node: { name: string; type: string; parameters: Record<string, unknown> }): Parameters<N8nClient['deployWorkflow']>[0] {
		return {
			name: path,
			nodes: [
				{ name: 'Webhook', type: 'n8n-nodes-base.webhook', typeVersion: 2, position: [0, 0], parameters: { path, httpMethod: 'POST', responseMode: 'lastNode' } },
				{ ...node, typeVersion: 1, position: [220, 0], credentials: { [CREDENTIAL_TYPE]: credential } },
			],
			connections: { Webhook: { main: [[{ node: node.name, type: 'main', index: 0 }]] } },
		};
	}

	test('Connect my account as alice for shared@: the send goes From shared@ with SMTP logged in as alice, and Verify Mailbox is Verified with a round trip', async () => {
		const credential = await n8n.createCredential({ name: 'e2e shared mailbox', type: CREDENTIAL_TYPE, data: { ...delegatedCredentialData(stack), mailbox: SHARED } });
		expect(await n8n.connectOAuth2(credential.id)).toMatchObject({ ok: true });
		const ref = { id: credential.id, name: 'e2e shared mailbox' };

		const sendPath = `e2e-shared-send-${Date.now()}`;
		const send = await n8n.deployWorkflow(webhookWorkflow(sendPath, ref, {
			name: 'Send Report Email',
			type: `${PACKAGE}.sendReportEmail`,
			parameters: { mode: 'perItem', to: 'bob@example.test', subject: `e2e ${sendPath}`, emailFormat: 'text', text: 'from the shared mailbox' },
		}));
		const sent = await n8n.callWebhook(sendPath, { body: {} });
		expect(sent.status).toBe(200);
		expect(sent.json).toMatchObject({ accepted: ['bob@example.test'], loggedInAs: 'alice@example.test', envelope: { from: SHARED } });
		const mail = await findMessage('bob@example.test', String(record(sent.json).messageId));
		expect(mail.from?.value[0]?.address).toBe(SHARED);

		const verifyPath = `e2e-shared-verify-${Date.now()}`;
		const verify = await n8n.deployWorkflow(webhookWorkflow(verifyPath, ref, {
			name: 'Verify Mailbox',
			type: `${PACKAGE}.verifyMailbox`,
			parameters: { checks: ['smtp', 'imap', 'roundTrip'], options: { checkTimeout: 15, roundTripTimeout: 30 } },
		}));
		const verified = await n8n.callWebhook(verifyPath, { body: {} });
		expect(verified.status).toBe(200);
		const v = record(verified.json);
		console.log('Verify Mailbox, shared mailbox:', JSON.stringify({ ...v, hosts: undefined }));
		expect(v).toMatchObject({ status: 'Verified', mailbox: SHARED });
		const checks = (Array.isArray(v.checks) ? v.checks : []).filter(isRecord);
		const check = (name: string) => checks.find((c) => c.name === name);
		expect(check('smtp')).toMatchObject({ status: 'ok', loggedInAs: 'alice@example.test', mailbox: SHARED });
		expect(check('imap')).toMatchObject({ status: 'ok', loggedInAs: 'alice@example.test', mailbox: SHARED });
		expect(check('roundTrip')).toMatchObject({ status: 'ok', loggedInAs: 'alice@example.test', from: SHARED });
		await n8n.deleteWorkflow(send.id);
		await n8n.deleteWorkflow(verify.id);
	});
});

describe('the tenant, against an IdP that refuses multi-tenant endpoints for a single-tenant app', () => {
	test('a credential created as the README says (the tenant ID) connects and sends; "organizations" is refused with AADSTS50194', async () => {
		const orgUrl = (u: string) => u.replace(/\/[^/]+\/oauth2\/v2\.0\//, '/organizations/oauth2/v2.0/');
		const refused = await n8n.createCredential({
			name: 'e2e organizations',
			type: CREDENTIAL_TYPE,
			data: { ...delegatedCredentialData(stack), tenantId: 'organizations', customAuthUrl: orgUrl(stack.authorizeUrl), customTokenUrl: orgUrl(stack.tokenUrl) },
		});
		await expect(n8n.connectOAuth2(refused.id)).rejects.toThrow(/AADSTS50194/);

		const data = delegatedCredentialData(stack);
		expect(data).toMatchObject({ tenantId: 'test-tenant' });
		const credential = await n8n.createCredential({ name: 'e2e tenant id', type: CREDENTIAL_TYPE, data });
		expect(await n8n.connectOAuth2(credential.id)).toMatchObject({ ok: true });
		const path = `e2e-tenant-${Date.now()}`;
		const workflow = await n8n.deployWorkflow(webhookSendWorkflow(path, { id: credential.id, name: 'e2e tenant id' }));
		const answer = await n8n.callWebhook(path, { body: { run: 'tenant' } });
		expect(answer.status).toBe(200);
		expect(answer.json).toMatchObject({ accepted: ['reports@example.test'], loggedInAs: 'alice@example.test' });
		await n8n.deleteWorkflow(workflow.id);
	});
});

describe('the credential Test button (POST /rest/credentials/test)', () => {
	async function testAppOnly(secret: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
		const name = `e2e app-only ${secret.slice(0, 5)}${Object.keys(extra).length ? ' restricted' : ''}`;
		const data = { ...appOnlyCredentialData(secret, stack), ...extra };
		const created = await n8n.createCredential({ name, type: CREDENTIAL_TYPE, data });
		return record(await n8n.rest('POST', '/rest/credentials/test', { credentials: { id: created.id, name, type: CREDENTIAL_TYPE, data } }));
	}

	test('client credentials with the right secret: token fetched, OpenID configuration read, success', async () => {
		const since = Date.now();
		const answer = await testAppOnly(E2E_CLIENT.clientSecret);
		console.log('Test button, right secret:', JSON.stringify(answer));
		expect(answer).toMatchObject({ status: 'OK' });
		expect(await e2eTokenRequests(since)).toEqual([expect.objectContaining({ grantType: 'client_credentials', status: 200 })]);
	});

	test('client credentials barred from HTTP Request nodes (Allowed HTTP Request Domains: None): still success', async () => {
		const since = Date.now();
		const answer = await testAppOnly(E2E_CLIENT.clientSecret, { allowedHttpRequestDomains: 'none' });
		console.log('Test button, right secret, HTTP Request domains None:', JSON.stringify(answer));
		expect(answer).toMatchObject({ status: 'OK' });
		expect(await e2eTokenRequests(since)).toEqual([expect.objectContaining({ grantType: 'client_credentials', status: 200 })]);
	});

	test('client credentials with a wrong secret: n8n answers its own generic failure', async () => {
		const since = Date.now();
		const answer = await testAppOnly('wrong-secret-for-the-e2e-test');
		console.log('Test button, wrong secret:', JSON.stringify(answer));
		expect(answer).toMatchObject({ status: 'Error', message: expect.stringContaining('Client authentication failed') });
		expect(await e2eTokenRequests(since)).toEqual([expect.objectContaining({ grantType: 'client_credentials', status: 401 })]);
	});
});

describe('Connect in a real browser (Debian Chromium + playwright-core)', () => {
	test('sign in, open the credential, click Connect: the popup goes through the IdP and the modal shows "Account connected"', async () => {
		const credential = await n8n.createCredential({ name: 'e2e browser connect', type: CREDENTIAL_TYPE, data: delegatedCredentialData(stack) });
		const since = Date.now();
		const browser = await openBrowser();
		try {
			const page = await browser.context.newPage();
			await signIn(page, n8n.baseUrl, n8n.options.email, n8n.options.password);
			await page.goto(`${n8n.baseUrl}/home/credentials/${credential.id}`);
			const connect = page.getByRole('button', { name: /^connect/i }).first();
			await connect.waitFor({ timeout: 30_000 });
			await page.screenshot({ path: artifactPath('credential-before-connect.png') });
			const [popup] = await Promise.all([browser.context.waitForEvent('page'), connect.click()]);
			await popup.waitForEvent('close', { timeout: 30_000 }).catch(() => undefined);
			await page.getByText('Account connected').first().waitFor({ timeout: 30_000 });
			await page.screenshot({ path: artifactPath('credential-account-connected.png') });
		} finally {
			await browser.close();
		}
		expect(await e2eTokenRequests(since)).toEqual([expect.objectContaining({ grantType: 'authorization_code', status: 200 })]);
		expect(await storedToken(credential.id)).toMatchObject({ refresh_token: expect.any(String) });
	});
});
