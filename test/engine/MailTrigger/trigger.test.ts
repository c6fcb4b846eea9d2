/**
 * Microsoft 365 Mail Trigger through n8n-core's trigger path, against the in-process IMAP server:
 * new mail over IDLE, the output item, filters, after-start actions, attachments, the test event.
 */
import type { Idp } from '../../stack/idp';
import { startImapServer, type ImapServer } from '../../support/imap-server';
import type { TriggerHarness } from '../../support/trigger';
import { USER, harness, mail, startTestIdp, subjects } from './fixture';

let idp: Idp;
let imap: ImapServer;
let h: TriggerHarness | undefined;
beforeEach(async () => {
	idp = await startTestIdp();
	imap = await startImapServer({ idp, mailbox: USER });
});
afterEach(async () => {
	await h?.deactivate();
	h = undefined;
	await imap.stop();
	await idp.stop();
});

describe('Microsoft 365 Mail Trigger: new mail', () => {
	it('starts one execution per new message over IDLE, in order, not the mail already there', async () => {
		imap.deliver(mail({ subject: 'old' }));
		h = harness(idp, imap);
		await h.activate();
		expect(h.cursor).toMatchObject({ lastUid: 1 });
		const t0 = Date.now();
		imap.deliver(mail({ subject: 'first' }));
		imap.deliver(mail({ subject: 'second' }));
		await h.waitForStarted(2);
		// IDLE, not a poll: seconds, not the 60 s poll interval
		expect(Date.now() - t0).toBeLessThan(10_000);
		imap.deliver(mail({ subject: 'third' }));
		await h.waitForStarted(3);
		expect(subjects(h)).toEqual(['first', 'second', 'third']);
		// What n8n has saved: every message whose execution n8n confirmed before the last emit.
		expect(h.cursor).toMatchObject({ lastUid: 3 });
		expect(h.errors).toEqual([]);
	});

	it('outputs the fields the README lists', async () => {
		h = harness(idp, imap);
		await h.activate();
		imap.deliver(mail({ subject: 'Quarterly =?utf-8?q?r=C3=A9sum=C3=A9?=', html: '<p>Hi <b>Alice</b></p>', text: 'Hi Alice', messageId: '<q1@example.test>', inReplyTo: '<q0@example.test>' }));
		const [started] = await h.waitForStarted(1);
		expect(started.items).toHaveLength(1);
		expect(started.items[0].json).toEqual({
			messageId: '<q1@example.test>',
			from: { name: 'Carol Sender', address: 'carol@example.test' },
			to: [{ name: 'Alice', address: 'alice@example.test' }],
			cc: [{ name: '', address: 'dave@example.test' }],
			replyTo: [{ name: '', address: 'helpdesk@example.test' }],
			subject: 'Quarterly résumé',
			date: '2026-12-01T10:00:00.000Z',
			inReplyTo: '<q0@example.test>',
			references: ['<q0@example.test>'],
			text: expect.stringContaining('Hi Alice'),
			html: expect.stringContaining('<p>Hi <b>Alice</b></p>'),
			headers: expect.objectContaining({ 'message-id': '<q1@example.test>', 'reply-to': 'helpdesk@example.test' }),
			size: expect.any(Number),
			uid: 1,
			folder: 'INBOX',
			attachments: [],
		});
	});
});

describe('Microsoft 365 Mail Trigger: bodies as Outlook encodes them', () => {
	it('decodes a quoted-printable windows-1252 text part and a base64 UTF-8 HTML part', async () => {
		h = harness(idp, imap);
		await h.activate();
		const html = '<p>Grüße aus Zürich – 10 € · 日本語</p>';
		const raw = [
			'From: =?utf-8?B?SsO2cmc=?= <joerg@example.test>',
			'To: Alice <alice@example.test>',
			'Subject: =?windows-1252?Q?Gr=FC=DFe?=',
			'Date: Tue, 01 Dec 2026 10:00:00 +0000',
			'Message-ID: <enc1@example.test>',
			'MIME-Version: 1.0',
			'Content-Type: multipart/alternative; boundary="enc"',
			'',
			'--enc',
			'Content-Type: text/plain; charset="windows-1252"',
			'Content-Transfer-Encoding: quoted-printable',
			'',
			// "Grüße aus Zürich – 10 €", a soft line break in the middle
			'Gr=FC=DFe aus Z=FCrich =96 1=',
			'0 =80',
			'--enc',
			'Content-Type: text/html; charset="utf-8"',
			'Content-Transfer-Encoding: base64',
			'',
			Buffer.from(html, 'utf8').toString('base64').replace(/.{76}/g, '$&\r\n'),
			'--enc--',
			'',
		].join('\r\n');
		imap.deliver(raw);
		const [started] = await h.waitForStarted(1);
		const json = started.items[0].json;
		expect(json.subject).toBe('Grüße');
		expect(String(json.text).trim()).toBe('Grüße aus Zürich – 10 €');
		expect(String(json.html).trim()).toBe(html);
		expect(json.from).toEqual({ name: 'Jörg', address: 'joerg@example.test' });
	});
});

describe('Microsoft 365 Mail Trigger: filters run on the server', () => {
	it('starts only unread mail from the sender with the subject when all three filters are set', async () => {
		h = harness(idp, imap, { filters: { unreadOnly: true, from: 'billing@contoso.test', subject: 'Invoice' } });
		await h.activate();
		imap.deliver(mail({ from: 'billing@contoso.test', subject: 'Invoice 1' }));
		imap.deliver(mail({ from: 'billing@contoso.test', subject: 'Invoice 2' }), { flags: ['\\Seen'] });
		imap.deliver(mail({ from: 'someone@else.test', subject: 'Invoice 3' }));
		imap.deliver(mail({ from: 'billing@contoso.test', subject: 'Newsletter' }));
		imap.deliver(mail({ from: 'billing@contoso.test', subject: 'Invoice 5' }));
		await h.waitForStarted(2);
		await new Promise((r) => setTimeout(r, 500));
		expect(subjects(h)).toEqual(['Invoice 1', 'Invoice 5']);
	});

	it('"has attachments" starts only mail that carries a file', async () => {
		h = harness(idp, imap, { filters: { hasAttachments: true } });
		await h.activate();
		imap.deliver(mail({ subject: 'plain' }));
		imap.deliver(mail({ subject: 'alternative only', html: '<p>x</p>' }));
		imap.deliver(mail({ subject: 'with file', attachment: { name: 'report.pdf', type: 'application/pdf', content: Buffer.from('%PDF-1.4 test') } }));
		imap.deliver(mail({ subject: 'after' }));
		imap.deliver(mail({ subject: 'second file', attachment: { name: 'a.csv', type: 'text/csv', content: Buffer.from('a,b\n1,2\n') } }));
		await h.waitForStarted(2);
		await new Promise((r) => setTimeout(r, 500));
		expect(subjects(h)).toEqual(['with file', 'second file']);
		expect(h.started[0].items[0].json.attachments).toEqual([{ fileName: 'report.pdf', mimeType: 'application/pdf', size: expect.any(Number) }]);
	});
});

describe('Microsoft 365 Mail Trigger: after start', () => {
	it('marks a started message as read, and only that one', async () => {
		h = harness(idp, imap, { afterStart: 'markRead', filters: { subject: 'Invoice' } });
		await h.activate();
		imap.deliver(mail({ subject: 'Invoice 7' }));
		imap.deliver(mail({ subject: 'Other' }));
		await h.waitForStarted(1);
		await new Promise((r) => setTimeout(r, 300));
		const flags = Object.fromEntries(imap.messages().map((m) => [m.uid, m.flags]));
		expect(flags[1]).toContain('\\Seen');
		expect(flags[2]).not.toContain('\\Seen');
	});

	it('moves a started message to the chosen folder', async () => {
		h = harness(idp, imap, { afterStart: 'move', moveTo: 'Deleted Items' });
		await h.activate();
		imap.deliver(mail({ subject: 'move me', messageId: '<move@example.test>' }));
		await h.waitForStarted(1);
		const until = Date.now() + 5000;
		while (imap.messages('Deleted Items').length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
		expect(imap.messages('Deleted Items').map((m) => m.messageId)).toEqual(['<move@example.test>']);
		expect(imap.messages().filter((m) => !m.flags.includes('\\Deleted'))).toEqual([]);
	});

	it('refuses to activate when the folder to move to does not exist, naming it', async () => {
		h = harness(idp, imap, { afterStart: 'move', moveTo: 'Archive/2026' });
		await expect(h.activate()).rejects.toThrow(/"Archive\/2026".*does not exist.*\[MOVE_FOLDER_NOT_FOUND\]/);
	});

	it('refuses to activate on a folder that does not exist, with the code and the fix', async () => {
		h = harness(idp, imap, { folder: { __rl: true, mode: 'path', value: 'Nope' } });
		await expect(h.activate()).rejects.toThrow(/"Nope" could not be opened.*\[FOLDER_NOT_FOUND\]/);
	});
});

describe('Microsoft 365 Mail Trigger: attachments', () => {
	it('adds attachments as binary data up to the size cap and lists the larger ones', async () => {
		h = harness(idp, imap, { options: { downloadAttachments: true, maxAttachmentMb: 1 } });
		await h.activate();
		const small = Buffer.from('%PDF-1.4 small report');
		imap.deliver(mail({ subject: 'small', attachment: { name: 'report.pdf', type: 'application/pdf', content: small } }));
		imap.deliver(mail({ subject: 'big', attachment: { name: 'big.bin', type: 'application/octet-stream', content: Buffer.alloc(1.5 * 1024 * 1024, 7) } }));
		await h.waitForStarted(2);
		const [first, second] = h.started.map((s) => s.items[0]);
		expect(first.binary?.attachment_0).toMatchObject({ fileName: 'report.pdf', mimeType: 'application/pdf' });
		expect(Buffer.from(String(first.binary?.attachment_0.data), 'base64')).toEqual(small);
		expect(first.json.attachments).toEqual([{ fileName: 'report.pdf', mimeType: 'application/pdf', size: expect.any(Number), binaryKey: 'attachment_0' }]);
		expect(second.binary).toBeUndefined();
		expect(second.json.attachments).toEqual([{ fileName: 'big.bin', mimeType: 'application/octet-stream', size: expect.any(Number), skipped: 'larger than the 1 MB cap' }]);
	});
});

describe('Microsoft 365 Mail Trigger: Fetch test event', () => {
	it('returns the newest matching message and changes nothing', async () => {
		imap.deliver(mail({ subject: 'Invoice A' }));
		imap.deliver(mail({ subject: 'Invoice B' }));
		imap.deliver(mail({ subject: 'Newsletter' }));
		h = harness(idp, imap, { filters: { subject: 'Invoice' }, afterStart: 'markRead' });
		const data = await h.fetchTestEvent();
		expect(data[0].map((i) => i.json.subject)).toEqual(['Invoice B']);
		expect(imap.messages().every((m) => !m.flags.includes('\\Seen'))).toBe(true);
		expect(h.cursor).toBeUndefined();
		expect(h.started).toEqual([]);
	});

	it('says so when nothing matches, instead of waiting', async () => {
		imap.deliver(mail({ subject: 'Newsletter' }));
		h = harness(idp, imap, { filters: { subject: 'Invoice' } });
		await expect(h.fetchTestEvent()).rejects.toThrow('No message in "INBOX" matches the filters.');
	});
});
