/**
 * Exactly once across restarts, crashes and UIDVALIDITY changes. The harness keeps only what n8n
 * would have saved (static data at each emit and at activation), so a "restart" here loses exactly
 * what a real n8n restart loses.
 */
import type { Idp } from '../../stack/idp';
import { startIdp } from '../../stack/idp';
import { startImapServer, type ImapServer } from '../../support/imap-server';
import { TriggerHarness, triggerNode } from '../../support/trigger';
import { storeWith } from '../VerifyMailbox/fixture';
import { CLIENT, USER, harness, mail, seededToken, sleep, startTestIdp, subjects } from './fixture';

let idp: Idp;
let imap: ImapServer;
let h: TriggerHarness | undefined;
afterEach(async () => {
	await h?.deactivate();
	h = undefined;
	await imap.stop();
	await idp.stop();
});

const counts = (list: string[]) => list.reduce<Record<string, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});

describe('exactly once across restarts', () => {
	beforeEach(async () => {
		idp = await startTestIdp();
		imap = await startImapServer({ idp, mailbox: USER });
	});

	it('after a restart starts what arrived while n8n was down, once, in order', async () => {
		h = harness(idp, imap);
		await h.activate();
		imap.deliver(mail({ subject: 'm1' }));
		imap.deliver(mail({ subject: 'm2' }));
		await h.waitForStarted(2);
		await h.deactivate();
		imap.deliver(mail({ subject: 'm3' }));
		imap.deliver(mail({ subject: 'm4' }));
		imap.deliver(mail({ subject: 'm5' }));
		await h.activate();
		await h.waitForStarted(5);
		imap.deliver(mail({ subject: 'm6' }));
		await h.waitForStarted(6);
		await sleep(500);
		expect(subjects(h)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
	});

	it('a crash in the middle of a backlog neither repeats nor skips a message', async () => {
		h = harness(idp, imap);
		// Executions still running when n8n dies: their messages are not yet confirmed in static data.
		h.executionMs = 300;
		await h.activate();
		const total = 40;
		// n8n "crashes" right after the 15th execution was emitted: nothing after that is saved.
		let crashed: Promise<void> | undefined;
		h.onStart = () => {
			if (h && h.started.length === 15 && !crashed) crashed = h.deactivate();
		};
		for (let i = 1; i <= total; i++) imap.deliver(mail({ subject: `b${i}` }));
		await h.waitForStarted(15);
		await crashed;
		const beforeRestart = h.started.length;
		expect(beforeRestart).toBeGreaterThanOrEqual(15);
		h.onStart = undefined;
		await h.activate();
		await h.waitForStarted(total);
		await sleep(500);
		const c = counts(subjects(h));
		expect(Object.keys(c)).toHaveLength(total);
		expect(Object.values(c).every((n) => n === 1)).toBe(true);
		expect(subjects(h)).toEqual(Array.from({ length: total }, (_, i) => `b${i + 1}`));
		// The unconfirmed tail was emitted again after the restart, and n8n refused it by its key.
		expect(h.duplicatesRefused).toBeGreaterThanOrEqual(1);
	});

	it('the IMAP server restarting (all connections dropped) loses and repeats nothing', async () => {
		h = harness(idp, imap);
		await h.activate();
		imap.deliver(mail({ subject: 'before' }));
		await h.waitForStarted(1);
		imap.dropConnections();
		imap.deliver(mail({ subject: 'during' }));
		await sleep(300);
		imap.deliver(mail({ subject: 'after' }));
		await h.waitForStarted(3, 20_000);
		await sleep(500);
		expect(subjects(h)).toEqual(['before', 'during', 'after']);
		expect(h.errors).toEqual([]);
		expect(imap.logins.filter((l) => l.ok).length).toBeGreaterThanOrEqual(2);
	});

	it('"new and unread already there" starts the unread backlog oldest first, then new mail', async () => {
		imap.deliver(mail({ subject: 'u1' }));
		imap.deliver(mail({ subject: 'read' }), { flags: ['\\Seen'] });
		imap.deliver(mail({ subject: 'u2' }));
		h = harness(idp, imap, { startWith: 'newAndUnread' });
		await h.activate();
		await h.waitForStarted(2);
		imap.deliver(mail({ subject: 'n1' }), { flags: ['\\Seen'] });
		await h.waitForStarted(3);
		await sleep(300);
		// New mail starts whether read or not; the backlog only when unread.
		expect(subjects(h)).toEqual(['u1', 'u2', 'n1']);
		await h.deactivate();
		await h.activate();
		await sleep(800);
		expect(subjects(h)).toEqual(['u1', 'u2', 'n1']);
	});
});

describe('UIDVALIDITY change', () => {
	beforeEach(async () => {
		idp = await startTestIdp();
		imap = await startImapServer({ idp, mailbox: USER });
	});

	it('re-syncs while n8n was down: no flood of old mail, nothing new missed', async () => {
		imap.deliver(mail({ subject: 'old, never started' }));
		// INTERNALDATE has one-second resolution: the README states the same-second boundary.
		await sleep(1100);
		h = harness(idp, imap);
		await h.activate();
		imap.deliver(mail({ subject: 'a' }));
		imap.deliver(mail({ subject: 'b' }));
		await h.waitForStarted(2);
		await h.deactivate();
		await sleep(20);
		imap.deliver(mail({ subject: 'c (arrived while down)' }));
		const before = Number(h.cursor?.uidValidity);
		const after = imap.resetUidValidity();
		expect(after).not.toBe(before);
		imap.deliver(mail({ subject: 'd (after the change)' }));
		await h.activate();
		await h.waitForStarted(4);
		await sleep(800);
		expect(subjects(h)).toEqual(['a', 'b', 'c (arrived while down)', 'd (after the change)']);
		// Saved: up to the message before the last one emitted (confirmed by then).
		expect(h.cursor).toMatchObject({ uidValidity: after, lastUid: 4 });
		// "b" was not yet confirmed when n8n stopped: emitted again after the change, n8n refused it.
		expect(h.duplicatesRefused).toBeGreaterThanOrEqual(1);
		imap.deliver(mail({ subject: 'e' }));
		await h.waitForStarted(5);
		expect(subjects(h).slice(-1)).toEqual(['e']);
	});

	it('re-syncs a live connection the server drops for the change', async () => {
		for (let i = 0; i < 20; i++) imap.deliver(mail({ subject: `old ${i}` }));
		await sleep(1100);
		h = harness(idp, imap);
		await h.activate();
		imap.deliver(mail({ subject: 'x' }));
		await h.waitForStarted(1);
		imap.resetUidValidity();
		await sleep(1500);
		imap.deliver(mail({ subject: 'y' }));
		await h.waitForStarted(2, 20_000);
		await sleep(500);
		expect(subjects(h)).toEqual(['x', 'y']);
		expect(h.errors).toEqual([]);
	});
});

describe('token lifecycle on a long-lived connection', () => {
	it('renews short-lived access tokens through n8n and reconnects before they expire, starting each message once', async () => {
		idp = await startIdp({ accessTokenTtlSeconds: 6 });
		idp.addClient({ ...CLIENT, appMailboxes: [USER] });
		imap = await startImapServer({ idp, mailbox: USER });
		const store = storeWith(idp, { imap }, { oauthTokenData: seededToken(idp, { validForMs: 6000 }) });
		h = new TriggerHarness(store, triggerNode({ folder: { __rl: true, mode: 'path', value: 'INBOX' } }));
		await h.activate();
		const t0 = Date.now();
		let sent = 0;
		while (Date.now() - t0 < 16_000) {
			imap.deliver(mail({ subject: `t${++sent}` }));
			await sleep(1000);
		}
		await h.waitForStarted(sent, 20_000);
		await sleep(500);
		expect(subjects(h)).toEqual(Array.from({ length: sent }, (_, i) => `t${i + 1}`));
		// Each renewal is a refresh through n8n's helper, saved to the credential.
		const refreshes = idp.tokenRequests.filter((r) => r.grantType === 'refresh_token' && r.status === 200).length;
		expect(refreshes).toBeGreaterThanOrEqual(3);
		// ...and only when the token is due (6 s tokens, renewed with a quarter of their life left):
		// not a reconnect storm where the expiry is unknown or stale (n8n before 2.33 records none).
		const elapsed = Date.now() - t0;
		expect(refreshes).toBeLessThanOrEqual(Math.ceil(elapsed / 3000) + 2);
		expect(store.tokenUpdates.length).toBe(refreshes);
		// Every connection logged in with a token that was still valid.
		expect(imap.logins.every((l) => l.ok)).toBe(true);
		expect(imap.logins.length).toBeGreaterThanOrEqual(3);
		expect(imap.logins.length).toBeLessThanOrEqual(refreshes + 1);
		expect(h.errors).toEqual([]);
	});
});
