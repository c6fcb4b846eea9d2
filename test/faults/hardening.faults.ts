/**
 * The classes of the security review (issue 11): inputs that could stall the event loop, a token
 * echoed back in its XOAUTH2 form, one rejected token in a batch, an IMAP server without UIDPLUS,
 * a server that trickles its replies, and store files left open when a message fails.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { deliverInto, startTestIdp, storeWith, USER } from '../engine/VerifyMailbox/fixture';
import { b64, seededToken } from '../engine/SendReportEmail/fixture';
import { useFilesystemBinaryData } from '../support/engine';
import { startImapServer } from '../support/imap-server';
import { startSmtpServer } from '../support/smtp-server';
import { row, startBed, watched, type Bed } from './support/bed';
import { scan } from './support/ledger';
import { describeOutcome, send, sleep, verify } from './support/run';
import { startTrickleSmtpServer } from './support/servers';

let bed: Bed;
beforeAll(async () => {
	bed = await startBed();
});
afterAll(async () => await bed.stop());
beforeEach(() => {
	bed.smtp.reset();
	bed.idp.reset();
});

/** Runs `work` and reports the longest the event loop was blocked meanwhile. */
async function loopBlockedMs<T>(work: () => Promise<T>): Promise<{ value: T; blockedMs: number }> {
	const h = monitorEventLoopDelay({ resolution: 10 });
	h.enable();
	try {
		const value = await work();
		return { value, blockedMs: h.max / 1e6 };
	} finally {
		h.disable();
	}
}

describe('stall timing: one item never blocks the event loop', () => {
	it('format "both", 600 KB of `<style` HTML and no text part: sent, loop never blocked for long', async () => {
		await row(bed, { area: 'Stall', kind: 'input', tried: 'format both, 600 KB of "<style" HTML, no text part', expected: 1 }, async () => {
			const html = '<style'.repeat(100_000);
			const { value: out, blockedMs } = await loopBlockedMs(async () => await send(watched(bed), [{ json: {} }], { emailFormat: 'both', html, options: { maxMessageSizeMb: 10 } }, { continueOnFail: true }));
			expect(out.items[0].json.messageId).toEqual(expect.any(String));
			// The regular expression this replaced blocked it for 9-15 s.
			expect(blockedMs).toBeLessThan(2000);
			return `sent; event loop blocked at most ${Math.round(blockedMs)} ms`;
		});
	});

	it('a To entry with 120,000 spaces: refused naming To, loop never blocked for long', async () => {
		await row(bed, { area: 'Stall', kind: 'input', tried: 'To entry "a<120,000 spaces>b"', expected: 1, refused: true }, async () => {
			const to = `a${' '.repeat(120_000)}b`;
			const { value: out, blockedMs } = await loopBlockedMs(async () => await send(watched(bed), [{ json: { to } }, { json: { to: 'bob@example.test' } }], { to: '={{ $json.to }}' }, { continueOnFail: true }));
			expect(out.items[0].json).toMatchObject({ code: 'INVALID_INPUT', error: expect.stringMatching(/^To: /) });
			expect(out.items[1].json.messageId).toEqual(expect.any(String));
			expect(blockedMs).toBeLessThan(2000);
			return `refused: ${String(out.items[0].json.error).slice(0, 40)}; blocked ${Math.round(blockedMs)} ms`;
		});
	});
});

describe('encoded secrets', () => {
	// "user=<account>\x01auth=Bearer " is 18 characters plus the account: these three accounts put
	// the token at each of the three byte offsets inside the base64 string.
	const accounts = ['alice@example.test', 'alicee@example.test', 'aliceee@example.test'];
	it.each([
		...accounts.map((account) => [`item output, account ${account}`, account, true] as const),
		['node error, account alice@example.test', accounts[0], false] as const,
	])('a 535 that quotes the base64 XOAUTH2 string back: no token in any encoding (%s)', async (_title, account, continueOnFail) => {
		await row(bed, { area: 'SMTP', kind: 'fault', tried: `535 quoting the base64 XOAUTH2 string (${continueOnFail ? 'item' : 'node error'}, offset ${(18 + account.length) % 3})`, expected: 0 }, async () => {
			const store = watched(bed, { mailbox: account, oauthTokenData: seededToken(bed.idp, account) });
			const before = String(store.tokenData('cred-1').access_token);
			bed.smtp.echoAuthNext(2);
			const out = await send(store, [{ json: {} }], {}, { continueOnFail });
			const after = String(store.tokenData('cred-1').access_token);
			const seen = continueOnFail ? [JSON.stringify(out.items)] : [String(out.error?.message), String(out.error?.description)];
			if (continueOnFail) expect(out.items[0].json).toMatchObject({ code: 'SMTP_AUTH_REJECTED', serverResponse: expect.stringMatching(/535 5\.7\.3 .*\[redacted\]/) });
			else expect(out.error?.description).toMatch(/\[redacted\]/);
			expect(bed.smtp.authAttempts.map((a) => a.user)).toEqual([account, account]);
			expect(scan(seen, [before, after])).toEqual([]);
			expect(bed.idp.tokenRequests).toHaveLength(1);
			return describeOutcome(out);
		});
	});
});

describe('batch token rejection', () => {
	it('6 items, the stored token rejected though it looks fresh: one renewal, all 6 sent once', async () => {
		await row(bed, { area: 'SMTP', kind: 'fault', tried: '6 items, stored token rejected (535) though fresh', expected: 6 }, async () => {
			const store = watched(bed, { oauthTokenData: { ...seededToken(bed.idp), access_token: 'revoked-access-token-value-123' } });
			const out = await send(store, Array.from({ length: 6 }, (_, n) => ({ json: { n } })), { subject: '={{ "item " + $json.n }}' }, { continueOnFail: true });
			expect(out.items.map((i) => i.json.code ?? 'sent')).toEqual(Array(6).fill('sent'));
			expect(bed.idp.tokenRequests).toHaveLength(1);
			return `6 sent, ${bed.idp.tokenRequests.length} token request`;
		});
	});
});

describe('trickling server', () => {
	it('EHLO answered one line a second: Send Report Email stops at the message deadline; Verify Mailbox at its check timeout', async () => {
		const trickle = await startTrickleSmtpServer();
		try {
			await row(bed, { area: 'SMTP', kind: 'fault', tried: 'EHLO reply one continuation line a second (socket timeout 2 s)', expected: 0 }, async () => {
				const started = Date.now();
				const out = await send(watched(bed, { smtpPort: trickle.port }), [{ json: {} }], {}, { continueOnFail: true });
				const took = Date.now() - started;
				// connect 1.5 s + greeting 1.5 s + 4 x socket 2 s = 11 s for the message, retries included.
				expect(out.items[0].json).toMatchObject({ code: 'TIMEOUT', error: expect.stringMatching(/did not finish the message within 11 s/) });
				expect(took).toBeLessThan(16_000);
				await sleep(300);
				expect(trickle.open).toBe(0);
				return `${describeOutcome(out).slice(0, 50)} after ${(took / 1000).toFixed(1)} s`;
			});
			await row(bed, { area: 'SMTP', kind: 'fault', tried: 'trickling EHLO (Verify Mailbox, Check Timeout 2 s)', expected: 0 }, async () => {
				const started = Date.now();
				const run = await verify(storeWith(bed.idp, { smtp: { port: trickle.port, ca: bed.smtp.ca } }), { checks: ['smtp'], checkTimeout: 2 });
				expect(run.verification()).toMatchObject({ status: 'Not Verified', failedCheck: 'smtp' });
				expect(Date.now() - started).toBeLessThan(6000);
				return `Not Verified: ${String(run.verification().code)}`;
			});
		} finally {
			await trickle.stop();
		}
	});
});

describe('IMAP server without UIDPLUS', () => {
	it('the round trip flags its probe \\Deleted and never expunges another client\'s \\Deleted message', async () => {
		const idp = await startTestIdp();
		const imap = await startImapServer({ idp, mailbox: USER, uidplus: false });
		const smtp = await startSmtpServer({ verify: (token, user) => idp.verify(token, user).ok });
		const stop = deliverInto(smtp, imap);
		try {
			await row(undefined, { area: 'IMAP', kind: 'fault', tried: 'round trip on a server without UIDPLUS; another client\'s \\Deleted mail', expected: 0 }, async () => {
				const theirs = imap.deliver('Message-ID: <theirs@example.test>\r\nSubject: other client\r\n\r\nkeep\r\n', { flags: ['\\Deleted'] });
				const run = await verify(storeWith(idp, { imap, smtp }), { checks: ['smtp', 'imap', 'roundTrip'], roundTripTimeout: 10 });
				expect(run.check('roundTrip')).toMatchObject({ status: 'ok', probeRemoval: 'flagged' });
				expect(imap.messages().some((m) => m.uid === theirs.uid)).toBe(true);
				return `Verified; probe ${String(run.check('roundTrip').probeRemoval)}, other mail kept`;
			});
		} finally {
			stop();
			await smtp.stop();
			await imap.stop();
			await idp.stop();
		}
	});
});

/** Files of n8n's binary data store this process holds open. */
function openStoreFiles(): number {
	const folder = String(process.env.N8N_USER_FOLDER);
	return readdirSync('/proc/self/fd').filter((fd) => {
		try {
			return readlinkSync(`/proc/self/fd/${fd}`).startsWith(folder);
		} catch {
			return false;
		}
	}).length;
}

describe('handles', () => {
	beforeAll(async () => await useFilesystemBinaryData());

	it('a streamed attachment and a missing inline image: refused, no store file left open', async () => {
		await row(bed, { area: 'Handles', kind: 'input', tried: '1.5 MB streamed attachment + missing inline image, 3 items', expected: 0, refused: true }, async () => {
			const baseline = openStoreFiles();
			const big = b64(Buffer.alloc(1536 * 1024, 1));
			const item = { json: {}, binary: { data: { base64: big, fileName: 'big.bin', mimeType: 'application/octet-stream' } } };
			const out = await send(watched(bed), [item, item, item], { attachments: 'data', options: { inlineImages: 'logo' } }, { continueOnFail: true });
			for (const i of out.items) expect(String(i.json.error)).toMatch(/^Inline Images: item \d has no binary property "logo"/);
			const until = Date.now() + 3000;
			while (openStoreFiles() > baseline && Date.now() < until) await sleep(50);
			expect(openStoreFiles()).toBeLessThanOrEqual(baseline);
			return `3 refused; store files open ${openStoreFiles()} (before ${baseline})`;
		});
	});
});
