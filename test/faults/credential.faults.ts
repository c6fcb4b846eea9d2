/** A credential filled in wrongly: refused before any connection, naming the field and the fix. */
import type { IDataObject } from 'n8n-workflow';

import { row, startBed, watched, type Bed } from './support/bed';
import { describeOutcome, send } from './support/run';

let bed: Bed;
beforeAll(async () => {
	bed = await startBed();
});
afterAll(async () => await bed.stop());
beforeEach(() => {
	bed.smtp.reset();
	bed.idp.reset();
});

const refused: Array<{ tried: string; data: IDataObject; field: RegExp }> = [
	{ tried: 'Tenant ID "my tenant!" (not a GUID or domain)', data: { tenantId: 'my tenant!', customTokenUrl: '', customAuthUrl: '' }, field: /Directory \(Tenant\) ID/ },
	{ tried: 'Custom Token URL "login.example/token" (no scheme)', data: { customTokenUrl: 'login.example/token' }, field: /Custom Token URL/ },
	{ tried: 'Custom Token URL "ftp://..." (wrong scheme)', data: { customTokenUrl: 'ftp://127.0.0.1/token' }, field: /Custom Token URL/ },
	{ tried: 'SMTP Host "https://smtp.office365.com" (a URL)', data: { smtpHost: 'https://smtp.office365.com' }, field: /SMTP Host/ },
	{ tried: 'SMTP Host "smtp.office365.com:587" (port in host)', data: { smtpHost: 'smtp.office365.com:587' }, field: /SMTP Host/ },
	{ tried: 'SMTP Port 99999', data: { smtpPort: 99999 }, field: /SMTP Port/ },
	{ tried: 'Mailbox "alice" (not an address)', data: { mailbox: 'alice' }, field: /mailbox/i },
	{ tried: 'Mailbox empty', data: { mailbox: '' }, field: /mailbox/i },
	{ tried: 'Trusted CA "not a certificate"', data: { customCa: 'not a certificate' }, field: /trusted CA/i },
];

describe('malformed credential', () => {
	it.each(refused)('$tried', async ({ tried, data, field }) => {
		await row(bed, { area: 'Credential', kind: 'input', tried, expected: 0, refused: true }, async () => {
			const out = await send(watched(bed, data), [{ json: {} }, { json: {} }], {}, { continueOnFail: true });
			for (const item of out.items) {
				expect(item.json).toMatchObject({ code: 'INVALID_CREDENTIAL', hint: expect.any(String) });
				expect(String(item.json.error)).toMatch(field);
			}
			expect(bed.smtp.connections).toBe(0);
			expect(bed.idp.tokenRequests).toHaveLength(0);
			return `refused: ${describeOutcome(out).replace(/^INVALID_CREDENTIAL: /, '')}`;
		});
	});

	it('Mailbox differing in case from the signed-in account: sent', async () => {
		await row(bed, { area: 'Credential', kind: 'input', tried: 'Mailbox "ALICE@Example.TEST", token for alice@example.test', expected: 1 }, async () => {
			const out = await send(watched(bed, { mailbox: 'ALICE@Example.TEST' }), [{ json: {} }], {});
			expect(out.error).toBeUndefined();
			expect(bed.smtp.authAttempts.every((a) => a.ok)).toBe(true);
			return `sent as designed: ${describeOutcome(out)}`;
		});
	});
});
