/** IMAP faults, as Verify Mailbox meets them: refused, hang-up during AUTHENTICATE, not connected, stall. */
import { startTestIdp, storeWith, USER } from '../engine/VerifyMailbox/fixture';
import type { Idp } from '../stack/idp';
import { startImapServer, type ImapServer } from '../support/imap-server';
import { fixtureCertificate } from '../support/smtp-server';
import { row } from './support/bed';
import { verify } from './support/run';
import { startImapHangUp } from './support/servers';

let idp: Idp;
beforeAll(async () => {
	idp = await startTestIdp();
});
afterAll(async () => await idp.stop());
beforeEach(() => idp.reset());

async function withImap<T>(server: { stop(): Promise<void> }, work: () => Promise<T>): Promise<T> {
	try {
		return await work();
	} finally {
		await server.stop();
	}
}

function notVerified(run: Awaited<ReturnType<typeof verify>>, code: RegExp): string {
	const v = run.verification();
	expect(v).toMatchObject({ status: 'Not Verified', failedCheck: 'imap' });
	expect(String(v.code)).toMatch(code);
	expect(String(v.hint).length).toBeGreaterThan(20);
	return `Not Verified: ${String(v.code)}`;
}

describe('IMAP faults', () => {
	it('connection refused', async () => {
		const down: ImapServer = await startImapServer({ idp, mailbox: USER, mode: 'down' });
		await withImap(down, async () =>
			await row(undefined, { area: 'IMAP', kind: 'fault', tried: 'connection refused', expected: 0 }, async () =>
				notVerified(await verify(storeWith(idp, { imap: down }), { checks: ['imap'], checkTimeout: 2 }), /CONNECTION_REFUSED/)));
	});

	it('closed during AUTHENTICATE', async () => {
		const { key, cert } = fixtureCertificate();
		const hangUp = await startImapHangUp({ key, cert });
		await withImap(hangUp, async () =>
			await row(undefined, { area: 'IMAP', kind: 'fault', tried: 'server hangs up on AUTHENTICATE XOAUTH2', expected: 0 }, async () => {
				const out = notVerified(await verify(storeWith(idp, { imap: { port: hangUp.port, ca: cert } }), { checks: ['imap'], checkTimeout: 2 }), /^CONNECTION_RESET$/);
				expect(hangUp.authenticates).toBeGreaterThan(0);
				return out;
			}));
	});

	it('"User is authenticated but not connected"', async () => {
		const nc = await startImapServer({ idp, mailbox: USER, mode: 'notConnected' });
		await withImap(nc, async () =>
			await row(undefined, { area: 'IMAP', kind: 'fault', tried: '"User is authenticated but not connected."', expected: 0 }, async () => {
				const run = await verify(storeWith(idp, { imap: nc }), { checks: ['imap'], checkTimeout: 2, failWhenNotVerified: true });
				const err = run.result.error('Verify');
				expect(err?.message).toMatch(/Not Verified: the imap check failed/);
				expect(err?.description).toMatch(/Full Access to a shared mailbox/);
				return `node error: ${String(err?.message).slice(0, 60)}`;
			}));
	});

	it('a server that stalls', async () => {
		const stall = await startImapServer({ idp, mailbox: USER, mode: 'stall' });
		await withImap(stall, async () =>
			await row(undefined, { area: 'IMAP', kind: 'fault', tried: 'accepts TCP, never does TLS or greets (timeout 1 s)', expected: 0 }, async () => {
				const started = Date.now();
				const out = notVerified(await verify(storeWith(idp, { imap: stall }), { checks: ['imap'], checkTimeout: 1 }), /TIMEOUT/);
				expect(Date.now() - started).toBeLessThan(3000);
				return out;
			}));
	});
});
