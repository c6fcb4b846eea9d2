/**
 * Turns a MailError into the n8n error the user sees. Who is at fault picks the class:
 * bad input or setup -> NodeOperationError; a server or the identity provider said no -> NodeApiError.
 * Every error carries the hint as its description. Messages are already free of secrets.
 *
 * n8n's error panel renders a description as HTML: anything in angle brackets (a server's
 * `553 5.7.1 <bob@example.test>: ...`, `Name <name@domain.com>`) would vanish and line breaks
 * collapse. So the description is built here only, from escaped parts joined with `<br>`.
 */
import type { IDataObject, INode, JsonObject } from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';

import { MailError, type MailFailure } from './errors';
import { redact } from './secrets';

/** What the node knows, so a hint names the real mailbox and From address instead of a placeholder. */
export interface HintContext {
	/** The credential's mailbox (the XOAUTH2 user). */
	mailbox?: string;
	/** The From address of the message, when it is not the mailbox. */
	from?: string;
	/** The credential's grant type: advice for the other one is left out. */
	grantType?: 'authorizationCode' | 'clientCredentials';
	/** The account that signed in (delegated: SMTP logs in as it; the Send As trustee). */
	signedInAccount?: string;
}

/** Extra lines for the description, e.g. what a batch sent before it failed. */
export interface ErrorExtras {
	context?: HintContext;
	/** Appended to the message (one short sentence). */
	messageSuffix?: string;
	/** Further paragraphs of the description (plain text; escaped here). */
	notes?: string[];
}

export function failureOf(e: unknown, secrets: string[] = []): MailFailure {
	if (e instanceof MailError) return e.failure;
	const message = redact(e instanceof Error ? e.message : String(e), secrets);
	return {
		source: 'input',
		code: 'UNEXPECTED',
		message,
		hint: 'This looks like a bug in n8n-nodes-m365-mail; please report it with the workflow (without secrets).',
		retryable: false,
	};
}

/**
 * Keeps the advice for the grant type in use. The catalogue writes advice for both as
 * "delegated, A; app-only, B." or "A (delegated) or B (app-only)".
 */
export function forGrantType(hint: string, grantType?: HintContext['grantType']): string {
	if (!grantType) return hint;
	const delegated = grantType === 'authorizationCode';
	return hint
		.replace(/\bdelegated, ([^;]*); app-only, ([^.]*(?:\.[^\s.][^.]*)*)\./, (_m, a: string, b: string) => `${delegated ? a : b}.`)
		.replace(/(\S+) \(delegated\) or (.*?) \(app-only\)/, (_m, a: string, b: string) => (delegated ? a : b))
		.replace(/ \(app-only: [^)]*\)/, delegated ? '' : '$&');
}

/** The catalogue's placeholders replaced with what the node knows (left readable when it does not). */
export function fillHint(hint: string, context: HintContext = {}): string {
	const mailbox = context.mailbox?.trim();
	const from = context.from?.trim() || mailbox;
	// App-only tokens have no signed-in user: the trustee is the app's service principal.
	const signedIn = context.grantType === 'clientCredentials' ? '<service principal ID>' : context.signedInAccount?.trim() || mailbox;
	return forGrantType(hint, context.grantType)
		.replace(/<mailbox>/g, mailbox || 'the mailbox address')
		.replace(/<From address>/g, from || 'the From address')
		.replace(/<signed-in account>/g, signedIn || 'the signed-in account');
}

/** Text shown literally in n8n's HTML error panel: `&`, `<`, `>` escaped, line breaks kept. */
export function escapeDescription(text: string): string {
	return text
		.replace(/&/g, '&amp;')
		.replace(/</g, '&lt;')
		.replace(/>/g, '&gt;')
		.replace(/\r?\n/g, '<br>');
}

/** The description n8n shows under the error's message: hint, notes, then the server's words. */
export function errorDescription(f: MailFailure, extras: ErrorExtras = {}): string {
	const parts = [fillHint(f.hint, extras.context), ...(extras.notes ?? []), ...(f.serverResponse ? [`Server said: ${f.serverResponse}`] : [])];
	return parts.map(escapeDescription).join('<br><br>');
}

export function toNodeError(node: INode, e: unknown, itemIndex?: number, secrets: string[] = [], extras: ErrorExtras = {}): NodeApiError | NodeOperationError {
	if (e instanceof NodeApiError || e instanceof NodeOperationError) return e;
	const f = failureOf(e, secrets);
	const description = errorDescription(f, extras);
	const message = extras.messageSuffix ? `${f.message} ${extras.messageSuffix}` : f.message;
	if (f.source === 'input')
		return new NodeOperationError(node, message, { description, itemIndex });
	const response: JsonObject = { message, code: f.code };
	return new NodeApiError(node, response, { message, description, itemIndex });
}

/** The json of a failed item under "Continue On Fail": error, code, hint (never a secret). */
export function failureJson(e: unknown, secrets: string[] = [], context: HintContext = {}): IDataObject {
	const f = failureOf(e, secrets);
	return {
		error: f.message,
		code: f.code,
		hint: fillHint(f.hint, context),
		...(f.serverResponse ? { serverResponse: f.serverResponse } : {}),
		...(f.outcomeUnknown ? { outcomeUnknown: true } : {}),
	};
}
