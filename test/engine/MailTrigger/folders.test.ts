/**
 * The Folder dropdown (listSearch.searchFolders) called as n8n's editor calls it: n8n-core's
 * LoadOptionsContext over the credential, token refreshed through n8n's helper when stale, the
 * in-process IMAP server listing the mailbox's folders.
 */
import type { Idp } from '../../stack/idp';
import { startImapServer, type ImapServer } from '../../support/imap-server';
import { listSearch } from '../../support/load-options';
import { TRIGGER_TYPE } from '../../support/trigger';
import { storeWith } from '../VerifyMailbox/fixture';
import { USER, seededToken, secretsIn, startTestIdp } from './fixture';

let idp: Idp;
let imap: ImapServer;
beforeEach(async () => {
	idp = await startTestIdp();
	imap = await startImapServer({ idp, mailbox: USER, extraFolders: ['Archive/2026', 'Invoices'], noselectFolders: ['Projects/Alpha'] });
});
afterEach(async () => {
	await imap.stop();
	await idp.stop();
});

const folderParameter = { folder: { __rl: true, mode: 'list', value: '' } };

describe('Folder dropdown (searchFolders, as the editor calls it)', () => {
	it('lists INBOX first, then every selectable folder by full path, special-use folders marked with their role', async () => {
		const result = await listSearch(storeWith(idp, { imap }), TRIGGER_TYPE, 'searchFolders', folderParameter);
		expect(result?.results).toEqual([
			{ name: 'INBOX', value: 'INBOX' },
			// imapflow recognises the usual name of an archive folder as its role, as Exchange's "Archive".
			{ name: 'Archive (Archive)', value: 'Archive' },
			{ name: 'Archive/2026', value: 'Archive/2026' },
			{ name: 'Deleted Items (Trash)', value: 'Deleted Items' },
			{ name: 'Drafts (Drafts)', value: 'Drafts' },
			{ name: 'Invoices', value: 'Invoices' },
			{ name: 'Junk Email (Junk)', value: 'Junk Email' },
			// "Projects" is a hierarchy level only (\Noselect): not offered, its child is.
			{ name: 'Projects/Alpha', value: 'Projects/Alpha' },
			{ name: 'Sent Items (Sent)', value: 'Sent Items' },
		]);
		expect(imap.logins).toEqual([{ mechanism: 'XOAUTH2', user: USER, ok: true }]);
	});

	it('narrows the list to the text typed into the search box, case-insensitively, INBOX still first when it matches', async () => {
		const store = storeWith(idp, { imap });
		expect((await listSearch(store, TRIGGER_TYPE, 'searchFolders', folderParameter, 'arch'))?.results.map((r) => r.value)).toEqual(['Archive', 'Archive/2026']);
		expect((await listSearch(store, TRIGGER_TYPE, 'searchFolders', folderParameter, 'IN'))?.results.map((r) => r.value)).toEqual(['INBOX', 'Invoices']);
		expect((await listSearch(store, TRIGGER_TYPE, 'searchFolders', folderParameter, 'no such folder'))?.results).toEqual([]);
	});

	it('refreshes a stale access token through n8n first and saves it', async () => {
		const store = storeWith(idp, { imap }, { oauthTokenData: seededToken(idp, { validForMs: -60_000 }) });
		const result = await listSearch(store, TRIGGER_TYPE, 'searchFolders', folderParameter, 'inbox');
		expect(result?.results).toEqual([{ name: 'INBOX', value: 'INBOX' }]);
		expect(idp.tokenRequests.filter((r) => r.grantType === 'refresh_token' && r.status === 200)).toHaveLength(1);
		expect(store.tokenUpdates).toHaveLength(1);
	});

	it('a refused sign-in shows the catalogue code and what to do in the message, and no secret', async () => {
		imap.setMode('notConnected');
		const store = storeWith(idp, { imap });
		const error = await listSearch(store, TRIGGER_TYPE, 'searchFolders', folderParameter).then(
			() => undefined,
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(Error);
		const { message, description } = error as Error & { description?: string };
		// The editor shows a list search error's message only: code and hint are in it.
		expect(message).toMatch(/could not open the mailbox.*\[IMAP_NOT_CONNECTED\].*Set-CASMailbox/);
		expect(description).toMatch(/Add-MailboxPermission|Full Access/);
		const shown = JSON.stringify({ message, description });
		for (const secret of secretsIn(store)) expect(shown).not.toContain(secret);
	});

	it('a revoked refresh token gives the catalogue error with the fix, and no secret', async () => {
		const store = storeWith(idp, { imap }, { oauthTokenData: seededToken(idp, { validForMs: -60_000 }) });
		idp.revokeRefreshTokens(USER);
		const error = await listSearch(store, TRIGGER_TYPE, 'searchFolders', folderParameter).then(
			() => undefined,
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(Error);
		const { message } = error as Error;
		expect(message).toMatch(/\[[A-Z0-9_]+\]/);
		expect(message).toMatch(/reconnect|Connect|sign in/i);
		const shown = JSON.stringify(error, Object.getOwnPropertyNames(error));
		for (const secret of secretsIn(store)) expect(shown).not.toContain(secret);
		expect(imap.logins).toEqual([]);
	});
});
