/**
 * Text parameters as expressions deliver them. An expression can resolve to anything: a list of
 * plain values is joined with commas (address lists), an object is refused with the field's name
 * instead of being sent as "[object Object]". Pure.
 */
import { MailError, inputFailure } from '../shared/errors';

const FIELD_LABELS: Record<string, string> = {
	to: 'To', subject: 'Subject', html: 'HTML', text: 'Text', attachments: 'Attachments', reportOutput: 'Report Output',
	reportTitle: 'Report Title', csvFileName: 'CSV File Name', cc: 'CC', bcc: 'BCC', from: 'From', replyTo: 'Reply-To',
	inlineImages: 'Inline Images', customSignature: 'Custom Signature',
};

export function textOf(value: unknown, name: string): string {
	if (value === null || value === undefined) return '';
	if (typeof value !== 'object') return String(value);
	if (Array.isArray(value) && value.every((v) => v === null || typeof v !== 'object')) return value.filter((v) => v !== null).join(', ');
	throw new MailError(inputFailure(
		FIELD_LABELS[name] ?? name,
		`the expression gave ${Array.isArray(value) ? 'a list of objects' : 'an object'}, not text.`,
		'Point the expression at the field that holds the text (e.g. {{ $json.customer.email }}), or turn it into text with JSON.stringify() or .join(", ").',
	));
}

/** An optional text option (`undefined` when not set), checked like `textOf`. */
export function optionText(options: object, name: string): string | undefined {
	const value: unknown = Reflect.get(options, name);
	return value === undefined ? undefined : textOf(value, name);
}
