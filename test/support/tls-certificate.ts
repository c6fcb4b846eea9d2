/**
 * A throwaway self-signed certificate for loopback test servers (CN=localhost, SAN 127.0.0.1).
 * Tests trust it through the credential's Trusted CA field, so TLS is verified as in production.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestCertificate {
	key: string;
	/** PEM of the certificate; it is its own CA. */
	cert: string;
}

let cached: TestCertificate | undefined;

/** One certificate per test process (openssl runs once). */
export function testCertificate(): TestCertificate {
	if (cached) return cached;
	const dir = mkdtempSync(path.join(tmpdir(), 'm365-cert-'));
	try {
		const key = path.join(dir, 'key.pem');
		const cert = path.join(dir, 'cert.pem');
		execFileSync('openssl', [
			'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
			'-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost',
			'-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
			'-addext', 'basicConstraints=critical,CA:TRUE',
		], { stdio: 'ignore' });
		cached = { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
		return cached;
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}
