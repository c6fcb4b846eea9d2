/**
 * The fault suite's secret scan must be able to fail: it finds a token in every form the package
 * puts on the wire, in particular inside the base64 XOAUTH2 and OAUTHBEARER strings a server may
 * quote back, whatever the length of the user name before it (all three byte alignments).
 */
import { scan } from './support/ledger';

const token = 'eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl';

describe('the secret scan', () => {
	it.each(['a@b.c', 'ab@b.c', 'abc@b.c'])('finds an echoed XOAUTH2 string for user %s', (user) => {
		const xoauth2 = Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`).toString('base64');
		expect(scan([`535 5.7.3 Authentication unsuccessful ${xoauth2}`], [token])).toHaveLength(1);
		// Cut out of a longer line, without its first characters.
		expect(scan([`x${xoauth2.slice(5)}`], [token])).toHaveLength(1);
	});

	it.each(['a@b.c', 'ab@b.c', 'abc@b.c'])('finds an echoed OAUTHBEARER string for user %s', (user) => {
		const bearer = Buffer.from(`n,a=${user},\x01host=127.0.0.1\x01port=993\x01auth=Bearer ${token}\x01\x01`).toString('base64');
		expect(scan([`NO ${bearer}`], [token])).toHaveLength(1);
	});

	it('finds raw and URL-encoded secrets, and passes masked text', () => {
		const secret = 'client-secret/value+1';
		expect(scan([`secret=${encodeURIComponent(secret)}`], [secret])).toHaveLength(1);
		expect(scan([`said ${secret}`], [secret])).toHaveLength(1);
		expect(scan(['535 5.7.3 dXNlcj1hQGIuYwFhdXRoPUJlYXJlciB[redacted]AQE='], [token])).toHaveLength(0);
	});
});
