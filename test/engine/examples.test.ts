/**
 * The importable example workflows in examples/, run unchanged (n8n-nodes-base triggers, Edit
 * Fields, Split Out, If) through n8n-core against the embedded sandbox, as `npm run demo` does.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { simpleParser } from 'mailparser';
import type { IConnections, INode } from 'n8n-workflow';

import { runWorkflow } from '../support/engine';
import { startSandbox, type Sandbox } from '../support/sandbox';

interface WorkflowFile {
	nodes: INode[];
	connections: IConnections;
}
const load = (file: string): WorkflowFile =>
	JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'examples', file), 'utf8')) as WorkflowFile;

let sandbox: Sandbox;
beforeEach(async () => (sandbox = await startSandbox()));
afterEach(async () => await sandbox.stop());

const run = async (file: string) => {
	const wf = load(file);
	return await runWorkflow({ nodes: wf.nodes, connections: wf.connections, store: sandbox.store, start: 'Run now' });
};

it('weekly-report.json mails one report with the table and the CSV file', async () => {
	const result = await run('weekly-report.json');
	const out = result.output('Send Report Email');
	expect(out).toHaveLength(1);
	expect(out[0].json.accepted).toEqual(['reports@example.test']);
	expect(sandbox.smtp.messages).toHaveLength(1);
	const mail = await simpleParser(sandbox.smtp.messages[0].raw);
	expect(mail.subject).toMatch(/^Weekly service report – week \d+, \d{4}$/);
	expect(mail.replyTo?.text).toBe('helpdesk@example.test');
	expect(mail.html).toMatch(/<th[^>]*>Avg\. first response \(h\)<\/th>/);
	// HTML in the data is shown, not interpreted
	expect(mail.html).toContain('&lt;b&gt;VPN&lt;/b&gt; renewal due');
	expect(mail.html).toContain('Contoso IT Services');
	const csv = mail.attachments.find((a) => a.filename === 'weekly-service-report.csv');
	expect(csv?.content.toString('utf8').replace(/^\uFEFF/, '').split('\r\n')).toEqual(
		expect.arrayContaining([
			'Client,Tickets opened,Tickets closed,Avg. first response (h),SLA met,Notes',
			'Northwind Traders,63,51,3.4,false,"Escalated: ""mail flow"" incident, 2 sites"',
		]),
	);
});

it('mailbox-health-check.json reports Verified and sends no alert', async () => {
	const result = await run('mailbox-health-check.json');
	expect(result.output('Verify Mailbox')[0].json).toMatchObject({ status: 'Verified', mailbox: 'reports@example.test' });
	expect(result.run.data.resultData.runData['Alert the admin']).toBeUndefined();
	expect(sandbox.smtp.messages).toHaveLength(0);
});

it('mailbox-health-check.json alerts the admin with the reason and the fix when Not Verified', async () => {
	sandbox.imap.setMode('notConnected');
	const result = await run('mailbox-health-check.json');
	expect(result.output('Verify Mailbox')[0].json).toMatchObject({ status: 'Not Verified', failedCheck: 'imap' });
	expect(result.output('Alert the admin')).toHaveLength(1);
	const alert = await simpleParser(sandbox.smtp.messages[0].raw);
	expect(alert.to && !Array.isArray(alert.to) && alert.to.text).toBe('it-admins@example.test');
	expect(alert.subject).toBe('Mailbox reports@example.test is Not Verified (imap)');
	expect(alert.text).toMatch(/authenticated but not connected/);
	expect(alert.text).toMatch(/Full Access to a shared mailbox/);
	expect(sandbox.smtp.messages[0].raw.toString()).toMatch(/^Importance: High\r?$/m);
});
