/**
 * `npm run demo`: runs the example workflows through the n8n engine with this package's nodes.
 *
 * By default against an embedded sandbox (identity provider, SMTP and IMAP servers in this
 * process): the weekly report is mailed, the received message is shown, then the daily health
 * check reports the mailbox as Verified. Point it at a real Microsoft 365 tenant with environment
 * variables (see README, "Demo against Microsoft 365"): M365_TENANT_ID, M365_CLIENT_ID,
 * M365_CLIENT_SECRET, M365_MAILBOX, M365_TO, and M365_GRANT_TYPE=clientCredentials (app-only) or
 * M365_REFRESH_TOKEN (delegated); optional M365_CLOUD (global | usGovHigh | usGovDod | china).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { simpleParser } from 'mailparser';
import type { IConnections, IDataObject, INode } from 'n8n-workflow';

import { CredentialStore, credentialData, runWorkflow } from '../test/support/engine';
import { EXAMPLE_CREDENTIAL_ID, startSandbox, type Sandbox } from '../test/support/sandbox';

interface WorkflowFile {
	name: string;
	nodes: INode[];
	connections: IConnections;
}

const examples = path.join(__dirname, '..', 'examples');
const load = (file: string): WorkflowFile => JSON.parse(readFileSync(path.join(examples, file), 'utf8')) as WorkflowFile;
const line = (s = '') => process.stdout.write(`${s}\n`);
const rule = (title: string) => line(`\n── ${title} ${'─'.repeat(Math.max(0, 70 - title.length))}`);

function realTenant(): { store: CredentialStore; to: string } | undefined {
	const env = process.env;
	if (!env.M365_CLIENT_ID) return undefined;
	const get = (name: string): string => env[name] ?? '';
	for (const name of ['M365_TENANT_ID', 'M365_CLIENT_SECRET', 'M365_MAILBOX', 'M365_TO'])
		if (!env[name]) throw new Error(`${name} is not set (needed with M365_CLIENT_ID to run the demo against Microsoft 365)`);
	const appOnly = env.M365_GRANT_TYPE === 'clientCredentials';
	if (!appOnly && !env.M365_REFRESH_TOKEN)
		throw new Error('Set M365_GRANT_TYPE=clientCredentials (app-only), or M365_REFRESH_TOKEN for a delegated sign-in');
	const store = new CredentialStore();
	store.add({
		id: EXAMPLE_CREDENTIAL_ID,
		name: 'Microsoft 365 Mail',
		type: 'microsoftMailOAuth2Api',
		data: credentialData({
			grantType: appOnly ? 'clientCredentials' : 'authorizationCode',
			cloud: get('M365_CLOUD') || 'global',
			tenantId: get('M365_TENANT_ID'),
			clientId: get('M365_CLIENT_ID'),
			clientSecret: get('M365_CLIENT_SECRET'),
			mailbox: get('M365_MAILBOX'),
			smtpHost: '',
			imapHost: '',
			smtpPort: 587,
			imapPort: 993,
			// empty token data: the node fetches (app-only) or refreshes (delegated) a token itself
			oauthTokenData: appOnly ? {} : { refresh_token: env.M365_REFRESH_TOKEN ?? '' },
		}),
	});
	return { store, to: env.M365_TO ?? '' };
}

async function main(): Promise<number> {
	const real = realTenant();
	let sandbox: Sandbox | undefined;
	if (!real) {
		line('Starting the sandbox: identity provider, SMTP and IMAP servers on 127.0.0.1 (no Microsoft tenant needed)…');
		sandbox = await startSandbox();
	}
	const store = real?.store ?? sandbox!.store;
	try {
		rule('1. Weekly service report (examples/weekly-report.json)');
		const weekly = load('weekly-report.json');
		if (real) for (const n of weekly.nodes) if (n.type.endsWith('.sendReportEmail')) n.parameters.to = real.to;
		const run1 = await runWorkflow({ nodes: weekly.nodes, connections: weekly.connections, store, start: 'Run now' });
		const sendError = run1.error('Send Report Email');
		if (sendError) {
			line(`Send Report Email failed: ${sendError.message}\n  ${sendError.description ?? ''}`);
			return 1;
		}
		const sent = run1.output('Send Report Email')[0].json;
		line(`Sent: ${String(sent.messageId)}`);
		line(`  accepted: ${JSON.stringify(sent.accepted)}  rejected: ${JSON.stringify(sent.rejected)}`);
		line(`  server:   ${String(sent.response)}`);
		if (sandbox) {
			const received = await simpleParser(sandbox.smtp.messages[0].raw);
			rule('What the recipient got');
			line(`From:     ${received.from?.text ?? ''}`);
			line(`To:       ${Array.isArray(received.to) ? received.to.map((t) => t.text).join(', ') : (received.to?.text ?? '')}`);
			line(`Reply-To: ${received.replyTo?.text ?? ''}`);
			line(`Subject:  ${received.subject ?? ''}`);
			line('');
			line((received.text ?? '').trimEnd());
			for (const a of received.attachments) {
				line(`\n[attachment] ${a.filename ?? '(no name)'}  ${a.contentType}  ${a.size} bytes`);
				line(a.content.toString('utf8').replace(/^\uFEFF/, '').trimEnd().split('\n').map((l) => `  ${l}`).join('\n'));
			}
		}

		rule('2. Mailbox health check (examples/mailbox-health-check.json)');
		const health = load('mailbox-health-check.json');
		const run2 = await runWorkflow({ nodes: health.nodes, connections: health.connections, store, start: 'Run now' });
		const status = run2.output('Verify Mailbox')[0].json;
		line(`${String(status.mailbox)}: ${String(status.status)}`);
		for (const c of (status.checks as IDataObject[] | undefined) ?? [])
			line(`  ${String(c.name).padEnd(10)} ${String(c.status).padEnd(8)} ${String(c.durationMs).padStart(5)} ms  ${String(c.detail ?? '')}`);
		if (status.status !== 'Verified') line(`  failed at ${String(status.failedCheck)}: ${String(status.reason)}\n  what to do: ${String(status.hint)}`);
		line('');
		return status.status === 'Verified' ? 0 : 1;
	} finally {
		await sandbox?.stop();
	}
}

main().then(
	(code) => process.exit(code),
	(e: unknown) => {
		console.error(e instanceof Error ? e.message : e);
		process.exit(1);
	},
);
