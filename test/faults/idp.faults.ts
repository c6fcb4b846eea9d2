/** Identity provider faults: down, slow, 500, invalid_grant, AADSTS7000222, no refresh token. */
import { storeWith, seededToken as verifySeed } from '../engine/VerifyMailbox/fixture';
import { CLIENT, row, staleToken, startBed, watched, type Bed } from './support/bed';
import { describeOutcome, send, sleep, verify } from './support/run';
import { closedPort } from './support/servers';

let bed: Bed;
beforeAll(async () => {
	bed = await startBed();
});
afterAll(async () => await bed.stop());
beforeEach(() => {
	bed.smtp.reset();
	bed.idp.reset();
});

const two = [{ json: { n: 1 } }, { json: { n: 2 } }];

describe('identity provider faults', () => {
	it('IdP down: clear error, nothing sent, every item told', async () => {
		await row(bed, { area: 'IdP', kind: 'fault', tried: 'token endpoint down (connection refused), stale token', expected: 0 }, async () => {
			const port = await closedPort();
			const store = watched(bed, { oauthTokenData: staleToken(bed), customTokenUrl: `http://127.0.0.1:${port}/t/oauth2/v2.0/token` });
			const out = await send(store, two, {}, { continueOnFail: true });
			expect(out.items).toHaveLength(2);
			for (const it of out.items) expect(it.json).toMatchObject({ code: 'TOKEN_ENDPOINT_UNAVAILABLE', hint: expect.stringMatching(/Nothing was sent/) });
			expect(bed.smtp.connections).toBe(0);
			return describeOutcome(out);
		});
	});

	it('IdP slow past the timeout (Verify Mailbox, Check Timeout 1 s): Not Verified at the token check', async () => {
		await row(bed, { area: 'IdP', kind: 'fault', tried: 'token endpoint answers after 2.5 s, timeout 1 s', expected: 0 }, async () => {
			const store = storeWith(bed.idp, { smtp: bed.smtp }, { oauthTokenData: verifySeed(bed.idp, { validForMs: -1000 }) });
			bed.idp.setDelay(2500);
			const started = Date.now();
			const run = await verify(store, { checks: ['smtp'], checkTimeout: 1 });
			const v = run.verification();
			expect(v).toMatchObject({ status: 'Not Verified', failedCheck: 'token' });
			expect(String(v.code)).toMatch(/TIMEOUT/);
			expect(Date.now() - started).toBeLessThan(2400);
			expect(bed.smtp.connections).toBe(0);
			// n8n shares one in-flight refresh per credential (same id in every case): let it end,
			// saved and its lease released, before the next case, or that case joins it.
			while (store.tokenUpdates.length === 0) await sleep(50);
			await sleep(100);
			return `Not Verified in ${Date.now() - started} ms: ${String(v.code)}`;
		});
	});

	it('IdP slow but within the timeout: refreshed and sent once', async () => {
		await row(bed, { area: 'IdP', kind: 'fault', tried: 'token endpoint answers after 1 s (Send Report Email)', expected: 1 }, async () => {
			bed.idp.setDelay(1000);
			const out = await send(watched(bed, { oauthTokenData: staleToken(bed) }), [{ json: {} }], {});
			expect(out.error).toBeUndefined();
			expect(bed.idp.tokenRequests).toHaveLength(1);
			return describeOutcome(out);
		});
	});

	it('IdP HTTP 500 (HTML page): clear error, nothing sent; the next run sends', async () => {
		await row(bed, { area: 'IdP', kind: 'fault', tried: 'token endpoint HTTP 500 with an HTML page, then recovers', expected: 1 }, async () => {
			bed.idp.failNext(1, { status: 500, rawBody: '<html><body>Internal Server Error</body></html>' });
			const store = watched(bed, { oauthTokenData: staleToken(bed) });
			const out = await send(store, [{ json: {} }], {}, { continueOnFail: true });
			expect(out.items[0].json).toMatchObject({ code: 'TOKEN_ENDPOINT_UNAVAILABLE', hint: expect.stringMatching(/next run/) });
			expect(bed.smtp.connections).toBe(0);
			const next = await send(store, [{ json: {} }], {});
			expect(next.error).toBeUndefined();
			return `${describeOutcome(out)}; next run ${describeOutcome(next)}`;
		});
	});

	it('invalid_grant (refresh token revoked): reconnect hint, nothing sent', async () => {
		await row(bed, { area: 'IdP', kind: 'fault', tried: 'refresh token revoked (invalid_grant)', expected: 0 }, async () => {
			const store = watched(bed, { oauthTokenData: staleToken(bed) });
			bed.idp.revokeRefreshTokens();
			const out = await send(store, [{ json: {} }], {});
			expect(out.error?.description).toMatch(/"Connect"/);
			expect(bed.smtp.connections).toBe(0);
			return describeOutcome(out);
		});
	});

	it('AADSTS7000222 (client secret expired): names the secret and where to renew it', async () => {
		await row(bed, { area: 'IdP', kind: 'fault', tried: 'invalid_client AADSTS7000222 (secret expired)', expected: 0 }, async () => {
			bed.idp.failNext(2, { status: 401, error: 'invalid_client', aadsts: 7000222 });
			const out = await send(watched(bed, { oauthTokenData: staleToken(bed) }), two, {}, { continueOnFail: true });
			for (const it of out.items) expect(it.json).toMatchObject({ code: 'AADSTS7000222', hint: expect.stringMatching(/New client secret/) });
			expect(bed.smtp.connections).toBe(0);
			return describeOutcome(out);
		});
	});

	it('token response without a refresh token: sent now, and the next refresh still works', async () => {
		await row(bed, { area: 'IdP', kind: 'fault', tried: 'refresh answer lacks refresh_token; two runs, both stale', expected: 2 }, async () => {
			const store = watched(bed, { oauthTokenData: staleToken(bed) });
			bed.idp.omitRefreshTokenNext(1);
			const first = await send(store, [{ json: {} }], {});
			expect(first.error).toBeUndefined();
			// Make the stored token stale again: the second run must refresh with what was kept.
			const kept = store.tokenData('cred-1');
			store.get('cred-1').data.oauthTokenData = { ...kept, n8n_expires_at: String(Date.now() - 60_000) };
			const second = await send(store, [{ json: {} }], {}, { continueOnFail: true });
			expect(bed.idp.tokenRequests.length).toBeGreaterThanOrEqual(2);
			expect(second.items[0]?.json.messageId).toEqual(expect.any(String));
			return `run 1 ${describeOutcome(first)}; run 2 ${describeOutcome(second)}`;
		});
	});
});

export { CLIENT };
