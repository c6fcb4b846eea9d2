/** Ten executions at once sharing one credential whose access token is stale. */
import { row, staleToken, startBed, watched, type Bed } from './support/bed';
import { send } from './support/run';

let bed: Bed;
beforeAll(async () => {
	bed = await startBed();
});
afterAll(async () => await bed.stop());

describe('concurrency', () => {
	it('ten executions, one stale credential: every message exactly once, refreshes bounded', async () => {
		bed.smtp.reset();
		bed.idp.reset();
		await row(bed, { area: 'Concurrency', kind: 'fault', tried: '10 executions at once, one credential, stale token', expected: 10 }, async () => {
			const store = watched(bed, { oauthTokenData: staleToken(bed) });
			const runs = await Promise.all(Array.from({ length: 10 }, (_, n) => send(store, [{ json: { n } }], { subject: `={{ "run " + $json.n }}` }, { continueOnFail: true })));
			for (const r of runs) expect(r.items[0]?.json.messageId).toEqual(expect.any(String));
			const subjects = bed.smtp.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1]?.trim()).sort();
			expect(subjects).toEqual(Array.from({ length: 10 }, (_, n) => `run ${n}`).sort());
			const refreshes = bed.idp.tokenRequests.length;
			// n8n serializes refreshes per credential; each execution refreshes at most once.
			expect(refreshes).toBeGreaterThanOrEqual(1);
			expect(refreshes).toBeLessThanOrEqual(10);
			expect(bed.idp.tokenRequests.every((t) => t.status === 200)).toBe(true);
			return `10 sent once each; ${refreshes} token refresh(es), all 200`;
		});
	});
});
