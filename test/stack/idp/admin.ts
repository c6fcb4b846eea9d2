// `/_admin/*`: lets a test script an IdP that runs in another process (the CLI), e.g. behind the
// real mail stack or a real n8n. Loopback only; every call answers JSON.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FailureSpec, Idp } from '../idp';
import { parseJsonObject, readBody, sendJson } from './http';

type Body = Record<string, unknown>;

const str = (body: Body, name: string): string | undefined => (typeof body[name] === 'string' ? body[name] : undefined);
const num = (body: Body, name: string): number | undefined => (typeof body[name] === 'number' ? body[name] : undefined);

function required(body: Body, name: string): string {
	const value = str(body, name);
	if (value === undefined) throw new Error(`missing string field "${name}"`);
	return value;
}

function failureSpec(body: Body): FailureSpec {
	return {
		status: num(body, 'status'),
		error: str(body, 'error'),
		aadsts: num(body, 'aadsts'),
		description: str(body, 'description'),
		rawBody: str(body, 'rawBody'),
		retryAfter: num(body, 'retryAfter'),
	};
}

const ROUTES: Record<string, (idp: Idp, body: Body) => unknown> = {
	'POST clients': (idp, body) => {
		const mailboxes = Array.isArray(body.appMailboxes) ? body.appMailboxes.map(String) : undefined;
		idp.addClient({ clientId: required(body, 'clientId'), clientSecret: required(body, 'clientSecret'), appMailboxes: mailboxes, accessTokenTtlSeconds: num(body, 'accessTokenTtlSeconds') });
		return { ok: true };
	},
	'POST fail-next': (idp, body) => {
		idp.failNext(num(body, 'count') ?? 1, failureSpec(body));
		return { ok: true };
	},
	'POST fail-introspect-next': (idp, body) => {
		idp.failIntrospectNext(num(body, 'count') ?? 1);
		return { ok: true };
	},
	'POST delay': (idp, body) => {
		idp.setDelay(num(body, 'ms') ?? 0);
		return { ok: true };
	},
	'POST revoke': (idp, body) => {
		idp.revokeRefreshTokens(str(body, 'user'));
		return { ok: true };
	},
	'POST omit-refresh-token': (idp, body) => {
		idp.omitRefreshTokenNext(num(body, 'count') ?? 1);
		return { ok: true };
	},
	'POST issue-tokens': (idp, body) =>
		idp.issueTokens({
			clientId: required(body, 'clientId'),
			user: required(body, 'user'),
			scope: required(body, 'scope'),
			expiresIn: num(body, 'expiresIn'),
			tenant: str(body, 'tenant'),
		}),
	'POST verify': (idp, body) => {
		const protocol = str(body, 'protocol');
		return idp.verify(required(body, 'token'), str(body, 'user'), protocol === 'smtp' || protocol === 'imap' ? protocol : undefined);
	},
	'GET token-requests': (idp) => idp.tokenRequests,
	'POST reset': (idp) => {
		idp.reset();
		return { ok: true };
	},
	'GET health': (idp) => ({ ok: true, url: idp.url }),
};

export async function handleAdmin(idp: Idp, req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
	const handler = ROUTES[`${req.method ?? 'GET'} ${name}`];
	if (!handler) {
		sendJson(res, 404, { error: 'not_found', routes: Object.keys(ROUTES) });
		return;
	}
	try {
		const body = req.method === 'POST' ? parseJsonObject(await readBody(req)) : {};
		sendJson(res, 200, handler(idp, body));
	} catch (error: unknown) {
		sendJson(res, 400, { error: 'bad_request', error_description: error instanceof Error ? error.message : 'bad request' });
	}
}
