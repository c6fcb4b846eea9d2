import { SentLedger, ledgerKey, mailFingerprint } from '../../../nodes/SendReportEmail/sent-ledger';
import { unmatchedColumnWarnings } from '../../../nodes/SendReportEmail/columns';

describe('the ledger of accepted emails', () => {
	it('forgets entries after their time and keeps at most its size', () => {
		let now = 0;
		const ledger = new SentLedger(1000, 3, () => now);
		ledger.remember('a', { kind: 'sent', json: { messageId: '<a@x>' } });
		expect(ledger.get('a')).toEqual({ kind: 'sent', json: { messageId: '<a@x>' } });
		now = 1000;
		expect(ledger.get('a')).toBeUndefined();
		for (const k of ['b', 'c', 'd', 'e']) ledger.remember(k, { kind: 'sent', json: {} });
		expect(ledger.size).toBe(3);
		expect(ledger.get('b')).toBeUndefined();
		expect(ledger.get('e')).toBeDefined();
	});

	it('tells different emails of the same item apart, not the Message-ID or date', () => {
		const base = { from: { name: '', address: 'a@x.test' }, to: [{ name: 'B', address: 'b@x.test' }], subject: 'S', html: '<p>1</p>' };
		expect(mailFingerprint({ ...base, messageId: '<1@x>', date: new Date(1) })).toBe(mailFingerprint({ ...base, messageId: '<2@x>', date: new Date(2) }));
		expect(mailFingerprint(base)).not.toBe(mailFingerprint({ ...base, subject: 'T' }));
		expect(mailFingerprint(base)).not.toBe(mailFingerprint({ ...base, to: [{ name: 'B', address: 'c@x.test' }] }));
		const key = (runIndex: number) => ledgerKey({ executionId: '7', node: 'Send', runIndex, itemIndex: 0, fingerprint: 'f' });
		expect(key(0)).not.toBe(key(1));
	});
});

describe('report columns that match no item', () => {
	const rows = [{ client: 'Northwind', tickets: 3 }, { client: 'Fabrikam', tickets: 1 }];

	it('no warning for paths that exist, nested or not', () => {
		expect(unmatchedColumnWarnings([{ customer: { name: 'A' } }], [{ field: 'customer.name' }])).toEqual([]);
		expect(unmatchedColumnWarnings(rows, [{ field: 'client' }, { field: ' tickets ' }])).toEqual([]);
	});

	it('a value left by a dragged {{ $json.client }} is named as such, with the path to write instead', () => {
		const [warning] = unmatchedColumnWarnings(rows, [{ field: 'Northwind', title: 'Client' }]);
		expect(warning).toBe('Report column "Client" is empty: its Field holds "Northwind", a value of the field "client", not a field name. Write client into Field instead of an expression such as {{ $json.client }} (dragging the field from the input panel inserts its name).');
	});

	it('a misspelt field is named', () => {
		expect(unmatchedColumnWarnings(rows, [{ field: 'clinet' }])).toEqual([expect.stringContaining('no input item has a field "clinet"')]);
	});
});
