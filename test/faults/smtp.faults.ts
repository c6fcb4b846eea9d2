/** SMTP faults: refused, resets at each stage, 421/432/451/452, stalls, TLS failures. */
import { storeWith } from '../engine/VerifyMailbox/fixture';
import { b64 } from '../engine/SendReportEmail/fixture';
import type { Stage } from '../support/smtp-server';
import { row, startBed, watched, type Bed } from './support/bed';
import { describeOutcome, send, sleep, verify } from './support/run';
import { certificateFor, closedPort, startPlainTextServer, startResetProxy, startStallServer, startWrongHostTlsServer, type ResetProxy } from './support/servers';

let bed: Bed;
let proxy: ResetProxy;
beforeAll(async () => {
	bed = await startBed();
	proxy = await startResetProxy({ host: '127.0.0.1', port: bed.smtp.port });
});
afterAll(async () => {
	await proxy.stop();
	await bed.stop();
});
beforeEach(() => {
	bed.smtp.reset();
	bed.idp.reset();
});

const seen = (stage: Stage) => bed.smtp.commands.some((c) => c.stage === stage);
const viaProxy = () => watched(bed, { smtpPort: proxy.port });

describe('SMTP faults', () => {
	it('connection refused: retried, then a clear error; nothing sent', async () => {
		await row(bed, { area: 'SMTP', kind: 'fault', tried: 'connection refused (nothing listens on the port)', expected: 0 }, async () => {
			const out = await send(watched(bed, { smtpPort: await closedPort() }), [{ json: {} }], {}, { continueOnFail: true });
			expect(out.items[0].json).toMatchObject({ code: 'CONNECTION_REFUSED', hint: expect.stringMatching(/host and port/) });
			return describeOutcome(out);
		});
	});

	it('reset during the greeting: retried on a new connection and sent once', async () => {
		await row(bed, { area: 'SMTP', kind: 'fault', tried: 'TCP reset before the 220 greeting (first connection)', expected: 1 }, async () => {
			proxy.resetWhen(() => true);
			const out = await send(viaProxy(), [{ json: {} }], {});
			expect(out.error).toBeUndefined();
			expect(out.items[0].json.attempts).toBe(2);
			expect(proxy.resets).toBeGreaterThan(0);
			return describeOutcome(out);
		});
	});

	it('reset during AUTH: retried and sent once', async () => {
		await row(bed, { area: 'SMTP', kind: 'fault', tried: 'TCP reset while AUTH XOAUTH2 awaits its answer', expected: 1 }, async () => {
			bed.smtp.delayNext('auth', 600);
			proxy.resetWhen(() => seen('auth'));
			const out = await send(viaProxy(), [{ json: {} }], {});
			expect(out.error).toBeUndefined();
			expect(out.items[0].json.attempts).toBe(2);
			return describeOutcome(out);
		}, 700);
	});

	it('reset in the middle of DATA: the server kept nothing, so it is resent once', async () => {
		await row(bed, { area: 'SMTP', kind: 'fault', tried: 'TCP reset 64 KB into a 400 KB message (during DATA)', expected: 1 }, async () => {
			let mark: number | undefined;
			proxy.resetWhen((c) => {
				if (mark === undefined && seen('rcpt')) mark = c.clientBytes;
				return mark !== undefined && c.clientBytes - mark > 64 * 1024;
			});
			const file = Buffer.alloc(400 * 1024, 7);
			const out = await send(viaProxy(), [{ json: {}, binary: { data: { base64: b64(file), fileName: 'big.bin', mimeType: 'application/octet-stream' } } }], { attachments: 'data' }, { continueOnFail: true });
			await sleep(300);
			expect(proxy.resets).toBeGreaterThan(0);
			// Either honest answer is acceptable; a silent second copy is not (the tally checks that).
			const j = out.items[0].json;
			if (j.outcomeUnknown) expect(j.code).toBe('SMTP_OUTCOME_UNKNOWN');
			else expect(j.attempts).toBe(2);
			return describeOutcome(out);
		});
	});

	it('reset after the final dot: reported as outcome unknown, not resent', async () => {
		await row(bed, { area: 'SMTP', kind: 'fault', tried: 'connection dropped after the final dot, before 250', expected: 1 }, async () => {
			bed.smtp.dropAfterDataNext();
			const out = await send(watched(bed), [{ json: {} }], { options: { retries: 3 } }, { continueOnFail: true });
			expect(out.items[0].json).toMatchObject({ code: 'SMTP_OUTCOME_UNKNOWN', outcomeUnknown: true, hint: expect.stringMatching(/did not resend/) });
			return describeOutcome(out);
		}, 300);
	});

	it('no answer after the final dot within the socket timeout: outcome unknown, not resent', async () => {
		await row(bed, { area: 'SMTP', kind: 'fault', tried: 'server stalls 3.5 s after the final dot (socket timeout 2 s)', expected: 1 }, async () => {
			bed.smtp.delayNext('data', 3500);
			const out = await send(watched(bed), [{ json: {} }], {}, { continueOnFail: true });
			expect(out.items[0].json).toMatchObject({ code: 'SMTP_OUTCOME_UNKNOWN', outcomeUnknown: true });
			await bed.smtp.waitForMessages(1, 5000);
			return describeOutcome(out);
		}, 300);
	});

	it('421 on connect: retried and sent once', async () => {
		await row(bed, { area: 'SMTP', kind: 'fault', tried: '421 4.3.2 Service not available on connect', expected: 1 }, async () => {
			bed.smtp.failNext('connect', { code: 421, text: '4.3.2 Service not available, closing transmission channel' });
			const out = await send(watched(bed), [{ json: {} }], {});
			expect(out.error).toBeUndefined();
			expect(out.items[0].json.attempts).toBe(2);
			return describeOutcome(out);
		});
	});

	const transient: Array<{ stage: 'rcpt' | 'data'; code: number; text: string }> = [
		{ stage: 'rcpt', code: 432, text: '4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded' },
		{ stage: 'rcpt', code: 451, text: '4.7.500 Server busy. Please try again later' },
		{ stage: 'rcpt', code: 452, text: '4.3.1 Insufficient system resources' },
		{ stage: 'data', code: 432, text: '4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded' },
		{ stage: 'data', code: 451, text: '4.4.397 Error communicating with target host' },
		{ stage: 'data', code: 452, text: '4.3.1 Insufficient system resources' },
	];
	it('452 4.5.3 too many recipients on RCPT: not retried (resending cannot help), the other item still goes', async () => {
		await row(bed, { area: 'SMTP', kind: 'fault', tried: '452 4.5.3 Too many recipients on RCPT', expected: 1 }, async () => {
			bed.smtp.failNext('rcpt', { code: 452, text: '4.5.3 Too many recipients' });
			const out = await send(watched(bed), [{ json: { n: 1 } }, { json: { n: 2 } }], {}, { continueOnFail: true });
			const codes = out.items.map((i) => String(i.json.code ?? 'sent'));
			expect(codes.sort()).toEqual(['SMTP_TOO_MANY_RECIPIENTS', 'sent']);
			return `one refused with SMTP_TOO_MANY_RECIPIENTS, one sent`;
		});
	});

	it.each(transient)('$code on $stage: retried and sent once', async ({ stage, code, text }) => {
		await row(bed, { area: 'SMTP', kind: 'fault', tried: `${code} ${text.slice(0, 20)}... on ${stage.toUpperCase()}`, expected: 2 }, async () => {
			bed.smtp.failNext(stage, { code, text });
			const out = await send(watched(bed), [{ json: { n: 1 } }, { json: { n: 2 } }], {}, { continueOnFail: true });
			expect(out.items.map((i) => i.json.messageId)).toEqual([expect.any(String), expect.any(String)]);
			expect(out.items.map((i) => i.json.attempts).sort()).toEqual([1, 2]);
			return `both sent, attempts ${out.items.map((i) => String(i.json.attempts)).join('+')}`;
		});
	});

	it('a server that stalls (no greeting): Send Report Email gives up with a timeout', async () => {
		const stall = await startStallServer();
		try {
			await row(bed, { area: 'SMTP', kind: 'fault', tried: 'server accepts TCP and never greets (Send, no retries)', expected: 0 }, async () => {
				const started = Date.now();
				const out = await send(watched(bed, { smtpPort: stall.port }), [{ json: {} }], { options: { retries: 0 } }, { continueOnFail: true });
				expect(out.items[0].json).toMatchObject({ code: 'TIMEOUT', hint: expect.any(String) });
				expect(Date.now() - started).toBeLessThan(6000);
				return describeOutcome(out);
			});
			await row(bed, { area: 'SMTP', kind: 'fault', tried: 'server never greets (Verify Mailbox, Check Timeout 1 s)', expected: 0 }, async () => {
				const run = await verify(storeWith(bed.idp, { smtp: { port: stall.port, ca: bed.smtp.ca } }), { checks: ['smtp'], checkTimeout: 1 });
				expect(run.verification()).toMatchObject({ status: 'Not Verified', failedCheck: 'smtp' });
				expect(String(run.verification().code)).toMatch(/TIMEOUT/);
				return `Not Verified: ${String(run.verification().code)}`;
			});
		} finally {
			await stall.stop();
		}
	});

	it('implicit TLS to a plain-text (STARTTLS) port: TLS_PORT_MISMATCH naming the Security option, not a certificate problem, not retried', async () => {
		const plain = await startPlainTextServer();
		try {
			await row(bed, { area: 'SMTP', kind: 'fault', tried: 'implicit TLS to a server that answers in plain text', expected: 0 }, async () => {
				const out = await send(watched(bed, { smtpPort: plain.port, smtpSecurity: 'tls' }), [{ json: {} }], {}, { continueOnFail: true });
				expect(out.items[0].json).toMatchObject({ code: 'TLS_PORT_MISMATCH', hint: expect.stringMatching(/Set SMTP Security to STARTTLS.*not a certificate problem/) });
				expect(plain.connections).toBe(1);
				return describeOutcome(out);
			});
		} finally {
			await plain.stop();
		}
	});

	it('certificate for another host: TLS_FAILED, nothing sent', async () => {
		const cert = certificateFor('mail.elsewhere.test');
		const wrong = await startWrongHostTlsServer(cert);
		try {
			await row(bed, { area: 'SMTP', kind: 'fault', tried: 'certificate is for mail.elsewhere.test, host is 127.0.0.1 (CA trusted)', expected: 0 }, async () => {
				const out = await send(watched(bed, { smtpPort: wrong.port, smtpSecurity: 'tls', customCa: cert.cert }), [{ json: {} }], {}, { continueOnFail: true });
				expect(out.items[0].json).toMatchObject({ code: 'TLS_FAILED' });
				expect(String(out.items[0].json.serverResponse)).toMatch(/altnames|does not match|not in the cert/i);
				return describeOutcome(out);
			});
		} finally {
			await wrong.stop();
		}
	});

	it('untrusted certificate (CA not in the credential): TLS_FAILED before AUTH', async () => {
		await row(bed, { area: 'SMTP', kind: 'fault', tried: 'STARTTLS with a self-signed certificate the credential does not trust', expected: 0 }, async () => {
			const out = await send(watched(bed, { customCa: '' }), [{ json: {} }], {}, { continueOnFail: true });
			expect(out.items[0].json).toMatchObject({ code: 'TLS_FAILED' });
			expect(bed.smtp.authAttempts).toHaveLength(0);
			return describeOutcome(out);
		});
	});
});
