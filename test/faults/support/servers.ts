/**
 * Small loopback servers that misbehave on purpose, for faults the scriptable fixtures cannot
 * show: a proxy that resets a connection at a chosen moment, servers that stall, talk plain text
 * on a TLS port or present a certificate for another host, an IMAP server that hangs up during
 * AUTHENTICATE, and an HTTP canary that counts every fetch.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer as createTlsServer } from 'node:tls';

export interface Closable {
	port: number;
	stop(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
	await new Promise<void>((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => resolve());
	});
	return (server.address() as AddressInfo).port;
}

function stopper(server: Server, sockets: Set<Socket>): () => Promise<void> {
	return async () => {
		for (const s of sockets) s.destroy();
		await new Promise<void>((resolve) => server.close(() => resolve()));
	};
}

function tracked(server: Server): Set<Socket> {
	const sockets = new Set<Socket>();
	server.on('connection', (s: Socket) => {
		sockets.add(s);
		s.on('close', () => sockets.delete(s));
		s.on('error', () => undefined);
	});
	return sockets;
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
	const server = createServer();
	const port = await listen(server);
	await new Promise<void>((resolve) => server.close(() => resolve()));
	return port;
}

/** Accepts connections and never says a word. */
export async function startStallServer(): Promise<Closable> {
	const server = createServer(() => undefined);
	const sockets = tracked(server);
	const port = await listen(server);
	return { port, stop: stopper(server, sockets) };
}

/** Answers a TLS client with a plain-text SMTP greeting: the handshake cannot succeed. */
export async function startPlainTextServer(): Promise<Closable & { connections: number }> {
	let connections = 0;
	const server = createServer((s) => {
		connections++;
		s.write('220 plain text only, no TLS here\r\n');
	});
	const sockets = tracked(server);
	const port = await listen(server);
	return { port, stop: stopper(server, sockets), get connections() { return connections; } };
}

export interface Certificate { key: string; cert: string }

/** A self-signed CA-capable certificate for the given DNS name only (not 127.0.0.1). */
export function certificateFor(dnsName: string): Certificate {
	const dir = mkdtempSync(path.join(tmpdir(), 'faults-cert-'));
	try {
		execFileSync('openssl', [
			'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'),
			'-out', path.join(dir, 'cert.pem'), '-days', '2', '-subj', `/CN=${dnsName}`,
			'-addext', `subjectAltName=DNS:${dnsName}`, '-addext', 'basicConstraints=critical,CA:TRUE',
		], { stdio: 'ignore' });
		return { key: readFileSync(path.join(dir, 'key.pem'), 'utf8'), cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

/** Implicit-TLS server with a certificate for another host; counts completed handshakes. */
export async function startWrongHostTlsServer(cert: Certificate): Promise<Closable & { handshakes: number }> {
	let handshakes = 0;
	const server = createTlsServer({ key: cert.key, cert: cert.cert }, (s) => {
		handshakes++;
		s.write('220 wrong host\r\n');
	});
	server.on('tlsClientError', () => undefined);
	const sockets = tracked(server);
	const port = await listen(server);
	return { port, stop: stopper(server, sockets), get handshakes() { return handshakes; } };
}

export interface ProxyConnection {
	/** Bytes the client has sent through this connection so far. */
	clientBytes: number;
	index: number;
}

export interface ResetProxy extends Closable {
	connections: number;
	resets: number;
	/**
	 * Resets (TCP RST) the next connection for which `when` turns true. Checked on every chunk the
	 * client sends and every 5 ms; used once.
	 */
	resetWhen(when: (c: ProxyConnection) => boolean): void;
}

/** A TCP proxy in front of a real server that can cut a connection at a chosen moment. */
export async function startResetProxy(target: { host: string; port: number }): Promise<ResetProxy> {
	let rule: ((c: ProxyConnection) => boolean) | undefined;
	let connections = 0;
	let resets = 0;
	const server = createServer((client) => {
		const conn: ProxyConnection = { clientBytes: 0, index: connections++ };
		const upstream = connect(target.port, target.host);
		upstream.on('error', () => client.destroy());
		client.on('error', () => upstream.destroy());
		let cut = false;
		const check = (): boolean => {
			if (cut) return true;
			if (rule && rule(conn)) {
				rule = undefined;
				cut = true;
				resets++;
				clearInterval(timer);
				client.resetAndDestroy();
				upstream.destroy();
				return true;
			}
			return false;
		};
		const timer = setInterval(check, 5);
		client.on('close', () => {
			clearInterval(timer);
			upstream.destroy();
		});
		upstream.on('close', () => client.destroy());
		client.on('data', (chunk: Buffer) => {
			conn.clientBytes += chunk.length;
			if (!check()) upstream.write(chunk);
		});
		upstream.on('data', (chunk: Buffer) => {
			if (!cut) client.write(chunk);
		});
		check();
	});
	const sockets = tracked(server);
	const port = await listen(server);
	return {
		port,
		stop: stopper(server, sockets),
		get connections() { return connections; },
		get resets() { return resets; },
		resetWhen(when) {
			rule = when;
		},
	};
}

/**
 * An IMAP server over implicit TLS that greets, advertises AUTH=XOAUTH2 and hangs up (RST) the
 * moment the client sends AUTHENTICATE.
 */
export async function startImapHangUp(cert: Certificate): Promise<Closable & { authenticates: number }> {
	let authenticates = 0;
	const server = createTlsServer({ key: cert.key, cert: cert.cert }, (s) => {
		s.on('error', () => undefined);
		s.write('* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] test IMAP ready\r\n');
		let buffer = '';
		s.on('data', (chunk: Buffer) => {
			buffer += chunk.toString('utf8');
			let nl: number;
			while ((nl = buffer.indexOf('\r\n')) >= 0) {
				const line = buffer.slice(0, nl);
				buffer = buffer.slice(nl + 2);
				const [tag, command = ''] = line.split(' ');
				if (/^AUTHENTICATE$/i.test(command)) {
					authenticates++;
					s.destroy();
					return;
				}
				if (/^CAPABILITY$/i.test(command)) s.write(`* CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2\r\n${tag} OK done\r\n`);
				else if (/^LOGOUT$/i.test(command)) s.end(`* BYE\r\n${tag} OK bye\r\n`);
				else s.write(`${tag} OK done\r\n`);
			}
		});
	});
	server.on('tlsClientError', () => undefined);
	const sockets = tracked(server);
	const port = await listen(server);
	return { port, stop: stopper(server, sockets), get authenticates() { return authenticates; } };
}

/** Counts every HTTP request: proof that a URL given as input was never fetched. */
export async function startCanaryHttp(): Promise<Closable & { hits: number; url(p: string): string }> {
	let hits = 0;
	const server = createHttpServer((_req, res) => {
		hits++;
		res.end('canary');
	});
	const port = await listen(server);
	return {
		port,
		get hits() { return hits; },
		url: (p: string) => `http://127.0.0.1:${port}/${p}`,
		stop: async () => {
			server.closeAllConnections();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}

/**
 * An SMTP server that greets at once, then answers EHLO one continuation line a second, for ever:
 * every line resets the client's idle (socket) timer, so only an overall deadline ends the wait.
 */
export async function startTrickleSmtpServer(): Promise<Closable & { connections: number; lines: number; open: number }> {
	let connections = 0;
	let lines = 0;
	const timers = new Set<NodeJS.Timeout>();
	const server = createServer((s) => {
		connections++;
		s.write('220 trickle.test ESMTP\r\n');
		s.once('data', () => {
			const timer = setInterval(() => {
				lines++;
				if (!s.destroyed) s.write(`250-trickle.test line ${lines}\r\n`);
			}, 1000);
			timers.add(timer);
			s.on('close', () => {
				clearInterval(timer);
				timers.delete(timer);
			});
		});
	});
	const sockets = tracked(server);
	const port = await listen(server);
	const stop = stopper(server, sockets);
	return {
		port,
		get connections() { return connections; },
		get lines() { return lines; },
		get open() { return sockets.size; },
		stop: async () => {
			for (const t of timers) clearInterval(t);
			await stop();
		},
	};
}
