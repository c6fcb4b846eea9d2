import { cellText, csvCell, placeReport, renderReport, reportColumns } from '../../../nodes/SendReportEmail/report';

describe('report rendering', () => {
	it('shows nested values readably', () => {
		expect(cellText({ a: 1, b: [1, 2], c: { d: 'x' } })).toBe('a: 1, b: [1, 2], c: {d: x}');
		expect(cellText(new Date('2024-01-02T03:04:05Z'))).toBe('2024-01-02T03:04:05.000Z');
		expect(cellText(null)).toBe('');
		expect(cellText(['a', { b: 1 }])).toBe('a, {b: 1}');
	});
	it('quotes CSV cells and defuses spreadsheet formulas, but keeps negative numbers', () => {
		expect(csvCell('a,b')).toBe('"a,b"');
		expect(csvCell('say "hi"')).toBe('"say ""hi"""');
		expect(csvCell('=SUM(A1)')).toBe("'=SUM(A1)");
		expect(csvCell('-5')).toBe('-5');
		expect(csvCell('@cmd')).toBe("'@cmd");
	});
	it('picks, orders and titles columns, or takes every field in first-seen order', () => {
		const rows = [{ b: 1, a: 2 }, { c: 3 }];
		expect(reportColumns(rows)).toEqual([{ field: 'b', title: 'b' }, { field: 'a', title: 'a' }, { field: 'c', title: 'c' }]);
		expect(reportColumns(rows, [{ field: 'a', title: 'Alpha' }, { field: ' c ' }, { field: '' }])).toEqual([{ field: 'a', title: 'Alpha' }, { field: 'c', title: 'c' }]);
	});
	it('escapes HTML and reads dotted paths (a key with a dot wins)', () => {
		const r = renderReport([{ 'x.y': 'flat', x: { y: 'deep' }, t: '<i>&' }], { columns: [{ field: 'x.y' }, { field: 't' }], title: 'A & B' });
		expect(r.html).toContain('>flat</td>');
		expect(r.html).toContain('&lt;i&gt;&amp;');
		expect(r.html).toContain('A &amp; B</caption>');
		expect(r.csv).toBe('x.y,t\r\nflat,<i>&\r\n');
	});
	it('places the table at the placeholder, before </body>, or after the body', () => {
		expect(placeReport('a[[report]]b', 'T')).toBe('aTb');
		expect(placeReport('<body>x</body>', 'T')).toBe('<body>xT</body>');
		expect(placeReport('x', 'T')).toBe('x\nT');
	});
});
