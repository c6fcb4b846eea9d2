// Send Report Email through n8n's engine against the real stack (test/stack/mailstack.sh): Postfix
// submission with STARTTLS and XOAUTH2 checked by Dovecot against the test IdP. Messages are read
// back from the recipients' Maildirs and parsed with mailparser.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { simpleParser, type ParsedMail } from 'mailparser';
import type { IDataObject } from 'n8n-workflow';

import { NODE, runSend, b64, type Item } from '../engine/SendReportEmail/fixture';
import { ensureMailStack, stopMailStack } from '../stack/mailstack';
import type { CredentialStore } from '../support/engine';
import { ALICE, BOB, stack, stackStore, stackTokens } from './fixture';

jest.setTimeout(90_000);

const tag = `sre-${Date.now().toString(36)}`;
let startedHere = false;

beforeAll(async () => {
	startedHere = await ensureMailStack(stack);
}, 120_000);

afterAll(() => {
	if (startedHere && !process.env.MAILSTACK_KEEP) stopMailStack();
});

async function store(data: IDataObject = {}): Promise<CredentialStore> {
	return stackStore(await stackTokens(ALICE), data, { id: 'cred-1', name: 'M365 reports' });
}

/** Waits until Postfix delivered a message with this subject to the user's Maildir. */
async function delivered(user: string, subject: string, timeoutMs = 20_000): Promise<ParsedMail> {
	const until = Date.now() + timeoutMs;
	const maildir = join(stack.dir, 'mail', user, 'Maildir');
	while (Date.now() < until) {
		for (const sub of ['new', 'cur']) {
			const dir = join(maildir, sub);
			if (!existsSync(dir)) continue;
			for (const name of readdirSync(dir)) {
				const raw = readFileSync(join(dir, name));
				if (!raw.includes(subject)) continue;
				const mail = await simpleParser(raw);
				if (mail.subject === subject) return mail;
			}
		}
		await new Promise((r) => setTimeout(r, 200));
	}
	throw new Error(`no message "${subject}" for ${user}`);
}

it('delivers HTML + text, signature, send-as From, Reply-To, attachments and inline images through Postfix', async () => {
	const pdf = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
	const png = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256));
	const subject = `${tag} per item`;
	const items: Item[] = [{ json: { who: 'Bob' }, binary: {
		report: { base64: b64(pdf), fileName: 'report.pdf', mimeType: 'application/pdf' },
		logo: { base64: b64(png), fileName: 'logo.png', mimeType: 'image/png' },
	} }];
	const out = await runSend(await store({ signature: '<i>Reports</i>', replyTo: 'helpdesk@example.test' }), items, {
		to: `Bob <${BOB}>`,
		subject,
		emailFormat: 'both',
		html: '=<p>Hi {{ $json.who }}</p><img src="cid:logo">',
		text: 'Hi Bob',
		attachments: 'report',
		options: { from: 'Shared Reports <shared@example.test>', inlineImages: 'logo' },
	});
	expect(out.error).toBeUndefined();
	expect(out.items[0].json).toMatchObject({ accepted: [BOB], rejected: [], response: expect.stringMatching(/^250/) });
	const mail = await delivered(BOB, subject);
	expect(mail.from?.value).toEqual([{ address: 'shared@example.test', name: 'Shared Reports' }]);
	expect(mail.replyTo?.value[0].address).toBe('helpdesk@example.test');
	expect(mail.html).toContain('<p>Hi Bob</p>');
	expect(mail.html).toContain('<i>Reports</i>');
	expect(mail.text).toContain('Hi Bob\n\n-- \nReports');
	expect(mail.attachments.find((a) => a.filename === 'report.pdf')?.content.equals(pdf)).toBe(true);
	const logo = mail.attachments.find((a) => a.cid === 'logo');
	expect(logo?.content.equals(png)).toBe(true);
	expect(mail.messageId).toBe(out.items[0].json.messageId);
});

it('sends one report with table and CSV for all items', async () => {
	const subject = `${tag} report`;
	const items: Item[] = [{ json: { name: 'A, "quoted"', n: 1 } }, { json: { name: '<b>bold</b>', n: 2 } }];
	const out = await runSend(await store(), items, { mode: 'report', to: BOB, subject, html: '<p>Weekly</p>[[report]]', options: { signature: 'none' } });
	expect(out.error).toBeUndefined();
	expect(out.items).toHaveLength(1);
	const mail = await delivered(BOB, subject);
	expect(String(mail.html)).toContain('&lt;b&gt;bold&lt;/b&gt;');
	const csv = mail.attachments.find((a) => a.filename === 'report.csv');
	expect(csv?.content.subarray(3).toString()).toBe('name,n\r\n"A, ""quoted""",1\r\n<b>bold</b>,2\r\n');
});

it('maps Postfix refusing a From the mailbox may not send as', async () => {
	const out = await runSend(await store(), [{ json: {} }], { to: BOB, subject: `${tag} refused`, options: { from: BOB } }, { continueOnFail: true });
	expect(out.items[0].json).toMatchObject({ code: 'SMTP_SEND_AS_DENIED', hint: expect.stringContaining('Add-RecipientPermission -Identity bob@example.test -Trustee alice@example.test -AccessRights SendAs') });
	expect(NODE).toBeTruthy();
});
