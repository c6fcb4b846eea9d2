import { Readable } from 'node:stream';

import { MailError } from '../../../nodes/shared/errors';
import { base64Size, bodies, buildMail, htmlToText, parseAddressList, splitAddressList, validateHeaders, type MessageInput } from '../../../nodes/SendReportEmail/message';

const base: MessageInput = { mailbox: 'alice@contoso.com', to: 'bob@contoso.com', subject: 'Hi', format: 'html', html: '<p>x</p>' };

function refusal(input: Partial<MessageInput>): string {
	try {
		buildMail({ ...base, ...input });
	} catch (e) {
		if (e instanceof MailError) return `${e.failure.message} | ${e.failure.hint}`;
		throw e;
	}
	throw new Error('expected a refusal');
}

describe('addresses', () => {
	it('splits lists on commas, semicolons and newlines, but not inside quotes', () => {
		expect(splitAddressList('"Doe, Jane" <j@x.com>; a@b.com,\nc@d.com')).toEqual(['"Doe, Jane" <j@x.com>', 'a@b.com', 'c@d.com']);
	});
	it('parses display names and punycodes international domains', () => {
		expect(parseAddressList('Zoë <info@bücher.de>, "Doe, J." <j@x.com>', 'To')).toEqual([
			{ name: 'Zoë', address: 'info@xn--bcher-kva.de' },
			{ name: 'Doe, J.', address: 'j@x.com' },
		]);
	});
	it('names the field of a bad address', () => {
		expect(refusal({ cc: 'not-an-address' })).toMatch(/^CC: "not-an-address" is not an email address/);
	});
	it('defaults From to the mailbox and Reply-To to the credential', () => {
		const mail = buildMail({ ...base, defaultReplyTo: 'help@contoso.com' });
		expect(mail.from).toEqual({ name: '', address: 'alice@contoso.com' });
		expect(mail.replyTo).toEqual([{ name: '', address: 'help@contoso.com' }]);
		expect(buildMail({ ...base, defaultReplyTo: 'help@contoso.com', replyTo: 'x@contoso.com' }).replyTo).toEqual([{ name: '', address: 'x@contoso.com' }]);
	});
	it('refuses more than 500 distinct recipients and no recipient at all', () => {
		const many = Array.from({ length: 501 }, (_, i) => `u${i}@x.com`).join(',');
		expect(refusal({ to: many })).toMatch(/To\/CC\/BCC: 501 recipients .* 500/);
		expect(() => buildMail({ ...base, to: Array.from({ length: 500 }, (_, i) => `u${i}@x.com`).join(','), cc: 'u1@x.com' })).not.toThrow();
		expect(refusal({ to: '' })).toMatch(/^To: no recipient/);
	});
});

describe('bodies and signature', () => {
	it('appends the HTML signature before </body> and a text version after "-- "', () => {
		expect(bodies({ format: 'both', html: '<html><body><p>a</p></body></html>', text: 'a', signature: 'Jo<br>Team' })).toEqual({
			html: '<html><body><p>a</p><div class="m365-signature"><br>-- <br>Jo<br>Team</div></body></html>',
			text: 'a\n\n-- \nJo\nTeam',
		});
	});
	it('derives text from HTML for format both when text is empty', () => {
		expect(bodies({ format: 'both', html: '<p>One &amp; two</p><p>three</p>' }).text).toBe('One & two\nthree');
		expect(htmlToText('<table><tr><td>a</td><td>b</td></tr></table>')).toBe('a\tb');
	});
	it('sends only the chosen format', () => {
		expect(bodies({ format: 'text', text: 't', html: '<p>h</p>' })).toEqual({ html: undefined, text: 't' });
	});
});

describe('headers', () => {
	it('refuses line breaks (header injection) in subject, header values and file names', () => {
		expect(refusal({ subject: 'a\r\nBcc: x@y.com' })).toMatch(/^Subject: contains a line break/);
		expect(refusal({ headers: [{ name: 'X-A', value: 'v\nBcc: x@y.com' }] })).toMatch(/^Custom header "X-A": contains a line break/);
		expect(refusal({ attachments: [{ origin: 'item 1', fileName: 'a\r\n.pdf', contentType: 'application/pdf', size: 1, content: Buffer.from('x') }] })).toMatch(/^File name of item 1/);
		expect(refusal({ to: '"Evil\r\nBcc: x@y.com" <a@b.com>' })).toMatch(/^To: contains a line break/);
	});
	it('refuses bad names and headers the node sets', () => {
		expect(() => validateHeaders([{ name: 'X Bad', value: '1' }])).toThrow(/not a valid header name/);
		expect(() => validateHeaders([{ name: 'content-type', value: '1' }])).toThrow(/set by the node/);
		expect(validateHeaders([{ name: ' X-Id ', value: '7' }, { name: '', value: 'ignored' }])).toEqual([{ key: 'X-Id', value: '7' }]);
	});
	it('maps importance to priority', () => {
		expect(buildMail({ ...base, importance: 'high' }).priority).toBe('high');
	});
});

describe('size', () => {
	it('counts base64 growth with line breaks', () => {
		expect(base64Size(3)).toBe(6);
		expect(base64Size(57 * 100)).toBe(78 * 100);
	});
	it('refuses a message over the maximum, naming the largest file; streams are accepted by size', () => {
		const big = { origin: 'binary property "data" of item 1', fileName: 'big.zip', contentType: 'application/zip', size: 27 * 1024 * 1024, content: Readable.from([]) };
		expect(refusal({ attachments: [big] })).toMatch(/Attachments: the message would be about 3\d\.\d MB .* over the maximum of 35\.0 MB.*big\.zip/);
		expect(() => buildMail({ ...base, attachments: [{ ...big, size: 25 * 1024 * 1024 }] })).not.toThrow();
	});
	it('never lets nodemailer read files or URLs', () => {
		const mail = buildMail(base);
		expect(mail).toMatchObject({ disableFileAccess: true, disableUrlAccess: true });
		expect(String(mail.messageId)).toMatch(/^<[0-9a-f-]{36}@contoso\.com>$/);
	});
});

describe('attachment names and types', () => {
	const file = (fileName: string, contentType: string) => ({ origin: 'binary property "data" of item 1', fileName, contentType, size: 3, content: Buffer.from('a,b') });

	it('accepts MIME types with parameters', () => {
		const mail = buildMail({ ...base, attachments: [file('r.csv', 'text/csv; charset=utf-8'), file('q.txt', 'text/plain; charset="utf-8"; format=flowed')] });
		expect(mail.attachments?.map((a) => a.contentType)).toEqual(['text/csv; charset=utf-8', 'text/plain; charset="utf-8"; format=flowed']);
	});

	it.each(['text', 'text/csv; charset', 'text/csv;; x', 'a/b/c', 'text/csv; x=a b'])('refuses %j, naming the attachment', (type) => {
		expect(refusal({ attachments: [file('r.csv', type)] })).toMatch(/^Content type of binary property "data" of item 1: .* is not a MIME type/);
	});

	it('sends only the base name of a file name with folders', () => {
		const mail = buildMail({ ...base, attachments: [file('C:\\exports\\q3.csv', 'text/csv'), file('../../etc/report.csv', 'text/csv'), file('plain.csv', 'text/csv')] });
		expect(mail.attachments?.map((a) => a.filename)).toEqual(['q3.csv', 'report.csv', 'plain.csv']);
	});
});

describe('bounded lengths', () => {
	it('refuses an address entry longer than a header line, and an address over 254 characters', () => {
		expect(refusal({ to: `a${' '.repeat(2000)}b@x.com` })).toMatch(/^To: an entry of 2008 characters is longer than a mail header line allows/);
		expect(refusal({ to: `${'a'.repeat(64)}@${'b'.repeat(190)}.com` })).toMatch(/^To: ".*" is not an email address/);
		expect(refusal({ to: `${'a'.repeat(65)}@x.com` })).toMatch(/is not an email address/);
	});

	it('turns HTML into text as before: scripts and styles dropped, blocks on their own lines, entities decoded', () => {
		expect(htmlToText('<style>p{}</style><p>Hello&nbsp;<b>World</b></p><script>x()</script><table><tr><td>a</td><td>b</td></tr></table>&lt;ok&gt; &#65;&amp;')).toBe('Hello World\na\tb\n\n<ok> A&');
		expect(htmlToText('a <<b> c < d')).toBe('a  c < d');
		expect(htmlToText('x\n\n\n\ny  \n z<br/>w<br class="q">v')).toBe('x\n\ny\n z\nw\nv');
		expect(htmlToText('<STYLE type="x">h1{}</Style>t')).toBe('t');
		expect(htmlToText('<style>unclosed <b>x</b>')).toBe('unclosed x');
	});
});
