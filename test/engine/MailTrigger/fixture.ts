/**
 * One fixture for the Mail Trigger engine tests: the test IdP, the in-process IMAP server (IDLE,
 * MOVE, UIDPLUS) and a trigger harness that runs the node through n8n-core's trigger path.
 */
import type { IDataObject, INodeParameters } from 'n8n-workflow';

import type { Idp } from '../../stack/idp';
import type { ImapServer } from '../../support/imap-server';
import { TriggerHarness, triggerNode } from '../../support/trigger';
import { storeWith } from '../VerifyMailbox/fixture';

export { CLIENT, USER, startTestIdp, seededToken, secretsIn } from '../VerifyMailbox/fixture';

let counter = 0;

export interface MailSpec {
	from?: string;
	subject?: string;
	text?: string;
	html?: string;
	messageId?: string;
	attachment?: { name: string; type: string; content: Buffer };
	inReplyTo?: string;
}

/** An RFC 5322 message as a mail server would store it. */
export function mail(spec: MailSpec = {}): string {
	const id = spec.messageId ?? `<m${++counter}.${Date.now()}@example.test>`;
	const head = [
		`From: ${spec.from ?? 'Carol Sender <carol@example.test>'}`,
		'To: Alice <alice@example.test>',
		'Cc: dave@example.test',
		'Reply-To: helpdesk@example.test',
		`Subject: ${spec.subject ?? 'Hello'}`,
		'Date: Tue, 01 Dec 2026 10:00:00 +0000',
		`Message-ID: ${id}`,
		...(spec.inReplyTo ? [`In-Reply-To: ${spec.inReplyTo}`, `References: ${spec.inReplyTo}`] : []),
		'MIME-Version: 1.0',
	];
	const text = spec.text ?? 'Hello Alice';
	if (!spec.attachment && !spec.html) return [...head, 'Content-Type: text/plain; charset=utf-8', '', text, ''].join('\r\n');
	const b = `b${counter}x`;
	const parts: string[] = [];
	if (spec.html)
		parts.push(`--${b}`, 'Content-Type: text/plain; charset=utf-8', '', text, `--${b}`, 'Content-Type: text/html; charset=utf-8', '', spec.html);
	else parts.push(`--${b}`, 'Content-Type: text/plain; charset=utf-8', '', text);
	if (spec.attachment) {
		const a = spec.attachment;
		parts.push(
			`--${b}`,
			`Content-Type: ${a.type}; name="${a.name}"`,
			`Content-Disposition: attachment; filename="${a.name}"`,
			'Content-Transfer-Encoding: base64',
			'',
			a.content.toString('base64').replace(/.{76}/g, '$&\r\n'),
		);
	}
	parts.push(`--${b}--`, '');
	const type = spec.attachment ? 'multipart/mixed' : 'multipart/alternative';
	return [...head, `Content-Type: ${type}; boundary="${b}"`, '', ...parts].join('\r\n');
}

export function harness(idp: Idp, imap: ImapServer, parameters: INodeParameters = {}, credential: IDataObject = {}): TriggerHarness {
	const store = storeWith(idp, { imap }, credential);
	return new TriggerHarness(store, triggerNode({ folder: { __rl: true, mode: 'path', value: 'INBOX' }, ...parameters }));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Subjects of the started executions, in order. */
export function subjects(h: TriggerHarness): string[] {
	return h.started.map((s) => String(s.items[0]?.json.subject));
}
