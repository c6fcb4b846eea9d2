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

/* ------------------------------------------------------------------ typed reads of the other fields */

function refuseType(field: string, got: unknown, want: string, hint: string): never {
	const kind = got === null ? 'null' : Array.isArray(got) ? 'a list' : typeof got === 'object' ? 'an object' : `a ${typeof got} (${String(got).slice(0, 40)})`;
	throw new MailError(inputFailure(field, `the expression gave ${kind}, not ${want}.`, hint));
}

/** One of the field's choices; the fallback when empty. */
export function choiceOf<T extends string>(value: unknown, field: string, choices: readonly T[], fallback: T): T {
	if (value === undefined || value === null || value === '') return fallback;
	const found = choices.find((c) => c === value);
	if (found === undefined) refuseType(field, value, `one of ${choices.join(', ')}`, `Set ${field} to one of: ${choices.join(', ')}.`);
	return found;
}

/** A number option within the UI's range; `undefined` when not set. Numeric text is accepted. */
export function numberOption(options: object, name: string, field: string, range: { min: number; max?: number; integer?: boolean; cap?: boolean }): number | undefined {
	const raw: unknown = Reflect.get(options, name);
	if (raw === undefined || raw === null || raw === '') return undefined;
	const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
	const limits = `${range.integer ? 'a whole number' : 'a number'} from ${range.min}${range.max !== undefined ? ` to ${range.max}` : ' up'}`;
	if (!Number.isFinite(n) || (range.integer && !Number.isInteger(n)) || n < range.min)
		refuseType(field, raw, limits, `Set ${field} to ${limits} (check the expression that fills it).`);
	if (range.max !== undefined && n > range.max) {
		if (range.cap) return range.max;
		refuseType(field, raw, limits, `Set ${field} to ${limits}.`);
	}
	return n;
}

/** A true/false option; `undefined` when not set. */
export function booleanOption(options: object, name: string, field: string): boolean | undefined {
	const raw: unknown = Reflect.get(options, name);
	if (raw === undefined || raw === null || raw === '') return undefined;
	if (typeof raw !== 'boolean') refuseType(field, raw, 'true or false', `Set ${field} to true or false.`);
	return raw;
}

/** Items of a fixed collection (`{ header: [...] }`), each a plain object. */
function entriesOf(value: unknown, key: string, field: string): object[] {
	if (value === undefined || value === null || value === '') return [];
	if (typeof value !== 'object' || Array.isArray(value)) refuseType(field, value, 'a list of entries', `Fill ${field} with the field's own entries, not an expression for the whole list.`);
	const list: unknown = Object.hasOwn(value, key) ? Reflect.get(value, key) : undefined;
	if (list === undefined || list === null) return [];
	if (!Array.isArray(list)) refuseType(field, list, 'a list of entries', `Fill ${field} with the field's own entries.`);
	return list.map((entry: unknown) => {
		if (!entry || typeof entry !== 'object' || Array.isArray(entry)) refuseType(field, entry, 'an entry', `Fill ${field} with the field's own entries.`);
		return entry;
	});
}

/** A text that must be text (a name, a field path): numbers are not turned into names silently. */
function strictText(entry: object, key: string, field: string, hint: string): string {
	const raw: unknown = Object.hasOwn(entry, key) ? Reflect.get(entry, key) : undefined;
	if (raw === undefined || raw === null) return '';
	if (typeof raw !== 'string') refuseType(field, raw, 'text', hint);
	return raw;
}

/** Options > Custom Headers: names must be text; values text, numbers or true/false. */
export function headersOf(value: unknown): Array<{ name: string; value: string }> {
	return entriesOf(value, 'header', 'Custom Headers').map((entry) => {
		const name = strictText(entry, 'name', 'Custom header name', 'Give the header a name such as X-Report-Id (text, not an expression that gives a number or an object).');
		const raw: unknown = Object.hasOwn(entry, 'value') ? Reflect.get(entry, 'value') : undefined;
		if (raw !== undefined && raw !== null && typeof raw === 'object')
			refuseType(`Custom header "${name}" value`, raw, 'text', 'Point the expression at a text value, or turn it into text with JSON.stringify().');
		return { name, value: raw === undefined || raw === null ? '' : String(raw) };
	});
}

/** Columns: the field path and title must be text. */
export function columnsOf(value: unknown): Array<{ field: string; title?: string }> {
	return entriesOf(value, 'column', 'Columns').map((entry) => {
		const field = strictText(entry, 'field', 'Column field', 'Enter the field path as text, e.g. customer.name (an expression must give text).');
		const title = strictText(entry, 'title', `Column "${field}" title`, 'Enter the column title as text (an expression must give text).');
		return { field, ...(title ? { title } : {}) };
	});
}
