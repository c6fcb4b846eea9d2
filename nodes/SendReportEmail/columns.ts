/**
 * Report Columns that find nothing. A column whose field no input item has gives an empty column
 * in every row; most often the field holds a value instead of a path (an expression such as
 * `{{ $json.client }}` dragged in before the field took paths: it resolves to the first item's
 * value). Pure: items and columns -> warnings.
 */
import { valueAt, type ReportColumn } from './report';

type Row = Record<string, unknown>;

/** The top-level field whose value (in some item) equals `text`, if any. */
function fieldHolding(rows: Row[], text: string): string | undefined {
	for (const row of rows)
		for (const [key, value] of Object.entries(row))
			if ((typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') && String(value) === text) return key;
	return undefined;
}

/** One warning per chosen column that matches no item (empty when all match, or none chosen). */
export function unmatchedColumnWarnings(rows: Row[], columns: ReportColumn[]): string[] {
	if (rows.length === 0) return [];
	const warnings: string[] = [];
	for (const column of columns) {
		const field = column.field.trim();
		if (!field || rows.some((row) => valueAt(row, field) !== undefined)) continue;
		const holder = fieldHolding(rows, field);
		warnings.push(
			holder
				? `Report column "${column.title?.trim() || field}" is empty: its Field holds "${field}", a value of the field "${holder}", not a field name. Write ${holder} into Field instead of an expression such as {{ $json.${holder} }} (dragging the field from the input panel inserts its name).`
				: `Report column "${column.title?.trim() || field}" is empty: no input item has a field "${field}". Check the spelling (use dots for nested fields, e.g. customer.name) or drag the field from the input panel.`,
		);
	}
	return warnings;
}
