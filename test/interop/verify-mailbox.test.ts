/**
 * Verify Mailbox against the real stack from test/stack/mailstack.sh: Postfix submission (SASL
 * XOAUTH2 via Dovecot), Dovecot IMAP offering only XOAUTH2 (like outlook.office365.com) and Dovecot
 * IMAP offering OAUTHBEARER too. The round trip really goes Postfix -> Maildir -> Dovecot.
 */
import type { IDataObject, INodeParameters } from 'n8n-workflow';

import { CredentialStore, chain, runWorkflow } from '../support/engine';
import { ALICE, BOB, CREDENTIAL, admin, stack, stackStore, stackTokens } from './fixture';


jest.setTimeout(90_000);
beforeEach(async () => await admin.reset());



async function verify(s: CredentialStore, checks: string[], options: INodeParameters = {}) {
	const { nodes, connections } = chain([{ json: {} }], {
		name: 'Verify',
		type: 'n8n-nodes-m365-mail.verifyMailbox',
		parameters: { checks, options: { checkTimeout: 10, roundTripTimeout: 30, ...options } },
		credentials: { microsoftMailOAuth2Api: CREDENTIAL },
	});
	const result = await runWorkflow({ nodes, connections, store: s });
	const json = result.output('Verify')[0].json;
	const check = (name: string) => (json.checks as IDataObject[]).find((c) => c.name === name) ?? {};
	return { json, check };
}

const endpoints = [
	['XOAUTH2-only IMAP (like Microsoft 365)', stack.ports.m365Imaps, 'XOAUTH2'],
	['IMAP offering OAUTHBEARER too', stack.ports.imaps, 'OAUTHBEARER'],
] as const;

describe.each(endpoints)('Verify Mailbox: Postfix + Dovecot %s', (_label, imapPort, mechanism) => {
	it('is Verified with a good token, logging in with the mechanism the server prefers', async () => {
		const v = await verify(stackStore(await stackTokens(ALICE), { imapPort }), ['smtp', 'imap']);
		expect(v.json).toMatchObject({ status: 'Verified', failedCheck: null });
		expect(v.check('smtp')).toMatchObject({ status: 'ok' });
		expect(v.check('imap')).toMatchObject({ status: 'ok', mechanism });
		expect(v.check('imap').folders).toEqual(expect.arrayContaining(['INBOX']));
	});

	it('completes a round trip and leaves no probe behind', async () => {
		const s = stackStore(await stackTokens(ALICE), { imapPort });
		const before = (await verify(s, ['imap'])).check('imap').inbox as IDataObject;
		const v = await verify(s, ['smtp', 'imap', 'roundTrip']);
		expect(v.json).toMatchObject({ status: 'Verified' });
		expect(v.check('roundTrip')).toMatchObject({ status: 'ok' });
		const after = (await verify(s, ['imap'])).check('imap').inbox as IDataObject;
		expect(after.messages).toBe(before.messages);
	});

	it("another user's token: SMTP logs in as bob (Exchange's rule), IMAP is Not Verified for alice's mailbox with the Full Access command", async () => {
		const foreign = await stackTokens(BOB);
		const v = await verify(stackStore(foreign, { imapPort }), ['smtp', 'imap']);
		expect(v.json).toMatchObject({ status: 'Not Verified', failedCheck: 'imap', code: 'IMAP_NO_FULL_ACCESS' });
		expect(v.check('smtp')).toMatchObject({ status: 'ok', loggedInAs: BOB, mailbox: ALICE });
		expect(String(v.json.hint)).toContain('Add-MailboxPermission -Identity alice@example.test -User bob@example.test -AccessRights FullAccess');
		const text = JSON.stringify(v.json);
		for (const secret of [foreign.access_token, foreign.refresh_token, stack.client.clientSecret]) expect(text).not.toContain(secret);
	});
});

it('is Not Verified at the token check for an expired token whose refresh token was revoked', async () => {
	const stale = await stackTokens(ALICE, -60);
	await admin.revokeRefreshTokens(ALICE);
	const v = await verify(stackStore(stale, { imapPort: stack.ports.m365Imaps }), ['smtp', 'imap']);
	expect(v.json).toMatchObject({ status: 'Not Verified', failedCheck: 'token' });
	expect(String(v.json.hint)).toMatch(/"Connect"/);
	expect(v.check('smtp')).toMatchObject({ status: 'skipped' });
});

it('refreshes an expired token once and then verifies', async () => {
	const s = stackStore(await stackTokens(ALICE, -60), { imapPort: stack.ports.m365Imaps });
	const v = await verify(s, ['smtp', 'imap']);
	expect(v.json).toMatchObject({ status: 'Verified' });
	expect(v.check('token')).toMatchObject({ status: 'ok', refreshed: true });
	expect(s.tokenUpdates).toHaveLength(1);
});

it('is Not Verified quickly when the IMAP port is closed', async () => {
	const started = Date.now();
	const v = await verify(stackStore(await stackTokens(ALICE), { imapPort: 1 }), ['imap']);
	expect(v.json).toMatchObject({ status: 'Not Verified', failedCheck: 'imap', code: 'CONNECTION_REFUSED' });
	expect(Date.now() - started).toBeLessThan(5000);
});
