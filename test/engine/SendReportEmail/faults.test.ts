/** Refusals, retries, pacing and limits, as a workflow user sees them. */
import { CLIENT, b64, runSend, seededToken, startBed, storeFor, USER, type Bed } from './fixture';

let bed: Bed;
beforeAll(async () => {
	bed = await startBed();
});
afterAll(async () => await bed.stop());
beforeEach(() => {
	bed.smtp.reset();
	bed.idp.reset();
});

const stages = () => bed.smtp.commands.map((c) => c.stage);

describe('transient refusals are retried, never duplicated', () => {
	it('retries a 452 on RCPT TO and sends once', async () => {
		bed.smtp.failNext('rcpt', { code: 452, text: '4.3.1 Insufficient system resources' });
		const out = await runSend(storeFor(bed), [{ json: {} }], {});
		expect(out.error).toBeUndefined();
		expect(out.items[0].json.attempts).toBe(2);
		expect(bed.smtp.messages).toHaveLength(1);
	});

	it('retries a 451 answered to the message data (the server kept nothing) and sends once', async () => {
		bed.smtp.failNext('data', { code: 451, text: '4.7.500 Server busy. Please try again later' });
		const out = await runSend(storeFor(bed), [{ json: {} }], {});
		expect(out.error).toBeUndefined();
		expect(out.items[0].json.attempts).toBe(2);
		expect(bed.smtp.messages).toHaveLength(1);
	});

	it('retries 432 4.3.2 (too many connections) at login', async () => {
		bed.smtp.failNext('auth', { code: 432, text: '4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded' });
		const out = await runSend(storeFor(bed), [{ json: {} }], {});
		expect(out.error).toBeUndefined();
		expect(bed.smtp.messages).toHaveLength(1);
		expect(bed.idp.tokenRequests).toHaveLength(0);
	});

	it('gives up after the configured retries with the mapped error', async () => {
		bed.smtp.failNext('mail', { code: 451, text: '4.4.3 Temporary server error' }, 5);
		const out = await runSend(storeFor(bed), [{ json: {} }], { options: { retries: 1 } }, { continueOnFail: true });
		expect(out.items[0].json).toMatchObject({ code: 'SMTP_TEMPORARY_FAILURE', hint: expect.stringContaining('retried') });
		expect(stages().filter((s) => s === 'mail')).toHaveLength(2);
		expect(bed.smtp.messages).toHaveLength(0);
	});

	it('reports a drop after the data as outcome unknown and does not resend it; other items still go', async () => {
		bed.smtp.dropAfterDataNext();
		const out = await runSend(storeFor(bed), [{ json: { n: 1 } }, { json: { n: 2 } }], { subject: '={{ "n" + $json.n }}', options: { retries: 3 } }, { continueOnFail: true });
		const [first, second] = out.items;
		expect(first.json).toMatchObject({ code: 'SMTP_OUTCOME_UNKNOWN', outcomeUnknown: true, hint: expect.stringContaining('did not resend') });
		expect(first.pairedItem).toEqual([{ item: 0 }]);
		expect(second.json.messageId).toEqual(expect.any(String));
		await new Promise((r) => setTimeout(r, 300));
		const subjects = bed.smtp.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1]?.trim());
		expect(subjects.filter((s) => s === 'n1')).toHaveLength(1);
		expect(subjects.filter((s) => s === 'n2')).toHaveLength(1);
	});
});

describe('refusals map to what to do', () => {
	const cases: Array<{ name: string; stage: 'connect' | 'auth' | 'mail' | 'data'; code: number; text: string; expected: string; hint: RegExp }> = [
		{ name: '535 5.7.139 SMTP AUTH disabled', stage: 'auth', code: 535, text: '5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.', expected: 'SMTP_AUTH_DISABLED_TENANT', hint: /Set-CASMailbox -Identity alice@example.test -SmtpClientAuthenticationDisabled \$false/ },
		{ name: '535 5.7.139 for the mailbox', stage: 'auth', code: 535, text: '5.7.139 Authentication unsuccessful, the user credentials were incorrect.', expected: 'SMTP_AUTH_DISABLED', hint: /Set-CASMailbox/ },
		{ name: '554 5.2.0 daily quota', stage: 'data', code: 554, text: '5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception', expected: 'SMTP_DAILY_QUOTA', hint: /24-hour/ },
		{ name: '421 4.7.66 TLS too old', stage: 'connect', code: 421, text: '4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2.', expected: 'SMTP_TLS_TOO_OLD', hint: /TLS/ },
	];
	it.each(cases)('$name', async ({ stage, code, text, expected, hint }) => {
		bed.smtp.failNext(stage, { code, text });
		const out = await runSend(storeFor(bed), [{ json: {} }], {}, { continueOnFail: true });
		expect(out.items[0].json).toMatchObject({ code: expected, hint: expect.stringMatching(hint), error: expect.any(String) });
		expect(bed.smtp.messages).toHaveLength(0);
		expect(bed.idp.tokenRequests).toHaveLength(0);
	});

	it('550 5.7.60 when From is not granted send-as, as a node error with the fix filled in', async () => {
		const out = await runSend(storeFor(bed), [{ json: {} }], { options: { from: 'ceo@example.test' } });
		expect(out.error?.message).toMatch(/alice@example\.test signed in, but may not send as ceo@example\.test/);
		expect(out.error?.description).toMatch(/Add-RecipientPermission -Identity ceo@example\.test -Trustee alice@example\.test -AccessRights SendAs/);
		expect(bed.smtp.messages).toHaveLength(0);
	});

	it('452 4.5.3 too many recipients is not retried: resending the same message cannot help', async () => {
		bed.smtp.failNext('rcpt', { code: 452, text: '4.5.3 Too many recipients' });
		const out = await runSend(storeFor(bed), [{ json: {} }], {}, { continueOnFail: true });
		expect(out.items[0].json).toMatchObject({ code: 'SMTP_TOO_MANY_RECIPIENTS', hint: expect.stringMatching(/split the recipients/) });
		expect(bed.smtp.commands.filter((c) => c.stage === 'rcpt')).toHaveLength(1);
		expect(bed.smtp.messages).toHaveLength(0);
	});

	it('a token the server rejects (535 5.7.3) is refreshed once, then the mail goes', async () => {
		// Looks fresh to n8n (expiry ahead), but the server no longer takes it (revoked, or wrong audience).
		const stale = { ...seededToken(bed.idp), access_token: 'revoked-access-token-value' };
		const out = await runSend(storeFor(bed, { oauthTokenData: stale }), [{ json: {} }], {});
		expect(out.error).toBeUndefined();
		expect(bed.smtp.authAttempts.map((a) => a.ok)).toEqual([false, true]);
		expect(bed.idp.tokenRequests).toHaveLength(1);
		expect(bed.smtp.messages).toHaveLength(1);
	});

	it.each([6, 2])('one email per item, %d items, the stored token rejected: every item waits for the one renewal and goes once', async (count) => {
		const stale = { ...seededToken(bed.idp), access_token: 'revoked-access-token-value' };
		const items = Array.from({ length: count }, (_, n) => ({ json: { n } }));
		const out = await runSend(storeFor(bed, { oauthTokenData: stale }), items, { subject: '={{ "item " + $json.n }}' }, { continueOnFail: true });
		expect(out.items.map((i) => i.json.code ?? 'sent')).toEqual(items.map(() => 'sent'));
		expect(bed.idp.tokenRequests).toHaveLength(1);
		const subjects = bed.smtp.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1]?.trim()).sort();
		expect(subjects).toEqual(items.map((_, n) => `item ${n}`).sort());
		// The renewed token logs in on new connections; no login with it failed.
		expect(bed.smtp.authAttempts.filter((a) => a.ok).length).toBeGreaterThanOrEqual(1);
		expect(bed.smtp.authAttempts.filter((a) => !a.ok).length).toBeLessThanOrEqual(Math.min(count, 3));
	});

	it('a token still rejected after one refresh is SMTP_AUTH_REJECTED', async () => {
		bed.smtp.failNext('auth', { code: 535, text: '5.7.3 Authentication unsuccessful' }, 2);
		const out = await runSend(storeFor(bed), [{ json: {} }], {}, { continueOnFail: true });
		expect(out.items[0].json).toMatchObject({ code: 'SMTP_AUTH_REJECTED', serverResponse: expect.stringContaining('535 5.7.3') });
		expect(bed.idp.tokenRequests).toHaveLength(1);
		expect(bed.smtp.messages).toHaveLength(0);
	});

	it("another user's mailbox without Send As: SMTP still logs in as the signed-in account, From is refused with the command filled in", async () => {
		const out = await runSend(storeFor(bed, { mailbox: 'bob@example.test' }), [{ json: {} }], {}, { continueOnFail: true });
		expect(bed.smtp.authAttempts).toEqual([{ user: USER, ok: true }]);
		expect(out.items[0].json).toMatchObject({ code: 'SMTP_SEND_AS_DENIED', hint: expect.stringContaining('Add-RecipientPermission -Identity bob@example.test -Trustee alice@example.test -AccessRights SendAs') });
		expect(bed.idp.tokenRequests).toHaveLength(0);
		expect(bed.smtp.messages).toHaveLength(0);
	});
});

describe('limits are checked before anything is sent', () => {
	it('refuses more than 500 recipients, naming the fields', async () => {
		const to = Array.from({ length: 501 }, (_, i) => `r${i}@example.test`).join(', ');
		const out = await runSend(storeFor(bed), [{ json: {} }], { to });
		expect(out.error?.message).toMatch(/To\/CC\/BCC: 501 recipients/);
		expect(out.error?.description).toMatch(/Split the recipients/);
		expect(bed.smtp.connections).toBe(0);
	});

	it('counts base64 growth against Max Message Size', async () => {
		const file = Buffer.alloc(800 * 1024, 1);
		const out = await runSend(storeFor(bed), [{ json: {}, binary: { data: { base64: b64(file), fileName: 'big.bin', mimeType: 'application/octet-stream' } } }], { attachments: 'data', options: { maxMessageSizeMb: 1 } });
		expect(out.error?.message).toMatch(/Attachments: the message would be about 1\.\d MB after encoding/);
		expect(out.error?.description).toMatch(/big\.bin/);
		expect(bed.smtp.connections).toBe(0);
	});

	it('refuses header injection and reserved custom headers', async () => {
		const items = [{ json: { s: 'Hi\r\nBcc: victim@example.test' } }, { json: { s: 'ok' } }];
		const out = await runSend(storeFor(bed), items, { subject: '={{ $json.s }}', options: { customHeaders: { header: [{ name: 'X-Ok', value: '1' }] } } }, { continueOnFail: true });
		expect(out.items[0].json).toMatchObject({ code: 'INVALID_INPUT', error: expect.stringMatching(/^Subject: contains a line break/) });
		expect(out.items[1].json.messageId).toEqual(expect.any(String));
		expect(bed.smtp.messages).toHaveLength(1);
		const reserved = await runSend(storeFor(bed), [{ json: {} }], { options: { customHeaders: { header: [{ name: 'Bcc', value: 'x@example.test' }] } } });
		expect(reserved.error?.message).toMatch(/Custom header "Bcc": is set by the node itself/);
	});

	it('names a missing binary property and the ones available', async () => {
		const out = await runSend(storeFor(bed), [{ json: {}, binary: { file: { base64: b64('x'), fileName: 'x.txt', mimeType: 'text/plain' } } }], { attachments: 'data' });
		expect(out.error?.message).toMatch(/Attachments: item 1 has no binary property "data"/);
		expect(out.error?.description).toMatch(/file/);
	});
});

describe('pacing', () => {
	it('spaces message starts evenly at the custom rate', async () => {
		const started = Date.now();
		const items = Array.from({ length: 4 }, () => ({ json: {} }));
		const out = await runSend(storeFor(bed), items, { options: { pacing: 'custom', messagesPerMinute: 600 } });
		expect(out.error).toBeUndefined();
		// 600/min = one start per 100 ms: the k-th MAIL FROM cannot come before k * 100 ms.
		const mailTimes = bed.smtp.commands.filter((c) => c.stage === 'mail').map((c) => c.at - started).sort((a, b) => a - b);
		mailTimes.forEach((t, k) => expect(t).toBeGreaterThanOrEqual(k * 100 - 5));
	});

	it('does not pace other servers by default', async () => {
		const started = Date.now();
		const out = await runSend(storeFor(bed), Array.from({ length: 6 }, () => ({ json: {} })), {});
		expect(out.error).toBeUndefined();
		expect(bed.smtp.messages).toHaveLength(6);
		// Automatic pacing (30/min) would need 10 s for six messages.
		expect(Date.now() - started).toBeLessThan(8000);
	});
});

describe('secrets', () => {
	it('never appear in outputs or errors', async () => {
		const token = seededToken(bed.idp);
		const secrets = [String(token.access_token), String(token.refresh_token), CLIENT.clientSecret];
		const texts: string[] = [];
		const collect = (out: Awaited<ReturnType<typeof runSend>>) => {
			texts.push(JSON.stringify(out.items));
			if (out.error) texts.push(out.error.message, String(out.error.description ?? ''), JSON.stringify(out.error));
		};
		collect(await runSend(storeFor(bed, { oauthTokenData: token }), [{ json: {} }], {}));
		collect(await runSend(storeFor(bed, { oauthTokenData: token, mailbox: 'carol@example.test' }), [{ json: {} }], {}));
		collect(await runSend(storeFor(bed, { oauthTokenData: token, mailbox: 'carol@example.test' }), [{ json: {} }], {}, { continueOnFail: true }));
		bed.smtp.failNext('auth', { code: 535, text: '5.7.139 Authentication unsuccessful' });
		collect(await runSend(storeFor(bed, { oauthTokenData: token }), [{ json: {} }], {}));
		collect(await runSend(storeFor(bed, { oauthTokenData: token }), [{ json: {} }], { options: { dryRun: true } }));
		expect(texts.length).toBeGreaterThan(5);
		for (const text of texts) for (const secret of secrets) {
			expect(text).not.toContain(secret);
			expect(text).not.toContain(Buffer.from(secret).toString('base64'));
		}
		for (const m of bed.smtp.messages) expect(m.raw.toString()).not.toContain(String(token.access_token));
		expect(USER).toBeTruthy();
	});
});
