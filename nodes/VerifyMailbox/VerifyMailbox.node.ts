import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import { CREDENTIAL_TYPE } from '../shared/constants';
import { MailError, inputFailure } from '../shared/errors';
import { toNodeError } from '../shared/node-errors';
import { redactValues } from '../shared/secrets';
import { verifyMailbox, type OptionalCheck } from './checks';
import { verifyMailboxProperties } from './description';
import type { Verification } from './outcome';

const CHECKS: readonly OptionalCheck[] = ['smtp', 'imap', 'roundTrip'];

/** Parameters as expressions may deliver them: the wrong type is refused with the field's name. */
function optionsOf(ctx: IExecuteFunctions, i: number) {
	const refuse = (field: string, message: string, hint: string) => toNodeError(ctx.getNode(), new MailError(inputFailure(field, message, hint)), i);
	const rawChecks: unknown = ctx.getNodeParameter('checks', i, ['smtp', 'imap']);
	if (!Array.isArray(rawChecks)) throw refuse('Checks', 'the expression did not give a list.', 'Choose the checks in the field, or give a list such as ["smtp", "imap"].');
	const checks = rawChecks.map((c: unknown) => {
		const found = CHECKS.find((k) => k === c);
		if (!found) throw refuse('Checks', `"${String(c).slice(0, 40)}" is not a check.`, 'Use smtp, imap or roundTrip.');
		return found;
	});
	const options = ctx.getNodeParameter('options', i, {}) as IDataObject;
	const seconds = (key: string, field: string, fallback: number, max: number) => {
		const raw: unknown = options[key];
		if (raw === undefined || raw === null || raw === '') return fallback * 1000;
		const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : Number.NaN;
		if (!Number.isFinite(n) || n <= 0 || n > max) throw refuse(field, `"${String(raw).slice(0, 40)}" is not a number of seconds from 1 to ${max}.`, `Set ${field} to a number of seconds from 1 to ${max}.`);
		return n * 1000;
	};
	return {
		verify: { checks, timeoutMs: seconds('checkTimeout', 'Options > Timeout per Check (Seconds)', 20, 300), roundTripTimeoutMs: seconds('roundTripTimeout', 'Options > Round Trip Timeout (Seconds)', 60, 600) },
		failWhenNotVerified: options.failWhenNotVerified === true,
	};
}

export class VerifyMailbox implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Verify Mailbox (Microsoft 365)',
		name: 'verifyMailbox',
		icon: { light: 'file:../../icons/verify-mailbox.svg', dark: 'file:../../icons/verify-mailbox.dark.svg' },
		group: ['input'],
		version: 1,
		subtitle: '={{ "Checks: token, " + ($parameter["checks"] || []).join(", ") }}',
		description: 'Checks that a Microsoft 365 mailbox works with OAuth 2.0 over SMTP and IMAP: Verified or Not Verified, with the reason and the fix',
		defaults: { name: 'Verify Mailbox' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		usableAsTool: true,
		credentials: [{ name: CREDENTIAL_TYPE, required: true }],
		properties: verifyMailboxProperties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const out: INodeExecutionData[] = [];
		for (let i = 0; i < items.length; i++) {
			const { verify, failWhenNotVerified } = optionsOf(this, i);
			// Messages are masked where they are made; this pass also catches a token refreshed mid-run.
			const secrets: string[] = [];
			const result: Verification = await verifyMailbox(this, verify, secrets);
			// Values are masked one by one: masking the serialized JSON could cut into its quoting.
			const masked = redactValues(result, secrets);
			const json: IDataObject = { ...masked };
			if (result.status === 'Not Verified' && failWhenNotVerified && !this.continueOnFail()) {
				const failure = new MailError({
					// Who is at fault picks the error class: a credential field, or a server that said no.
					source: /^INVALID_/.test(String(masked.code)) ? 'input' : result.failedCheck === 'smtp' ? 'smtp' : result.failedCheck === 'token' ? 'token' : 'imap',
					code: String(masked.code),
					message: `Not Verified: the ${String(masked.failedCheck)} check failed. ${String(masked.reason)}`,
					hint: String(masked.hint),
					retryable: false,
				});
				throw toNodeError(this.getNode(), failure, i, secrets);
			}
			out.push({ json, pairedItem: { item: i } });
		}
		return [out];
	}
}
