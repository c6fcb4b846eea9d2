/**
 * Pure: input items -> a report as an HTML table, a plain-text table and a CSV file. Columns can be
 * picked, ordered and titled; values are escaped for their format; nested values stay readable.
 */

export interface ReportColumn {
	/** Field path in the item's JSON, dots for nesting (`customer.name`). */
	field: string;
	/** Column heading; the field path when empty. */
	title?: string;
}

export interface Report {
	columns: Array<{ field: string; title: string }>;
	html: string;
	text: string;
	csv: string;
}

/** Where the HTML table goes when the body contains it; otherwise it is appended. */
export const REPORT_PLACEHOLDER = '[[report]]';

type Row = Record<string, unknown>;

/** Widest column of the plain-text table, in characters. */
const MAX_TEXT_WIDTH = 40;

export function escapeHtml(s: string): string {
	return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** The item's own value at `path` (never one inherited from Object.prototype, such as `constructor`). */
export function valueAt(row: Row, path: string): unknown {
	if (Object.hasOwn(row, path)) return row[path];
	let current: unknown = row;
	for (const key of path.split('.')) {
		if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return undefined;
		current = Reflect.get(current, key);
	}
	return current;
}

/** A cell's text: scalars as they are, dates as ISO, lists joined, objects as `key: value` pairs. */
export function cellText(value: unknown, depth = 0): string {
	if (value === null || value === undefined) return '';
	if (value instanceof Date) return Number.isNaN(value.getTime()) ? '' : value.toISOString();
	if (typeof value === 'string') return value;
	if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
	if (depth >= 3) return JSON.stringify(value) ?? '';
	if (Array.isArray(value)) return value.map((v) => nested(v, depth)).join(', ');
	if (typeof value === 'object')
		return Object.entries(value as Row)
			.map(([k, v]) => `${k}: ${nested(v, depth)}`)
			.join(', ');
	return String(value);
}

/** Values inside a list or object keep their brackets so the structure stays readable. */
function nested(v: unknown, depth: number): string {
	if (Array.isArray(v)) return `[${cellText(v, depth + 1)}]`;
	if (v !== null && typeof v === 'object' && !(v instanceof Date)) return `{${cellText(v, depth + 1)}}`;
	return cellText(v, depth + 1);
}

/** The columns to show: the chosen ones, or every top-level field in first-seen order. */
export function reportColumns(rows: Row[], chosen: ReportColumn[] = []): Array<{ field: string; title: string }> {
	const picked = chosen.filter((c) => c.field.trim() !== '');
	if (picked.length) return picked.map((c) => ({ field: c.field.trim(), title: c.title?.trim() || c.field.trim() }));
	const seen = new Set<string>();
	for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
	return [...seen].map((field) => ({ field, title: field }));
}

/** RFC 4180 quoting; cells that a spreadsheet would run as a formula are prefixed with `'`. */
export function csvCell(text: string): string {
	const safe = /^[=+\-@\t\r]/.test(text) && !/^[+-]?\d+(\.\d+)?$/.test(text) ? `'${text}` : text;
	return /[",\r\n]/.test(safe) || safe !== safe.trim() ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function renderReport(rows: Row[], options: { columns?: ReportColumn[]; title?: string } = {}): Report {
	const columns = reportColumns(rows, options.columns);
	const cells = rows.map((row) => columns.map((c) => cellText(valueAt(row, c.field))));

	const th = 'style="border:1px solid #d0d7de;padding:4px 8px;background:#f6f8fa;text-align:left"';
	const td = 'style="border:1px solid #d0d7de;padding:4px 8px;vertical-align:top"';
	const caption = options.title ? `<caption style="text-align:left;font-weight:bold;padding:4px 0">${escapeHtml(options.title)}</caption>` : '';
	const head = columns.map((c) => `<th ${th}>${escapeHtml(c.title)}</th>`).join('');
	const body = cells.map((r) => `<tr>${r.map((v) => `<td ${td}>${escapeHtml(v).replace(/\r?\n/g, '<br>')}</td>`).join('')}</tr>`).join('\n');
	const html = `<table class="m365-report" style="border-collapse:collapse;font-family:sans-serif;font-size:13px">${caption}\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;

	// A run of white space that holds a line break becomes one space (one linear pass per cell).
	const flat = (v: string) => (v.includes('\n') ? v.replace(/\s+/g, (run) => (run.includes('\n') ? ' ' : run)) : v);
	// A loop, not Math.max(...cells): a spread of 100,000+ rows overflows the call stack.
	const widths = columns.map((c, i) => {
		let width = Math.min(MAX_TEXT_WIDTH, c.title.length);
		for (const r of cells) if (width < MAX_TEXT_WIDTH) width = Math.max(width, flat(r[i]).length);
		return Math.min(MAX_TEXT_WIDTH, width);
	});
	const line = (values: string[]) => values.map((v, i) => flat(v).padEnd(widths[i])).join(' | ').trimEnd();
	const text = [options.title ?? '', line(columns.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('-+-'), ...cells.map(line)]
		.filter((l, i) => i > 0 || l !== '')
		.join('\n');

	const csv = [columns.map((c) => csvCell(c.title)), ...cells.map((r) => r.map(csvCell))].map((r) => r.join(',')).join('\r\n') + '\r\n';
	return { columns, html, text, csv };
}

/** Puts the report where the body has the placeholder, or after the body. */
export function placeReport(body: string, report: string): string {
	if (body.includes(REPORT_PLACEHOLDER)) return body.split(REPORT_PLACEHOLDER).join(report);
	const close = body.search(/<\/body>/i);
	if (close >= 0) return `${body.slice(0, close)}${report}${body.slice(close)}`;
	return body ? `${body}\n${report}` : report;
}
