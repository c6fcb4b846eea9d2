/**
 * Tells a port/security mismatch from other faults. A STARTTLS client on an implicit-TLS port
 * waits for a greeting that never comes (the server waits for a TLS ClientHello), which looks like
 * a stalled server or a firewall. One short TLS handshake to the same port settles it: a server
 * that answers a ClientHello speaks implicit TLS. Nothing is sent after the handshake.
 */
import { isIP } from 'node:net';
import { connect } from 'node:tls';

/** Resolves true when `host:port` completes (or starts) a TLS handshake within `timeoutMs`. */
export async function speaksImplicitTls(host: string, port: number, timeoutMs = 3000): Promise<boolean> {
	return await new Promise<boolean>((resolve) => {
		let done = false;
		const finish = (answer: boolean) => {
			if (done) return;
			done = true;
			clearTimeout(timer);
			socket.destroy();
			resolve(answer);
		};
		// Only whether the server speaks TLS matters here, not whom it proves to be: nothing is sent.
		const socket = connect({ host, port, servername: isIP(host) ? undefined : host, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, () => finish(true));
		const timer = setTimeout(() => finish(false), timeoutMs);
		socket.on('error', (e: Error) => {
			// A certificate or protocol-version complaint still means a TLS server answered.
			finish(/alert|certificate|handshake failure|protocol version|unsupported protocol/i.test(e.message) && !/wrong version number/i.test(e.message));
		});
	});
}

/** The error a client raises when its greeting wait ran out (nodemailer and imapflow mark it). */
export function isGreetingTimeout(e: unknown): boolean {
	if (typeof e !== 'object' || e === null) return false;
	const code: unknown = Reflect.get(e, 'code');
	const type: unknown = Reflect.get(e, 'timeoutType');
	const message: unknown = Reflect.get(e, 'message');
	return code === 'GREETING_TIMEOUT' || type === 'GREETING_TIMEOUT' || (typeof message === 'string' && /Greeting never received|receive greeting/i.test(message));
}
