/**
 * Mail Trigger faults through n8n-core's trigger path: connection cut mid-FETCH, a server that goes
 * mute during IDLE, a refused token, a UIDVALIDITY change under load, a 1,000-message backlog. The
 * ledger row counts distinct messages started against those delivered, and starts beyond one.
 */
import type { INodeParameters } from 'n8n-workflow';

import { harness, mail, sleep } from '../engine/MailTrigger/fixture';
import { CLIENT, USER, seededToken } from '../engine/VerifyMailbox/fixture';
import { startIdp, type Idp } from '../stack/idp';
import { startImapServer, type ImapServer } from '../support/imap-server';
import type { TriggerHarness } from '../support/trigger';
import { ledger } from './support/ledger';

let idp: Idp;
let imap: ImapServer;
let h: TriggerHarness | undefined;
let running = false;

async function servers(ttlSeconds = 3600): Promise<{ idp: Idp; imap: ImapServer }> {
	const i = await startIdp({ accessTokenTtlSeconds: ttlSeconds });
	i.addClient({ ...CLIENT, appMailboxes: [USER] });
	const m = await startImapServer({ idp: i, mailbox: USER });
	idp = i;
	imap = m;
	running = true;
	return { idp: i, imap: m };
}

/** Runs after each case of this file only (the suite imports every faults file into one test file). */
async function teardown(): Promise<void> {
	await h?.deactivate();
	h = undefined;
	if (!running) return;
	running = false;
	await imap.stop();
	await idp.stop();
}

function watchedHarness(parameters: INodeParameters = {}, credential = {}): TriggerHarness {
	const t = harness(idp, imap, parameters, credential);
	ledger.watch(t.store);
	return t;
}

/** Records the row from what was delivered and what started, then asserts exactly once. */
async function triggerRow(tried: string, run: () => Promise<{ delivered: string[]; outcome: string }>): Promise<void> {
	let delivered: string[] = [];
	let outcome = 'threw';
	let passed = false;
	try {
		({ delivered, outcome } = await run());
		passed = true;
	} catch (e) {
		outcome = `FAILED: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
		throw e;
	} finally {
		const started = h?.started.map((s) => String(s.items[0]?.json.subject)) ?? [];
		const distinct = new Set(started);
		const startedOnce = delivered.filter((d) => distinct.has(d)).length;
		ledger.see(...(h?.errors ?? []), ...(h?.started.map((s) => s.items) ?? []));
		ledger.record({ area: 'Trigger', kind: 'fault', tried, outcome, expected: delivered.length, delivered: startedOnce, duplicates: started.length - distinct.size, passed });
		if (passed) {
			expect(started.length - distinct.size).toBe(0);
			expect(startedOnce).toBe(delivered.length);
		}
	}
}

const deliverAll = (subjects: string[]) => subjects.forEach((s) => imap.deliver(mail({ subject: s })));
const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

describe('Mail Trigger faults', () => {
	afterEach(teardown);

	it('connection cut mid-FETCH', async () => {
		await servers();
		await triggerRow('connection cut mid-FETCH (twice), 12 messages', async () => {
			h = watchedHarness();
			await h.activate();
			imap.cutOn('UID FETCH', 2);
			const all = names('cut', 12);
			deliverAll(all);
			await h.waitForStarted(12, 30_000);
			await sleep(500);
			return { delivered: all, outcome: `reconnected, ${h.started.length} started` };
		});
	});

	it('server stops answering during IDLE', async () => {
		await servers();
		await triggerRow('server mute during IDLE (response timeout 5 s)', async () => {
			h = watchedHarness({ options: { idleRenewSeconds: 5, responseTimeoutSeconds: 5 } });
			await h.activate();
			deliverAll(['before']);
			await h.waitForStarted(1);
			await sleep(300);
			imap.silence();
			const t0 = Date.now();
			deliverAll(['while mute', 'after']);
			await h.waitForStarted(3, 40_000);
			const took = Date.now() - t0;
			expect(h.errors).toEqual([]);
			return { delivered: ['before', 'while mute', 'after'], outcome: `noticed and reconnected in ${Math.round(took / 1000)} s` };
		});
	});

	it('token refused at renewal', async () => {
		await servers(4);
		await triggerRow('refresh token revoked at renewal (invalid_grant)', async () => {
			h = watchedHarness({}, { oauthTokenData: seededToken(idp, { validForMs: 4000 }) });
			await h.activate();
			deliverAll(['r1']);
			await h.waitForStarted(1);
			idp.failNext(5, { error: 'invalid_grant', aadsts: 70008, description: 'The refresh token has expired due to inactivity.' });
			const until = Date.now() + 20_000;
			while (!h.errors.length && Date.now() < until) await sleep(100);
			expect(h.errors).toHaveLength(1);
			const error = h.errors[0] as Error & { description?: string };
			expect(error.message).toMatch(/\[(AADSTS70008|INVALID_GRANT)\]/);
			expect(error.message).toMatch(/Connect/);
			return { delivered: ['r1'], outcome: `reported through emitError: ${error.message.slice(0, 40)}` };
		});
	});

	it('UIDVALIDITY change under load', async () => {
		await servers();
		await triggerRow('UIDVALIDITY change between two bursts of 10', async () => {
			h = watchedHarness();
			await h.activate();
			const first = names('u', 10);
			deliverAll(first);
			await h.waitForStarted(10);
			imap.resetUidValidity();
			const second = names('v', 10);
			deliverAll(second);
			await h.waitForStarted(20, 30_000);
			await sleep(800);
			return { delivered: [...first, ...second], outcome: `re-synced, ${h.started.length} started` };
		});
	});

	it('1,000-message backlog', async () => {
		await servers();
		await triggerRow('1,000 messages delivered at once', async () => {
			h = watchedHarness();
			await h.activate();
			const all = names('k', 1000);
			const t0 = Date.now();
			deliverAll(all);
			await h.waitForStarted(1000, 180_000);
			const took = (Date.now() - t0) / 1000;
			await sleep(500);
			expect(h.started.map((s) => String(s.items[0]?.json.subject))).toEqual(all);
			return { delivered: all, outcome: `all started in order in ${took.toFixed(1)} s` };
		});
	});
});
