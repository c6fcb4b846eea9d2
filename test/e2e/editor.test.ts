// The editor as users see it, in a real n8n 2.41.1 with the packed package and headless Chromium:
// the credential form for both grant types, both node panels and an error panel are screenshotted
// into test-artifacts/ and checked by their DOM text (the error's PowerShell command and the
// server's reply must show whole: n8n renders an error description as HTML). In the same n8n:
// Retry On Fail after a mid-batch failure delivers each email once (counted over IMAP), an HTTP
// Request node cannot carry the credential's token to another server, and a report whose column
// was set by dragging (the path) has it filled.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { simpleParser } from 'mailparser';
import type { Locator, Page } from 'playwright-core';
import { N8nClient, nodeOutput, type WorkflowInput, type WorkflowNode } from '../n8n/client';
import { mailStackConfig } from '../stack/mailstack';
import {
	appOnlyCredentialData,
	artifactPath,
	CREDENTIAL_TYPE,
	delegatedCredentialData,
	E2E_CLIENT,
	findMessage,
	idpAdmin,
	isRecord,
	openBrowser,
	PACKAGE,
	record,
	signIn,
	startPackedN8n,
	type PackedN8n,
} from './support';

jest.setTimeout(240_000);

const stack = mailStackConfig();
const admin = idpAdmin(stack);
const MAILBOX = 'alice@example.test';
const RECIPIENT = 'reports@example.test';

let n8n: N8nClient;
let instance: PackedN8n | undefined;
let delegated: { id: string; name: string };
let appOnly: { id: string; name: string };

beforeAll(async () => {
	instance = await startPackedN8n(stack);
	n8n = instance.n8n;
	const d = await n8n.createCredential({ name: 'Reports mailbox (delegated)', type: CREDENTIAL_TYPE, data: delegatedCredentialData(stack) });
	expect(await n8n.connectOAuth2(d.id)).toMatchObject({ ok: true });
	delegated = { id: d.id, name: d.name };
	const a = await n8n.createCredential({ name: 'Reports mailbox (app-only)', type: CREDENTIAL_TYPE, data: appOnlyCredentialData(E2E_CLIENT.clientSecret, stack) });
	appOnly = { id: a.id, name: a.name };
}, 30 * 60_000);

afterAll(async () => {
	await instance?.stop();
}, 120_000);

type Node = WorkflowNode & { retryOnFail?: boolean; maxTries?: number; waitBetweenTries?: number };

function node(name: string, type: string, parameters: Record<string, unknown>, x: number, extra: Partial<Node> = {}): Node {
	return { name, type, typeVersion: 1, position: [x, 0], parameters, ...extra };
}

const manual = node('When clicking Execute workflow', 'n8n-nodes-base.manualTrigger', {}, 0);

function linear(name: string, nodes: Node[]): WorkflowInput {
	const connections: Record<string, unknown> = {};
	for (let i = 0; i < nodes.length - 1; i++) connections[nodes[i].name] = { main: [[{ node: nodes[i + 1].name, type: 'main', index: 0 }]] };
	return { name, nodes, connections };
}

function sendNode(parameters: Record<string, unknown>, x = 240, extra: Partial<Node> = {}): Node {
	return node('Send Report Email', `${PACKAGE}.sendReportEmail`, { to: RECIPIENT, subject: 'e2e', emailFormat: 'text', text: 'sent by the editor tier', ...parameters }, x, {
		credentials: { [CREDENTIAL_TYPE]: delegated },
		...extra,
	});
}

/** Messages in `user`'s INBOX whose subject is exactly `subject` (Dovecot, XOAUTH2). */
async function subjectsInInbox(user: string, prefix: string): Promise<string[]> {
	const { access_token: token } = await admin.issueTokens({ clientId: stack.client.clientId, user, scope: 'https://outlook.office.com/IMAP.AccessAsUser.All' });
	const client = new ImapFlow({ host: '127.0.0.1', port: stack.ports.m365Imaps, secure: true, tls: { ca: readFileSync(stack.caPath, 'utf8') }, auth: { user, accessToken: token }, logger: false });
	await client.connect();
	try {
		const lock = await client.getMailboxLock('INBOX');
		try {
			const uids = await client.search({ subject: prefix }, { uid: true });
			const subjects: string[] = [];
			for (const uid of Array.isArray(uids) ? uids : []) {
				const message = await client.fetchOne(String(uid), { source: true }, { uid: true });
				if (message && message.source) subjects.push((await simpleParser(message.source)).subject ?? '');
			}
			return subjects.filter((s) => s.startsWith(prefix));
		} finally {
			lock.release();
		}
	} finally {
		await client.logout();
	}
}

/** Opens a workflow on the canvas, as a user does. */
async function goToWorkflow(page: Page, workflowId: string): Promise<void> {
	await page.goto(`${n8n.baseUrl}/workflow/${workflowId}`);
	await page.locator('[data-test-id="canvas-node"]').first().waitFor({ timeout: 30_000 });
}

/** Opens a node's panel on the canvas shown (double click). */
async function openNode(page: Page, name: string): Promise<Locator> {
	const canvasNode = page.locator('[data-test-id="canvas-node"]').filter({ hasText: name }).first();
	await canvasNode.waitFor({ timeout: 30_000 });
	await canvasNode.dblclick();
	const ndv = page.locator('[data-test-id="ndv"]').first();
	await ndv.waitFor({ timeout: 30_000 });
	await page.waitForTimeout(500);
	return ndv;
}

describe('in the editor (headless Chromium)', () => {
	let browser: Awaited<ReturnType<typeof openBrowser>>;
	let page: Page;
	beforeAll(async () => {
		browser = await openBrowser();
		page = await browser.context.newPage();
		// One sign-in for all: n8n rate-limits logins.
		await signIn(page, n8n.baseUrl, n8n.options.email, n8n.options.password);
	}, 120_000);
	afterAll(async () => await browser?.close());

	test.each([
		['delegated', () => delegated, 'editor-credential-delegated', /press Connect at the top and sign in as the mailbox user/],
		['app-only', () => appOnly, 'editor-credential-app-only', /App-only: the tenant ID or domain and the mailbox below are required/],
	])('credential form, %s: the notice for its grant type, hints under the fields, no "Allowed HTTP Request Domains"', async (_kind, credential, file, notice) => {
		await page.goto(`${n8n.baseUrl}/home/credentials/${credential().id}`);
		const dialog = page.locator('[data-test-id="credential-edit-dialog"]').first();
		await dialog.waitFor({ timeout: 30_000 });
		await dialog.getByText('Client Secret').first().waitFor({ timeout: 30_000 });
		await page.waitForTimeout(1000);
		await dialog.screenshot({ path: artifactPath(`${file}-1.png`) });
		// The form scrolls inside the dialog: the notice and the fields below it, as a user scrolls.
		await dialog.getByText(notice).first().scrollIntoViewIfNeeded();
		await dialog.screenshot({ path: artifactPath(`${file}-2.png`) });
		await dialog.getByText('Trusted CA Certificate (PEM)').first().scrollIntoViewIfNeeded();
		await dialog.screenshot({ path: artifactPath(`${file}-3.png`) });
		const text = await dialog.innerText();
		expect(text).toMatch(notice);
		expect(text).toContain("The secret's Value (shown once when created), not its Secret ID");
		expect(text).toContain("From the app registration's Overview page");
		expect(text).not.toContain('Allowed HTTP Request Domains');
		expect(text).not.toContain('Connect my account');
	});

	test('node panels: Send Report Email (report mode) and Verify Mailbox', async () => {
		const wf = await n8n.createWorkflow(
			linear('editor panels', [
				manual,
				sendNode({ mode: 'report', subject: 'Weekly report', emailFormat: 'html', html: '<p>Hello</p>[[report]]', reportColumns: { column: [{ field: 'client', title: 'Client' }] } }),
				node('Verify Mailbox', `${PACKAGE}.verifyMailbox`, { checks: ['smtp', 'imap'] }, 480, { credentials: { [CREDENTIAL_TYPE]: delegated } }),
			]),
		);
		await page.setViewportSize({ width: 1600, height: 1400 });
		await goToWorkflow(page, wf.id);
		const send = await openNode(page, 'Send Report Email');
		await page.screenshot({ path: artifactPath('editor-node-send-report-email.png') });
		const sendText = await send.innerText();
		expect(sendText).toContain("The field's name, not its value");
		expect(sendText).toContain('Columns: leave empty to show every top-level field.');
		expect(sendText).toContain('In report mode, write [[report]] where the table goes');
		expect(await send.getByText('Add option', { exact: true }).count() + (await send.getByPlaceholder('Add option').count())).toBeGreaterThan(0);
		await page.keyboard.press('Escape');
		await page.waitForTimeout(500);
		const verify = await openNode(page, 'Verify Mailbox');
		await page.screenshot({ path: artifactPath('editor-node-verify-mailbox.png') });
		expect(await verify.innerText()).toContain('Checks');
		await page.keyboard.press('Escape');
	});

	test('a report column filled by dragging the field from the input panel: the path goes in, the column is filled', async () => {
		const subject = `e2e dragged ${Date.now()}`;
		const workflow = linear('editor drag', [manual, sendNode({ mode: 'report', subject, reportOutput: 'csv', reportColumns: { column: [{ field: '', title: 'Client' }] } })]);
		const rows = [{ json: { client: 'Northwind', tickets: 3 } }, { json: { client: 'Fabrikam', tickets: 1 } }];
		const wf = await n8n.createWorkflow({ ...workflow, pinData: { [manual.name]: rows } } as WorkflowInput);
		await page.setViewportSize({ width: 1600, height: 1400 });
		await goToWorkflow(page, wf.id);
		const ndv = await openNode(page, 'Send Report Email');
		// The field's pill in the input panel's schema view, dropped on the column's Field input.
		const source = ndv.locator('[data-test-id="ndv-input-panel"] [data-test-id="run-data-schema-item"]').filter({ hasText: 'client' }).first().getByText('client', { exact: true }).first();
		await source.waitFor({ timeout: 30_000 });
		const target = ndv.getByPlaceholder('customer.name').first();
		await target.scrollIntoViewIfNeeded();
		const from = await source.boundingBox();
		const to = await target.boundingBox();
		if (!from || !to) throw new Error('drag source or target not on screen');
		await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
		await page.mouse.down();
		await page.mouse.move(from.x + from.width / 2 + 40, from.y + from.height / 2 + 10, { steps: 5 });
		await page.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 25 });
		await page.waitForTimeout(400);
		await page.mouse.up();
		await page.waitForTimeout(800);
		await page.screenshot({ path: artifactPath('editor-report-column-dragged.png') });
		const inserted = await target.inputValue();
		expect(inserted).toBe('client');
		await page.keyboard.press('Escape');
		await page.waitForTimeout(500);
		await page.locator('[data-test-id="execute-workflow-button"]').first().click();
		const execution = await n8n.waitForExecution(wf.id, 60_000);
		const [sent] = nodeOutput(execution, 'Send Report Email');
		expect(sent.warnings).toBeUndefined();
		const mail = await findMessage(RECIPIENT, String(sent.messageId));
		expect(mail.subject).toBe(subject);
		const csv = mail.attachments.find((a) => a.filename === 'report.csv')?.content.toString('utf8').replace(/^\uFEFF/, '');
		expect(csv).toBe('Client\r\nNorthwind\r\nFabrikam\r\n');
	});

	test('an error panel: Send As refused by Postfix shows the PowerShell command with the real addresses and the server reply, whole', async () => {
		const wf = await n8n.createWorkflow(linear('editor error', [manual, sendNode({ subject: 'e2e error panel', options: { from: 'bob@example.test' } })]));
		await page.setViewportSize({ width: 1600, height: 1400 });
		await goToWorkflow(page, wf.id);
		const run = page.locator('[data-test-id="execute-workflow-button"]').first();
		await run.waitFor({ timeout: 30_000 });
		await run.click();
		await n8n.waitForExecution(wf.id, 60_000);
		await page.waitForTimeout(1500);
		const ndv = await openNode(page, 'Send Report Email');
		const descriptionBox = ndv.locator('[data-test-id="node-error-description"]').first();
		await descriptionBox.waitFor({ timeout: 30_000 });
		await page.screenshot({ path: artifactPath('editor-error-panel.png') });
		const message = await ndv.locator('[data-test-id="node-error-message"]').first().innerText();
		const description = await descriptionBox.innerText();
		console.log('Error panel:', JSON.stringify({ message, description }));
		expect(message).toBe(`SMTP: ${MAILBOX} signed in, but may not send as bob@example.test (it needs Send As on that address).`);
		expect(description).toContain(`Add-RecipientPermission -Identity bob@example.test -Trustee ${MAILBOX} -AccessRights SendAs`);
		expect(description).toMatch(/Server said: 553 5\.7\.1 <bob@example\.test>: Sender address rejected: not owned by user alice@example\.test/);
		await page.keyboard.press('Escape');
	});
});

describe('Retry On Fail after a mid-batch failure (real n8n, Postfix, Dovecot)', () => {
	test('bad input on item 2 of 3: the node fails before the first message, nothing is delivered', async () => {
		const tag = `e2e-badinput-${Date.now()}`;
		const wf = await n8n.deployWorkflow(
			linear(tag, [
				node('Webhook', 'n8n-nodes-base.webhook', { path: tag, httpMethod: 'POST', responseMode: 'onReceived' }, 0, { typeVersion: 2 }),
				node('Split Out', 'n8n-nodes-base.splitOut', { fieldToSplitOut: 'body.items', options: {} }, 200),
				sendNode({ to: '={{ $json.to }}', subject: `={{ "${tag} item " + $json.n }}` }, 400),
			]),
		);
		const items = [{ n: 1, to: RECIPIENT }, { n: 2, to: 'bob at example' }, { n: 3, to: RECIPIENT }];
		expect((await n8n.callWebhook(tag, { body: { items } })).status).toBe(200);
		const execution = await n8n.waitForExecution(wf.id, 60_000);
		expect(execution.status).toBe('error');
		expect(execution.data.resultData.runData['Send Report Email']?.[0]?.error?.message).toBe('To: "bob at example" is not an email address.');
		await new Promise((r) => setTimeout(r, 3000));
		expect(await subjectsInInbox(RECIPIENT, tag)).toEqual([]);
		await n8n.deleteWorkflow(wf.id);
	});

	test('items 1 and 3 are delivered exactly once over two tries; the error says 2 of 3 went out', async () => {
		const tag = `e2e-retry-${Date.now()}`;
		const path = tag;
		const wf = await n8n.deployWorkflow(
			linear(tag, [
				node('Webhook', 'n8n-nodes-base.webhook', { path, httpMethod: 'POST', responseMode: 'onReceived' }, 0, { typeVersion: 2 }),
				node('Split Out', 'n8n-nodes-base.splitOut', { fieldToSplitOut: 'body.items', options: {} }, 200),
				sendNode(
					{ subject: `={{ "${tag} item " + $json.n }}`, options: { from: '={{ $json.from || "" }}' } },
					400,
					{ retryOnFail: true, maxTries: 2, waitBetweenTries: 1000 },
				),
			]),
		);
		const answer = await n8n.callWebhook(path, { body: { items: [{ n: 1 }, { n: 2, from: 'bob@example.test' }, { n: 3 }] } });
		expect(answer.status).toBe(200);
		const execution = await n8n.waitForExecution(wf.id, 90_000);
		expect(execution.status).toBe('error');
		const runs = execution.data.resultData.runData['Send Report Email'] ?? [];
		expect(runs[0]?.error?.message).toBe(`SMTP: ${MAILBOX} signed in, but may not send as bob@example.test (it needs Send As on that address). (2 of 3 emails were sent before this failure.)`);
		await new Promise((r) => setTimeout(r, 3000)); // local delivery by Postfix
		const subjects = (await subjectsInInbox(RECIPIENT, tag)).sort();
		expect(subjects).toEqual([`${tag} item 1`, `${tag} item 3`]);
		await n8n.deleteWorkflow(wf.id);
	});
});

describe('a report whose column holds a dragged path (real n8n)', () => {
	test('Field "client" (what drag-and-drop inserts) fills the column; the legacy value gives a warning', async () => {
		const path = `e2e-report-${Date.now()}`;
		const wf = await n8n.deployWorkflow(
			linear(path, [
				node('Webhook', 'n8n-nodes-base.webhook', { path, httpMethod: 'POST', responseMode: 'lastNode' }, 0, { typeVersion: 2 }),
				node('Split Out', 'n8n-nodes-base.splitOut', { fieldToSplitOut: 'body.items', options: {} }, 200),
				sendNode({ mode: 'report', subject: path, reportOutput: 'csv', reportColumns: { column: [{ field: 'client', title: 'Client' }, { field: '={{ $json.client }}', title: 'Legacy' }] } }, 400),
			]),
		);
		const answer = await n8n.callWebhook(path, { body: { items: [{ client: 'Northwind' }, { client: 'Fabrikam' }] } });
		expect(answer.status).toBe(200);
		const execution = await n8n.waitForExecution(wf.id, 60_000);
		const [sent] = nodeOutput(execution, 'Send Report Email');
		expect(sent.warnings).toEqual([expect.stringContaining('Report column "Legacy" is empty: its Field holds "Northwind", a value of the field "client"')]);
		const mail = await findMessage(RECIPIENT, String(sent.messageId));
		const csv = mail.attachments.find((a) => a.filename === 'report.csv')?.content.toString('utf8').replace(/^\uFEFF/, '');
		expect(csv).toBe('Client,Legacy\r\nNorthwind,\r\nFabrikam,\r\n');
		await n8n.deleteWorkflow(wf.id);
	});
});

describe('the token stays with the mail nodes', () => {
	let server: Server;
	const seen: IncomingHttpHeaders[] = [];
	beforeAll(async () => {
		server = createServer((req, res) => {
			seen.push(req.headers);
			res.end('{}');
		});
		await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	});
	afterAll(async () => await new Promise((resolve) => server.close(resolve)));

	test('n8n serves the credential with "Allowed HTTP Request Domains" hidden and None, and no field of its own', async () => {
		const types = await n8n.rest('GET', '/types/credentials.json');
		const ours = (Array.isArray(types) ? types : []).filter(isRecord).find((t) => t.name === CREDENTIAL_TYPE);
		const fields = (Array.isArray(record(ours).properties) ? (record(ours).properties as unknown[]) : []).filter(isRecord).filter((p) => p.name === 'allowedHttpRequestDomains');
		expect(fields).toEqual([expect.objectContaining({ type: 'hidden', default: 'none' })]);
	});

	test('an HTTP Request node with this credential is refused; the other server sees no request and no token', async () => {
		const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/collect`;
		const path = `e2e-http-${Date.now()}`;
		const wf = await n8n.deployWorkflow(
			linear(path, [
				node('Webhook', 'n8n-nodes-base.webhook', { path, httpMethod: 'POST', responseMode: 'onReceived' }, 0, { typeVersion: 2 }),
				node('HTTP Request', 'n8n-nodes-base.httpRequest', { method: 'GET', url, authentication: 'predefinedCredentialType', nodeCredentialType: CREDENTIAL_TYPE, options: {} }, 220, {
					typeVersion: 4.2,
					credentials: { [CREDENTIAL_TYPE]: delegated },
				}),
			]),
		);
		expect((await n8n.callWebhook(path, { body: {} })).status).toBe(200);
		const execution = await n8n.waitForExecution(wf.id, 60_000);
		expect(execution.status).toBe('error');
		// (n8n 2.0 says "...within an HTTP Request node", without "or GraphQL".)
		expect(execution.data.resultData.runData['HTTP Request']?.[0]?.error?.message).toMatch(/^This credential is configured to prevent use within an HTTP Request( or GraphQL)? node$/);
		expect(seen).toHaveLength(0);
		await n8n.deleteWorkflow(wf.id);
	});

	test('Verify Mailbox and a send with the same credential still work', async () => {
		const path = `e2e-still-${Date.now()}`;
		const wf = await n8n.deployWorkflow(
			linear(path, [
				node('Webhook', 'n8n-nodes-base.webhook', { path, httpMethod: 'POST', responseMode: 'lastNode' }, 0, { typeVersion: 2 }),
				node('Verify Mailbox', `${PACKAGE}.verifyMailbox`, { checks: ['smtp', 'imap'] }, 220, { credentials: { [CREDENTIAL_TYPE]: delegated } }),
				sendNode({ subject: `${path} still sends` }, 440),
			]),
		);
		const answer = await n8n.callWebhook(path, { body: {} });
		expect(answer.status).toBe(200);
		const execution = await n8n.waitForExecution(wf.id, 60_000);
		expect(nodeOutput(execution, 'Verify Mailbox')).toEqual([expect.objectContaining({ status: 'Verified' })]);
		expect(Object.keys(nodeOutput(execution, 'Verify Mailbox')[0]).slice(0, 4)).toEqual(['status', 'failedCheck', 'reason', 'hint']);
		expect(nodeOutput(execution, 'Send Report Email')).toEqual([expect.objectContaining({ accepted: [RECIPIENT] })]);
		await n8n.deleteWorkflow(wf.id);
	});
});
