/** Pure: what the node outputs for a sent email and for a dry run. */
import type { IDataObject } from 'n8n-workflow';

import type { MailOptions, SentInfo } from '../shared/smtp';
import { flatAddresses } from './sent-ledger';

/** A message built and checked, plus what the user should know about it. */
export interface BuiltMessage {
	mail: MailOptions;
	warnings: string[];
	/** Attachments as the recipient sees them (size before encoding). */
	files: Array<{ name: string; type: string; size: number }>;
}

export function addressOf(value: MailOptions['from']): string {
	return flatAddresses(value)[0]?.address ?? '';
}

function addressList(value: MailOptions['to']): string[] {
	return flatAddresses(value).map((a) => (a.name ? `${a.name} <${a.address}>` : a.address));
}

function addresses(list: Array<string | { address: string }>): string[] {
	return list.map((a) => (typeof a === 'string' ? a : a.address));
}

/** What the server said about one email. */
export function sentJson(info: SentInfo, attempts: number, warnings: string[], loggedInAs: string): IDataObject {
	return {
		messageId: info.messageId,
		accepted: addresses(info.accepted),
		rejected: addresses(info.rejected),
		response: info.response,
		envelope: { from: info.envelope.from || '', to: info.envelope.to },
		// The account SMTP AUTH signed in as (a delegate's UPN for a shared mailbox).
		loggedInAs,
		attempts,
		...(warnings.length ? { warnings } : {}),
	};
}

/** What a dry run shows: who, what, which files (and how big), without sending. */
export function dryRunJson(built: BuiltMessage, eml: Buffer): IDataObject {
	const { mail } = built;
	return {
		dryRun: true,
		messageId: String(mail.messageId ?? ''),
		from: addressOf(mail.from),
		to: addressList(mail.to),
		cc: addressList(mail.cc),
		bcc: addressList(mail.bcc),
		subject: String(mail.subject ?? ''),
		attachments: built.files,
		size: eml.length,
		...(built.warnings.length ? { warnings: built.warnings } : {}),
	};
}
