import { describeImapError } from '../../../nodes/shared/errors';

describe('describeImapError', () => {
	it.each(['ClosedAfterConnectTLS', 'ClosedAfterConnectText', 'NoConnection'])('maps imapflow %s (server hung up) to CONNECTION_RESET', (code) => {
		const f = describeImapError({ message: 'Unexpected close', code });
		expect(f).toMatchObject({ source: 'imap', code: 'CONNECTION_RESET', retryable: true });
		expect(f.hint).not.toMatch(/smtp\.office365\.com/);
	});
});
