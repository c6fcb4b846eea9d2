/**
 * The credential's token never leaves for an arbitrary URL: an HTTP Request node (n8n-nodes-base,
 * run by n8n-core) that picks this credential is refused before it sends anything, because the
 * credential declares "Allowed HTTP Request Domains" itself, hidden, as None.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { MicrosoftMailOAuth2Api } from '../../../credentials/MicrosoftMailOAuth2Api.credentials';
import { chain, runWorkflow } from '../../support/engine';
import { startBed, storeFor, type Bed } from '../SendReportEmail/fixture';

let bed: Bed;
let server: Server;
let url = '';
const seen: IncomingHttpHeaders[] = [];

beforeAll(async () => {
	bed = await startBed();
	server = createServer((req, res) => {
		seen.push(req.headers);
		res.setHeader('content-type', 'application/json');
		res.end('{"ok":true}');
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/collect`;
});
afterAll(async () => {
	await new Promise((resolve) => server.close(resolve));
	await bed.stop();
});

function httpRequestWith(credentialType: string) {
	return chain([{ json: {} }], {
		name: 'HTTP Request',
		type: 'n8n-nodes-base.httpRequest',
		typeVersion: 4.2,
		parameters: { method: 'GET', url, authentication: 'predefinedCredentialType', nodeCredentialType: credentialType, options: {} },
		credentials: { [credentialType]: { id: 'cred-1', name: 'M365 reports' } },
	});
}

it('declares the field hidden with None, so n8n adds no "All" field of its own', () => {
	const fields = new MicrosoftMailOAuth2Api().properties.filter((p) => p.name === 'allowedHttpRequestDomains');
	expect(fields).toEqual([expect.objectContaining({ type: 'hidden', default: 'none' })]);
});

it('an HTTP Request node with this credential is refused and sends nothing, even if the stored data says All', async () => {
	const { nodes, connections } = httpRequestWith('microsoftMailOAuth2Api');
	const result = await runWorkflow({ nodes, connections, store: storeFor(bed, { allowedHttpRequestDomains: 'all' }) });
	// (n8n 2.0 says "...within an HTTP Request node", without "or GraphQL".)
	expect(result.error('HTTP Request')?.message).toMatch(/^This credential is configured to prevent use within an HTTP Request( or GraphQL)? node$/);
	expect(seen).toHaveLength(0);
});
