/**
 * Turns a MailError into the n8n error the user sees. Who is at fault picks the class:
 * bad input or setup -> NodeOperationError; a server or the identity provider said no -> NodeApiError.
 * Every error carries the hint as its description. Messages are already free of secrets.
 */
import type { IDataObject, INode, JsonObject } from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';

import { MailError, type MailFailure } from './errors';
import { redact } from './secrets';

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

export function toNodeError(node: INode, e: unknown, itemIndex?: number, secrets: string[] = []): NodeApiError | NodeOperationError {
	if (e instanceof NodeApiError || e instanceof NodeOperationError) return e;
	const f = failureOf(e, secrets);
	const description = f.serverResponse ? `${f.hint}\n\nServer said: ${f.serverResponse}` : f.hint;
	if (f.source === 'input')
		return new NodeOperationError(node, f.message, { description, itemIndex });
	const response: JsonObject = { message: f.message, code: f.code };
	return new NodeApiError(node, response, { message: f.message, description, itemIndex });
}

/** The json of a failed item under "Continue On Fail": error, code, hint (never a secret). */
export function failureJson(e: unknown, secrets: string[] = []): IDataObject {
	const f = failureOf(e, secrets);
	return {
		error: f.message,
		code: f.code,
		hint: f.hint,
		...(f.serverResponse ? { serverResponse: f.serverResponse } : {}),
		...(f.outcomeUnknown ? { outcomeUnknown: true } : {}),
	};
}
