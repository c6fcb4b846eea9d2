/** Report mode: one email for all items, with the table in the body and a CSV file. */
import { runWorkflow } from '../../support/engine';
import { NODE, b64, runSend, sendWorkflow, startBed, storeFor, type Bed } from './fixture';

let bed: Bed;
beforeAll(async () => {
	bed = await startBed();
});
afterAll(async () => await bed.stop());
beforeEach(() => bed.smtp.reset());

const rows = [
	{ json: { region: 'North <b>&</b>', sales: 1200, owner: { name: 'Ann', tags: ['a', 'b'] } }, binary: { data: { base64: b64('one'), fileName: 'north.txt', mimeType: 'text/plain' } } },
	{ json: { region: 'South, "East"', sales: -5, owner: { name: '=HYPERLINK("x")', tags: [] } }, binary: { data: { base64: b64('two'), fileName: 'south.txt', mimeType: 'text/plain' } } },
	{ json: { region: 'West\nCoast', sales: 0, owner: null } },
];

it('sends one email with the table at the placeholder, a CSV file and every item\'s files', async () => {
	const out = await runSend(storeFor(bed, { signature: 'Sig' }), rows, {
		mode: 'report',
		subject: 'Weekly',
		emailFormat: 'both',
		html: '<h1>Sales</h1>[[report]]<p>Bye</p>',
		text: 'Sales\n[[report]]\nBye',
		reportColumns: { column: [{ field: 'owner.name', title: 'Owner' }, { field: 'region', title: 'Region' }, { field: 'sales' }, { field: 'owner', title: 'Raw owner' }] },
		reportTitle: 'Week 12',
		attachments: 'data',
	});
	expect(out.error).toBeUndefined();
	expect(out.items).toHaveLength(1);
	expect(out.items[0].pairedItem).toEqual([{ item: 0 }, { item: 1 }, { item: 2 }]);
	expect(bed.smtp.messages).toHaveLength(1);
	const mail = await bed.smtp.parsed(0);
	const html = String(mail.html);
	expect(html.indexOf('<h1>Sales</h1><table')).toBeGreaterThanOrEqual(0);
	expect(html.indexOf('</table><p>Bye</p>')).toBeGreaterThan(0);
	expect(html).toContain('<caption');
	expect(html).toMatch(/<th[^>]*>Owner<\/th><th[^>]*>Region<\/th><th[^>]*>sales<\/th><th[^>]*>Raw owner<\/th>/);
	expect(html).toContain('North &lt;b&gt;&amp;&lt;/b&gt;');
	expect(html).toContain('South, &quot;East&quot;');
	expect(html).toContain('West<br>Coast');
	expect(html).toContain('name: Ann, tags: [a, b]');
	expect(html).not.toContain('<b>&</b>');
	expect(mail.text).toMatch(/^Owner +\| Region +\| sales \| Raw owner$/m);
	expect(mail.text).toMatch(/Bye\n\n-- \nSig/);

	const csv = mail.attachments.find((a) => a.filename === 'report.csv');
	expect(csv?.contentType).toBe('text/csv');
	expect(csv?.content.subarray(3).toString()).toBe(
		[
			'Owner,Region,sales,Raw owner',
			'Ann,North <b>&</b>,1200,"name: Ann, tags: [a, b]"',
			'"\'=HYPERLINK(""x"")","South, ""East""",-5,"name: =HYPERLINK(""x""), tags: []"',
			',"West\nCoast",0,',
			'',
		].join('\r\n'),
	);
	expect(mail.attachments.filter((a) => a.filename?.endsWith('.txt')).map((a) => a.content.toString())).toEqual(['one', 'two']);
});

it('appends the table when there is no placeholder and can send only the CSV', async () => {
	await runSend(storeFor(bed), rows.map((r) => ({ json: r.json })), { mode: 'report', html: '<p>Intro</p>' });
	const withTable = await bed.smtp.parsed(0);
	expect(String(withTable.html)).toMatch(/^<p>Intro<\/p>\s*<table/);
	expect(String(withTable.html)).toMatch(/<th[^>]*>region<\/th><th[^>]*>sales<\/th><th[^>]*>owner<\/th>/);
	bed.smtp.reset();
	await runSend(storeFor(bed), rows.map((r) => ({ json: r.json })), { mode: 'report', html: '<p>Intro</p>', reportOutput: 'csv', csvFileName: 'week.csv' });
	const csvOnly = await bed.smtp.parsed(0);
	expect(String(csvOnly.html)).not.toContain('<table');
	expect(csvOnly.attachments.map((a) => a.filename)).toEqual(['week.csv']);
});

describe('Report Columns from dragged fields', () => {
	const clients = [{ json: { client: 'Northwind', tickets: 3 } }, { json: { client: 'Fabrikam', tickets: 1 } }];
	const csvOf = async () => (await bed.smtp.parsed(0)).attachments.find((a) => a.filename === 'report.csv')?.content.toString('utf8').replace(/^\uFEFF/, '') ?? '';

	it('a dragged field (the path "client", as requiresDataPath makes n8n insert it) fills its column in every row', async () => {
		const out = await runSend(storeFor(bed), clients, { mode: 'report', reportColumns: { column: [{ field: 'client', title: 'Client' }, { field: 'tickets' }] } });
		expect(out.error).toBeUndefined();
		expect(out.items[0].json.warnings).toBeUndefined();
		expect(await csvOf()).toBe('Client,tickets\r\nNorthwind,3\r\nFabrikam,1\r\n');
	});

	it('the legacy {{ $json.client }} (the first item\'s value) is sent with a warning in the output and in the output pane', async () => {
		const { nodes, connections } = sendWorkflow(clients, { mode: 'report', reportColumns: { column: [{ field: '={{ $json.client }}', title: 'Client' }] } });
		const result = await runWorkflow({ nodes, connections, store: storeFor(bed) });
		const warning = 'Report column "Client" is empty: its Field holds "Northwind", a value of the field "client", not a field name. Write client into Field instead of an expression such as {{ $json.client }} (dragging the field from the input panel inserts its name).';
		expect(result.output(NODE)[0].json.warnings).toEqual([warning]);
		expect(result.run.data.resultData.runData[NODE][0].hints).toEqual([{ message: warning, type: 'warning', location: 'outputPane' }]);
		expect(await csvOf()).toBe('Client\r\n\r\n\r\n');
	});
});

describe('a report of 130,000 items', () => {
	const many = Array.from({ length: 130_000 }, (_, n) => ({ json: { id: n, city: n % 2 ? 'Oslo' : 'Lima', note: n % 9 ? 'ok' : 'two\nlines' } }));

	it('renders and is sent when it fits (CSV only)', async () => {
		const out = await runSend(storeFor(bed), many, { mode: 'report', reportOutput: 'csv', options: { maxMessageSizeMb: 20 } });
		expect(out.error).toBeUndefined();
		expect(out.items[0].json.messageId).toEqual(expect.any(String));
		const mail = await bed.smtp.parsed(0);
		expect(mail.attachments[0].content.toString('utf8').split('\r\n')).toHaveLength(130_002);
	});

	it('gives a clear size error, not a stack overflow, when the table would be too big', async () => {
		const out = await runSend(storeFor(bed), many, { mode: 'report', reportOutput: 'both', options: { maxMessageSizeMb: 5 } }, { continueOnFail: true });
		expect(out.items[0].json).toMatchObject({ code: 'INVALID_INPUT', error: expect.stringMatching(/^Message size: the body alone is about .* MB/), hint: expect.stringMatching(/CSV File Only.*Max Message Size/) });
		expect(bed.smtp.messages).toHaveLength(0);
	});
});
