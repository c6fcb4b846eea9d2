/**
 * The trigger never stops silently, through n8n-core's trigger path and the harness's model of what
 * n8n 2.41 does on emitError (close the trigger, activate the workflow again after 1 s):
 * - a server without IDLE is polled; with IDLE the poll interval is not used;
 * - a server that goes away and comes back: warnings with growing delays, no emitError, the mail
 *   that arrived meanwhile started once;
 * - a failure the user must act on: one emitError with code and hint, retries with backoff, and on
 *   recovery the mail that arrived meanwhile starts once; a new failure after recovery is reported again.
 * The backoff base is shortened here (BACKOFF is the watcher's own constant); the shape is the same.
 */
import type { Idp } from '../../stack/idp';
import { startImapServer, type ImapServer } from '../../support/imap-server';
import type { TriggerHarness } from '../../support/trigger';
import { BACKOFF } from '../../../nodes/MailTrigger/watcher';
import { USER, harness, mail, secretsIn, sleep, startTestIdp, subjects } from './fixture';

const original = { ...BACKOFF };
beforeAll(() => {
	BACKOFF.baseMs = 200;
	BACKOFF.maxMs = 1600;
});
afterAll(() => {
	Object.assign(BACKOFF, original);
});

let idp: Idp;
let imap: ImapServer | undefined;
let h: TriggerHarness | undefined;
beforeEach(async () => {
	idp = await startTestIdp();
});
afterEach(async () => {
	await h?.deactivate();
	h = undefined;
	await imap?.stop();
	imap = undefined;
	await idp.stop();
});

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
	const deadline = Date.now() + ms;
	while (!ok()) {
		if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
		await sleep(50);
	}
}

/** The waits the warnings announce ("... in 0.4 s ..."), in seconds, in order. */
function announcedDelays(lines: string[]): number[] {
	return lines.map((l) => /(?:Reconnecting|retrying) in (\d+(?:\.\d+)?) s/.exec(l)?.[1]).filter((d): d is string => d !== undefined).map(Number);
}

describe('poll fallback: a server without IDLE', () => {
	it('starts new mail within about the poll interval, each once, and really polls', async () => {
		imap = await startImapServer({ idp, mailbox: USER, idle: false });
		const server = imap;
		h = harness(idp, server, { options: { pollSeconds: 1 } });
		await h.activate();
		expect(server.commandCount('IDLE')).toBe(0);
		const latencies: number[] = [];
		for (const subject of ['p1', 'p2', 'p3']) {
			const t0 = Date.now();
			const before = h.started.length;
			server.deliver(mail({ subject }));
			await h.waitForStarted(before + 1, 15_000);
			latencies.push(Date.now() - t0);
			// Not right after the previous poll: the next one must find it.
			await sleep(300);
		}
		// Poll every second: seconds, on a loaded machine, not the 60 s default.
		expect(Math.max(...latencies)).toBeLessThan(10_000);
		const searches = server.commandCount('UID SEARCH');
		await sleep(3500);
		// Quiet mailbox, still asked: about one search per second.
		expect(server.commandCount('UID SEARCH') - searches).toBeGreaterThanOrEqual(2);
		expect(subjects(h)).toEqual(['p1', 'p2', 'p3']);
		expect(server.commandCount('IDLE')).toBe(0);
		expect(h.errors).toEqual([]);
	});

	it('with IDLE the poll interval is not used: a quiet mailbox is not searched again', async () => {
		imap = await startImapServer({ idp, mailbox: USER });
		const server = imap;
		h = harness(idp, server, { options: { pollSeconds: 1 } });
		await h.activate();
		server.deliver(mail({ subject: 'i1' }));
		await h.waitForStarted(1);
		await sleep(500);
		const searches = server.commandCount('UID SEARCH');
		await sleep(3500);
		expect(server.commandCount('UID SEARCH') - searches).toBe(0);
		expect(server.commandCount('IDLE')).toBeGreaterThanOrEqual(1);
		server.deliver(mail({ subject: 'i2' }));
		await h.waitForStarted(2);
		expect(subjects(h)).toEqual(['i1', 'i2']);
	});
});

describe('the server goes away and comes back (transient)', () => {
	it('warns with growing delays, never calls emitError, reconnects and starts what arrived meanwhile once', async () => {
		imap = await startImapServer({ idp, mailbox: USER });
		const server = imap;
		h = harness(idp, server);
		await h.activate();
		server.deliver(mail({ subject: 'before' }));
		await h.waitForStarted(1);
		const trigger = h;

		await server.goDown();
		server.deliver(mail({ subject: 'during 1' }));
		server.deliver(mail({ subject: 'during 2' }));
		// Refused connections, retried: 0.2, 0.4, 0.8, 1.6, 1.6 s ...
		await until('five reconnect warnings', () => announcedDelays(trigger.logged('warn')).length >= 5);
		const delays = announcedDelays(trigger.logged('warn'));
		expect(delays.slice(0, 5)).toEqual([0.2, 0.4, 0.8, 1.6, 1.6]);
		expect(trigger.logged('warn').every((l) => /\[[A-Z_]+\]/.test(l))).toBe(true);
		expect(trigger.logged('warn').join('\n')).not.toMatch(/Still failing/);

		await server.comeBack();
		server.deliver(mail({ subject: 'after' }));
		await h.waitForStarted(4, 20_000);
		await sleep(500);
		expect(subjects(h)).toEqual(['before', 'during 1', 'during 2', 'after']);
		expect(h.errors).toEqual([]);
		expect(h.reactivations).toEqual([]);
		expect(h.logged('info').some((l) => /Connected again after \d+ failed attempts; going on from the saved position/.test(l))).toBe(true);
		for (const secret of secretsIn(h.store)) expect(JSON.stringify(h.log)).not.toContain(secret);
	});
});

describe('a failure the user must act on (IMAP disabled for the mailbox)', () => {
	it('is reported once through emitError with code and hint, retried with capped backoff, and recovers from the saved position', async () => {
		imap = await startImapServer({ idp, mailbox: USER });
		const server = imap;
		// A workflow activated for the first time: n8n's database held no static data, so n8n's
		// re-activation after emitError hands the trigger empty static data (see the harness).
		h = harness(idp, server);
		h.reactivateMs = 500;
		await h.activate();
		server.deliver(mail({ subject: 'a' }));
		await h.waitForStarted(1);
		const trigger = h;

		// IMAP switched off for the mailbox: Exchange accepts the token, then refuses every command.
		server.setMode('notConnected');
		server.dropConnections();
		await until('the failure reported', () => trigger.errors.length >= 1);
		server.deliver(mail({ subject: 'while failing' }));
		expect(trigger.errors[0].message).toMatch(/\[IMAP_NOT_CONNECTED\].*Set-CASMailbox -Identity <mailbox> -ImapEnabled \$true/);
		for (const secret of secretsIn(h.store)) expect(JSON.stringify(trigger.errors[0], Object.getOwnPropertyNames(trigger.errors[0]))).not.toContain(secret);

		// n8n closed the trigger and activated the workflow again; it keeps retrying with backoff,
		// without reporting the same failure again.
		await until('n8n activated the workflow again', () => trigger.reactivations.length >= 1);
		expect(trigger.reactivations[0].error).toBeUndefined();
		await until('four retries while failing', () => trigger.logged('warn').filter((l) => /Still failing/.test(l)).length >= 4);
		const retries = announcedDelays(trigger.logged('warn').filter((l) => /Still failing/.test(l)));
		expect(retries.every((d, i) => i === 0 || d >= retries[i - 1])).toBe(true);
		expect(retries[retries.length - 1]).toBeGreaterThan(retries[0]);
		expect(Math.max(...retries)).toBeLessThanOrEqual(BACKOFF.maxMs / 1000);
		expect(trigger.errors).toHaveLength(1);
		expect(trigger.reactivations).toHaveLength(1);

		// The admin turns IMAP back on: the next retry connects, says so, and goes on from "a".
		server.setMode('normal');
		await until('recovered', () => trigger.logged('info').some((l) => /IMAP_NOT_CONNECTED is resolved/.test(l)), 20_000);
		server.deliver(mail({ subject: 'after' }));
		await until('three started', () => trigger.started.length >= 3, 20_000);
		await sleep(500);
		expect(subjects(h)).toEqual(['a', 'while failing', 'after']);
		expect(h.errors).toHaveLength(1);

		// Failing again after it recovered is a new failure: reported again, once.
		server.setMode('notConnected');
		server.dropConnections();
		await until('the second failure reported', () => trigger.errors.length >= 2);
		await until('n8n activated it again', () => trigger.reactivations.length >= 2);
		await until('retrying again', () => trigger.logged('warn').filter((l) => /Still failing/.test(l)).length >= retries.length + 2);
		expect(trigger.errors).toHaveLength(2);
	});

	it('the same after n8n loaded the static data from its database (the re-activation gets the static data of the failed activation back)', async () => {
		imap = await startImapServer({ idp, mailbox: USER });
		const server = imap;
		h = harness(idp, server);
		h.reactivateMs = 300;
		await h.activate();
		server.deliver(mail({ subject: 'a' }));
		await h.waitForStarted(1);
		// A restart: this activation loads the saved static data, as n8n does at start-up.
		await h.deactivate();
		await h.activate('init');
		const trigger = h;
		server.setMode('notConnected');
		server.dropConnections();
		await until('n8n activated the workflow again', () => trigger.reactivations.length >= 1);
		server.deliver(mail({ subject: 'while failing' }));
		await until('two retries while failing', () => trigger.logged('warn').filter((l) => /Still failing/.test(l)).length >= 2);
		expect(trigger.reactivations[0].error).toBeUndefined();
		expect(trigger.errors).toHaveLength(1);
		server.setMode('normal');
		await until('two started', () => trigger.started.length >= 2, 20_000);
		await sleep(500);
		expect(subjects(h)).toEqual(['a', 'while failing']);
	});

	it('a user who deactivates and activates again sees the failure at once (no silent retrying)', async () => {
		imap = await startImapServer({ idp, mailbox: USER });
		const server = imap;
		h = harness(idp, server);
		h.reactivateMs = 300;
		await h.activate();
		const trigger = h;
		server.setMode('notConnected');
		server.dropConnections();
		await until('n8n activated the workflow again', () => trigger.reactivations.length >= 1);
		await h.deactivate();
		await expect(h.activate()).rejects.toThrow(/\[IMAP_NOT_CONNECTED\]/);
	});
});
