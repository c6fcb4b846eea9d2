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
import { TriggerHarness } from '../support/trigger';

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

it('new-mail-forward-report.json: each new invoice mail is answered, forwarded with its file, and marked read, once', async () => {
	const wf = load('new-mail-forward-report.json');
	const triggerNode = wf.nodes.find((n) => n.type === 'n8n-nodes-m365-mail.mailTrigger');
	if (!triggerNode) throw new Error('example has no Mail Trigger');
	const trigger = new TriggerHarness(sandbox.store, triggerNode);
	const runs: Array<Promise<Awaited<ReturnType<typeof runWorkflow>>>> = [];
	trigger.onStart = (data) =>
		runs.push(runWorkflow({ nodes: wf.nodes, connections: wf.connections, store: sandbox.store, mode: 'trigger', start: triggerNode.name, startData: data }));
	await trigger.activate();
	try {
		const pdf = Buffer.from('%PDF-1.4 invoice 4711');
		sandbox.imap.deliver(
			[
				'From: Carol Supplier <carol@supplier.test>',
				'To: reports@example.test',
				'Subject: Invoice 4711',
				'Message-ID: <inv-4711@supplier.test>',
				'MIME-Version: 1.0',
				'Content-Type: multipart/mixed; boundary="x"',
				'',
				'--x',
				'Content-Type: text/plain; charset=utf-8',
				'',
				'Please find invoice 4711 attached.',
				'--x',
				'Content-Type: application/pdf; name="invoice-4711.pdf"',
				'Content-Disposition: attachment; filename="invoice-4711.pdf"',
				'Content-Transfer-Encoding: base64',
				'',
				pdf.toString('base64'),
				'--x--',
				'',
			].join('\r\n'),
		);
		sandbox.imap.deliver('From: news@example.test\r\nTo: reports@example.test\r\nSubject: Newsletter\r\nMessage-ID: <n1@example.test>\r\n\r\nhello\r\n');
		await trigger.waitForStarted(1);
		const [result] = await Promise.all(runs);
		expect(result.output('Reply to the sender')).toHaveLength(1);
		expect(result.output('Forward to accounts')).toHaveLength(1);
		expect(trigger.started).toHaveLength(1);
		const mails = await Promise.all(sandbox.smtp.messages.map(async (m) => await simpleParser(m.raw)));
		const reply = mails.find((m) => m.subject === 'Re: Invoice 4711');
		const forward = mails.find((m) => m.subject === 'Fwd: Invoice 4711');
		expect(reply?.to && !Array.isArray(reply.to) && reply.to.text).toBe('carol@supplier.test');
		expect(reply?.headers.get('x-original-message-id')).toBe('<inv-4711@supplier.test>');
		expect(reply?.text).toMatch(/with 1 attachment\(s\)/);
		expect(forward?.to && !Array.isArray(forward.to) && forward.to.text).toBe('accounts@example.test');
		expect(forward?.text).toMatch(/From: Carol Supplier <carol@supplier.test>/);
		expect(forward?.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([['invoice-4711.pdf', pdf.toString()]]);
		const invoice = sandbox.imap.messages().find((m) => m.messageId === '<inv-4711@supplier.test>');
		expect(invoice?.flags).toContain('\\Seen');
		expect(mails).toHaveLength(2);
	} finally {
		await trigger.deactivate();
	}
});
