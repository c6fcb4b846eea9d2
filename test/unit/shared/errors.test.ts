import { AADSTS, describeImapError, describeSmtpError, describeTokenError, fullAccessFailure, portSecurityMismatch, retryAfterMs, sendAsFailure } from '../../../nodes/shared/errors';
import { AADSTS_MESSAGES, entraErrorBody } from '../../stack/idp/aadsts';

describe('describeImapError', () => {
	it.each(['ClosedAfterConnectTLS', 'ClosedAfterConnectText', 'NoConnection'])('maps imapflow %s (server hung up) to CONNECTION_RESET', (code) => {
		const f = describeImapError({ message: 'Unexpected close', code });
		expect(f).toMatchObject({ source: 'imap', code: 'CONNECTION_RESET', retryable: true });
		expect(f.hint).not.toMatch(/smtp\.office365\.com/);
	});
});

describe('describeTokenError against Entra error bodies', () => {
	// Each code the package meets, in the body Entra sends: error, error_description "AADSTSn: ...\r\nTrace ID...", error_codes.
	const codes = [50194, 500011, 28000, 700022, 650057, 7000218, 70043, 50105, 50057, 50055, 50053, 65004, 90094, 7000112, 9001023, 90130, 50034, 50196];
	it.each(codes)('AADSTS%i has its own code, message and hint', (aadsts) => {
		const body = entraErrorBody({ status: 400, error: aadsts === 50196 ? 'temporarily_unavailable' : 'invalid_request', aadsts });
		const f = describeTokenError({ status: 400, body });
		expect(f).toMatchObject({ source: 'token', code: `AADSTS${aadsts}` });
		expect(f.message).toBe(AADSTS[aadsts].message);
		expect(f.hint.length).toBeGreaterThan(40);
		// The server's first line, without trace and correlation IDs.
		expect(f.serverResponse).toBe(`AADSTS${aadsts}: ${AADSTS_MESSAGES[aadsts]}`);
	});

	it('gives every catalogued code a message and hint of its own (no two codes share a message)', () => {
		const byMessage = new Map<string, string[]>();
		for (const e of Object.values(AADSTS)) byMessage.set(e.message, [...(byMessage.get(e.message) ?? []), e.code]);
		const shared = [...byMessage.values()].filter((list) => list.length > 1).map((l) => l.join('+'));
		// The two "more than one resource" and the two "not on /common" codes are the same fault under two numbers.
		expect(shared.sort()).toEqual(['AADSTS28000+AADSTS700022']);
	});

	it('maps 50194 to "enter your Directory (tenant) ID"', () => {
		const f = describeTokenError({ body: entraErrorBody({ status: 400, error: 'invalid_request', aadsts: 50194 }) });
		expect(f.hint).toMatch(/Enter your Directory \(tenant\) ID/);
		expect(f.retryable).toBe(false);
	});

	it('keeps the multi-resource hint on 28000/700022, not on 70011', () => {
		expect(AADSTS[70011].hint).not.toMatch(/Graph/);
		expect(AADSTS[28000].hint).toMatch(/do not mix Microsoft Graph/);
	});

	it('HTTP 429 is temporary, says so, and carries Retry-After', () => {
		const f = describeTokenError({ status: 429, body: { error: 'temporarily_unavailable' }, retryAfterMs: 7000 });
		expect(f).toMatchObject({ code: 'TOKEN_THROTTLED', retryable: true, retryAfterMs: 7000 });
		expect(f.message).toMatch(/temporary/);
		expect(f.message).toMatch(/wait 7 s/);
		expect(f.hint).toMatch(/Nothing was sent/);
		expect(f.hint).not.toMatch(/tenant, client ID, secret and scopes/);
	});

	it('AADSTS50196 is temporary too', () => {
		const f = describeTokenError({ status: 429, body: entraErrorBody({ status: 429, error: 'temporarily_unavailable', aadsts: 50196 }) });
		expect(f).toMatchObject({ code: 'AADSTS50196', retryable: true });
	});

	it('reads Retry-After in seconds or as an HTTP date', () => {
		expect(retryAfterMs('3')).toBe(3000);
		expect(retryAfterMs(['5'])).toBe(5000);
		expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
		expect(retryAfterMs('soon')).toBeUndefined();
		expect(retryAfterMs(undefined)).toBeUndefined();
	});
});

describe('describeSmtpError against Exchange Online replies', () => {
	const reply = (responseCode: number, response: string) => describeSmtpError({ message: response, code: 'EENVELOPE', responseCode, response });
	const cases: Array<[number, string, string, RegExp]> = [
		[550, '550 5.1.8 Access denied, bad outbound sender', 'SMTP_SENDER_BLOCKED', /Restricted entities/],
		[550, '550 5.7.501 Access denied, spam abuse detected. The sending account has been banned due to detected spam activity.', 'SMTP_SENDER_BLOCKED', /Restricted entities/],
		[550, '550 5.7.502 Access denied, banned sender', 'SMTP_SENDER_BLOCKED', /Restricted entities/],
		[550, '550 5.7.503 Access denied, banned sender', 'SMTP_SENDER_BLOCKED', /Restricted entities/],
		[554, '554 5.2.0 STOREDRV.Submission.Exception:OutboundSpamException; Failed to process message due to a permanent exception with message WASCL UserAction verdict is not None. Actual verdict is RefuseQuota, ShowTierUpgrade.', 'SMTP_OUTBOUND_SPAM', /not the daily recipient limit/],
		[554, '554 5.2.0 STOREDRV.Submission.Exception:OutboundSpamException; Failed to process message due to a permanent exception with message WASCL UserAction verdict is not None. Actual verdict is Suspend, ShowTierUpgrade.', 'SMTP_OUTBOUND_SPAM', /outbound spam policy/],
		[554, '554 5.2.0 STOREDRV.Submission.Exception:OutboundSpamException; Failed to process message due to a permanent exception with message WASCL UserAction verdict is not None. Actual verdict is HipNotify.', 'SMTP_OUTBOUND_SPAM', /outbound spam policy/],
		[554, '554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message Cannot submit message.', 'SMTP_DAILY_QUOTA', /24-hour/],
		[554, '554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException.MapiExceptionQuotaExceeded; Failed to process message due to a permanent exception', 'SMTP_MAILBOX_FULL', /Sent Items/],
		[452, '452 4.5.3 Too many recipients', 'SMTP_TOO_MANY_RECIPIENTS', /split the recipients/],
		[535, '535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.', 'SMTP_AUTH_CONDITIONAL_ACCESS', /Conditional Access|policy/],
		[535, '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.', 'SMTP_AUTH_DISABLED_TENANT', /^The mailbox setting takes precedence.*Set-CASMailbox/],
		[535, "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.", 'SMTP_AUTH_SECURITY_DEFAULTS', /security defaults/],
		[550, '550 5.7.30 Basic authentication is not supported for Client Submission.', 'SMTP_BASIC_AUTH_RETIRED', /OAuth/],
		[550, '550 5.7.60 SMTP; Client does not have permissions to send as this sender', 'SMTP_SEND_AS_DENIED', /Add-RecipientPermission/],
		[554, '554 5.2.252 SendAsDenied; alice@contoso.com not allowed to send as shared@contoso.com; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied', 'SMTP_SEND_AS_DENIED', /Add-RecipientPermission/],
		[535, '535 5.7.3 Authentication unsuccessful [SN4PR0601CA0005.namprd06.prod.outlook.com]', 'SMTP_AUTH_REJECTED', /signed-in account \(its UPN\), never as a shared mailbox/],
		[451, '451 4.7.500 Server busy. Please try again later from [203.0.113.5]. (AS770)', 'SMTP_TEMPORARY_FAILURE', /retried/],
		[432, '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded', 'SMTP_TOO_MANY_CONNECTIONS', /3 connections/],
		[421, '421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2.', 'SMTP_TLS_TOO_OLD', /TLS/],
	];
	it.each(cases)('%i %s -> %s', (code, text, expected, hint) => {
		const f = describeSmtpError({ message: text, code: 'EENVELOPE', responseCode: code, response: text });
		expect(f.code).toBe(expected);
		expect(f.hint).toMatch(hint);
		expect(f.serverResponse).toBe(text);
	});

	it('does not retry a refusal that resending cannot fix, retries the temporary ones', () => {
		expect(reply(452, '452 4.5.3 Too many recipients').retryable).toBe(false);
		expect(reply(550, '550 5.1.8 Access denied, bad outbound sender').retryable).toBe(false);
		expect(reply(451, '451 4.7.500 Server busy. Please try again later').retryable).toBe(true);
	});
});

describe('failures with the real addresses filled in', () => {
	const cause = { source: 'smtp' as const, code: 'SMTP_SEND_AS_DENIED', message: 'x', hint: 'y', retryable: false, serverResponse: '550 5.7.60 SMTP; Client does not have permissions to send as this sender' };
	it('Send As names the From address and the signed-in account', () => {
		const f = sendAsFailure('shared@contoso.com', 'alice@contoso.com', cause);
		expect(f.hint).toContain('Add-RecipientPermission -Identity shared@contoso.com -Trustee alice@contoso.com -AccessRights SendAs');
		expect(f.serverResponse).toBe(cause.serverResponse);
	});
	it('Full Access names the mailbox and the signed-in account', () => {
		const f = fullAccessFailure('shared@contoso.com', 'alice@contoso.com', { ...cause, source: 'imap', code: 'IMAP_AUTH_REJECTED' });
		expect(f).toMatchObject({ code: 'IMAP_NO_FULL_ACCESS' });
		expect(f.hint).toContain('Add-MailboxPermission -Identity shared@contoso.com -User alice@contoso.com -AccessRights FullAccess');
	});
	it('a port/security mismatch is told apart from a certificate problem, both ways', () => {
		expect(portSecurityMismatch('imap', { host: 'mail.example.test', port: 143, secure: true })).toMatchObject({ code: 'TLS_PORT_MISMATCH', message: expect.stringMatching(/implicit TLS was tried on mail\.example\.test:143/), hint: expect.stringMatching(/STARTTLS.*not a certificate problem/) });
		expect(portSecurityMismatch('smtp', { host: 'mail.example.test', port: 465, secure: false })).toMatchObject({ code: 'TLS_PORT_MISMATCH', hint: expect.stringMatching(/TLS \(implicit\).*not a firewall or certificate problem/) });
		expect(describeImapError({ message: 'write EPROTO 40E8:error:0A00010B:SSL routines:ssl3_get_record:wrong version number' })).toMatchObject({ code: 'TLS_PORT_MISMATCH' });
		expect(describeImapError({ message: 'self-signed certificate', code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })).toMatchObject({ code: 'TLS_FAILED' });
	});
	it('IMAP NO [UNAVAILABLE] is temporary, not a rejected sign-in', () => {
		const f = describeImapError({ message: 'Command failed', authenticationFailed: true, serverResponseCode: 'UNAVAILABLE', response: '3 NO [UNAVAILABLE] Temporary authentication failure. [mail:2026-12-01 16:00:00]' });
		expect(f).toMatchObject({ code: 'IMAP_TEMPORARY_FAILURE', retryable: true });
		expect(f.hint).not.toMatch(/Add-MailboxPermission|Full Access/);
	});
});
