// The tenant's directory as Exchange Online sees it: accounts (a UPN that may differ from the
// primary address), shared mailboxes (their account is disabled: no sign-in of their own), and
// mailbox permissions (Full Access opens a mailbox over IMAP, Send As lets From be it).
// One default directory serves the in-process servers and, through /introspect, Dovecot and Postfix.

export interface DirectoryAccount {
	/** User principal name: the sign-in name, and the only SMTP AUTH user Exchange accepts for it. */
	upn: string;
	/** Primary SMTP address: the mailbox. */
	mail: string;
	/** A shared mailbox: its account is disabled, so it cannot sign in (AADSTS50057). */
	shared?: boolean;
	/** Accounts (UPN or address) with Full Access on this mailbox. */
	fullAccess?: string[];
	/** Accounts (UPN or address) with Send As on this mailbox. */
	sendAs?: string[];
}

export const DEFAULT_DIRECTORY: DirectoryAccount[] = [
	{ upn: 'alice@example.test', mail: 'alice@example.test' },
	{ upn: 'bob@example.test', mail: 'bob@example.test' },
	// A user whose sign-in name is not the email address (chatwoot #14522, glpi #18796).
	{ upn: 'carol.jones@corp.example.test', mail: 'carol@example.test' },
	{ upn: 'reports@example.test', mail: 'reports@example.test' },
	// alice: Full Access and Send As; carol: Full Access only; bob: nothing.
	{ upn: 'shared@example.test', mail: 'shared@example.test', shared: true, fullAccess: ['alice@example.test', 'carol.jones@corp.example.test'], sendAs: ['alice@example.test'] },
];

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

export class Directory {
	constructor(private readonly accounts: DirectoryAccount[] = DEFAULT_DIRECTORY) {}

	/** The account a sign-in name or address belongs to. */
	find(name: string): DirectoryAccount | undefined {
		return this.accounts.find((a) => same(a.upn, name) || same(a.mail, name));
	}

	/** Claims of a user: the UPN and the primary address; unknown users are their own both. */
	identity(name: string): { upn: string; mail: string; disabled: boolean } {
		const a = this.find(name);
		return a ? { upn: a.upn, mail: a.mail, disabled: a.shared === true } : { upn: name, mail: name, disabled: false };
	}

	/** Whether `holder` (UPN or address) may open `mailbox` over IMAP: its own, or with Full Access. */
	canOpen(holder: { upn: string; mail: string }, mailbox: string): boolean {
		if (same(holder.mail, mailbox) || same(holder.upn, mailbox)) return true;
		const box = this.find(mailbox);
		return (box?.fullAccess ?? []).some((n) => same(n, holder.upn) || same(n, holder.mail));
	}

	/** Whether `holder` may send with From (or envelope sender) `address`: its own, or with Send As. */
	canSendAs(holder: { upn: string; mail: string }, address: string): boolean {
		if (same(holder.mail, address) || same(holder.upn, address)) return true;
		const box = this.find(address);
		return (box?.sendAs ?? []).some((n) => same(n, holder.upn) || same(n, holder.mail));
	}
}
