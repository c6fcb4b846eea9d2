/** What n8n's error panel shows: the description is HTML, so everything must survive as text. */
import type { INode } from 'n8n-workflow';

import { AADSTS, MailError, TOKEN_FAILURES, describeImapError, describeSmtpError } from '../../../nodes/shared/errors';
import { errorDescription, escapeDescription, fillHint, toNodeError } from '../../../nodes/shared/node-errors';

const node: INode = { id: 'n', name: 'Send Report Email', type: 'x', typeVersion: 1, position: [0, 0], parameters: {} };

/** What a browser shows for an HTML fragment (tags gone, entities decoded, <br> as a line break). */
function shown(html: string): string {
	return html.replace(/<br>/g, '\n').replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

describe('error descriptions as n8n renders them', () => {
	const postfix = describeSmtpError({ message: 'x', responseCode: 553, response: '553 5.7.1 <bob@example.test>: Sender address rejected: not owned by user alice@example.test' });

	it('shows the server reply and the PowerShell command whole, with the real addresses', () => {
		const description = errorDescription(postfix, { context: { mailbox: 'alice@example.test', from: 'bob@example.test' } });
		expect(description).not.toMatch(/<(?!br>)/);
		const text = shown(description);
		expect(text).toContain('Add-RecipientPermission -Identity bob@example.test -Trustee alice@example.test -AccessRights SendAs');
		expect(text).toContain('Server said: 553 5.7.1 <bob@example.test>: Sender address rejected: not owned by user alice@example.test');
		expect(text.split('\n\n')).toHaveLength(2);
	});

	it('escapes every catalogue hint and keeps line breaks', () => {
		const smtp = ['553 5.7.1 <a@b.c>: no', '550 5.7.60 SendAsDenied', '535 5.7.139 disabled for the Tenant', '535 5.7.139 x', '535 5.7.3 no'].map((r) => describeSmtpError({ message: r, responseCode: Number(r.slice(0, 3)), response: r }).hint);
		const imap = describeImapError({ message: 'User is authenticated but not connected.' }).hint;
		const hints = [...Object.values(AADSTS), ...Object.values(TOKEN_FAILURES)].map((e) => e.hint).concat(smtp, imap);
		for (const hint of hints) expect(shown(escapeDescription(hint))).toBe(hint);
		expect(escapeDescription('a & b\nName <name@domain.com>')).toBe('a &amp; b<br>Name &lt;name@domain.com&gt;');
	});

	it('fills the placeholders it knows and leaves readable words for the ones it does not', () => {
		expect(fillHint('Set-CASMailbox -Identity <mailbox>', { mailbox: 'reports@contoso.com' })).toBe('Set-CASMailbox -Identity reports@contoso.com');
		expect(fillHint('-Identity <From address> -Trustee <mailbox>', { mailbox: 'a@x.test' })).toBe('-Identity a@x.test -Trustee a@x.test');
		expect(fillHint('-Identity <From address> -Trustee <mailbox>')).toBe('-Identity the From address -Trustee the mailbox address');
	});

	it('toNodeError puts the escaped text in the description of both error classes', () => {
		const api = toNodeError(node, new MailError(postfix), 0, [], { context: { mailbox: 'alice@example.test', from: 'bob@example.test' } });
		expect(api.description).toContain('&lt;bob@example.test&gt;');
		const input = toNodeError(node, new MailError({ source: 'input', code: 'INVALID_INPUT', message: 'To: "x" is not an email address.', hint: 'Write addresses as Name <name@domain.com>.', retryable: false }));
		expect(input.description).toBe('Write addresses as Name &lt;name@domain.com&gt;.');
	});
});
