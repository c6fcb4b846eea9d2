/**
 * Microsoft 365 Mail Trigger against the real stack: Dovecot offering only XOAUTH2 (like
 * outlook.office365.com) with IDLE; mail sent by Send Report Email through Postfix submission and
 * delivered to Maildir. New mail over IDLE, the subject filter, mark as read, Fetch test event.
 */
import { randomUUID } from 'node:crypto';

import type { INode, INodeParameters } from 'n8n-workflow';

import { chain, runWorkflow } from '../support/engine';
import { TriggerHarness, triggerNode } from '../support/trigger';
import { ALICE, CREDENTIAL, admin, stack, stackStore, stackTokens } from './fixture';

jest.setTimeout(120_000);
beforeEach(async () => await admin.reset());

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function triggerOn(tag: string, extra: INodeParameters = {}): INode {
	return triggerNode({ folder: { __rl: true, mode: 'path', value: 'INBOX' }, filters: { subject: tag }, ...extra }, 'Mail Trigger', CREDENTIAL);
}

async function sendToAlice(subjects: string[]): Promise<void> {
	const store = stackStore(await stackTokens(ALICE), { imapPort: stack.ports.m365Imaps });
	const { nodes, connections } = chain(
		subjects.map((subject) => ({ json: { subject } })),
		{
			name: 'Send',
			type: 'n8n-nodes-m365-mail.sendReportEmail',
			parameters: { mode: 'perItem', to: ALICE, subject: '={{ $json.subject }}', emailFormat: 'text', text: 'Hello from Postfix', options: {} },
			credentials: { microsoftMailOAuth2Api: CREDENTIAL },
		},
	);
	const result = await runWorkflow({ nodes, connections, store });
	expect(result.output('Send')).toHaveLength(subjects.length);
}

describe('Mail Trigger: Postfix + Dovecot (XOAUTH2 only, IDLE)', () => {
	it('starts one execution per new matching message over IDLE, marks it read, and the test event changes nothing', async () => {
		const tag = `run-${randomUUID().slice(0, 8)}`;
		const store = stackStore(await stackTokens(ALICE), { imapPort: stack.ports.m365Imaps });
		const h = new TriggerHarness(store, triggerOn(tag, { afterStart: 'markRead' }));
		await h.activate();
		try {
			const t0 = Date.now();
			await sendToAlice([`${tag} one`, `other ${randomUUID()}`, `${tag} two`]);
			await h.waitForStarted(2, 60_000);
			const latency = Date.now() - t0;
			await sleep(1500);
			// Postfix delivers in parallel: UID order (which the trigger keeps) is delivery order, not send order.
			expect(h.started.map((s) => String(s.items[0].json.subject)).sort()).toEqual([`${tag} one`, `${tag} two`]);
			const uids = h.started.map((s) => Number(s.items[0].json.uid));
			expect(uids).toEqual([...uids].sort((a, b) => a - b));
			expect(h.started[0].items[0].json).toMatchObject({ from: { address: ALICE }, folder: 'INBOX', text: expect.stringContaining('Hello from Postfix') });
			expect(latency).toBeLessThan(30_000);
			expect(h.errors).toEqual([]);
		} finally {
			await h.deactivate();
		}
		// Fetch test event: the newest match, read-only (it was marked read by the active trigger).
		const probe = new TriggerHarness(store, triggerOn(tag));
		const data = await probe.fetchTestEvent();
		const newest = h.started.reduce((a, b) => (Number(a.items[0].json.uid) > Number(b.items[0].json.uid) ? a : b));
		expect(data[0].map((i) => i.json.subject)).toEqual([newest.items[0].json.subject]);
		const unread = new TriggerHarness(store, triggerOn(tag, { filters: { subject: tag, unreadOnly: true } }));
		await expect(unread.fetchTestEvent()).rejects.toThrow(/No message in "INBOX" matches the filters/);
	});
});
