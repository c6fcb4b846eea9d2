// A throwaway community package (one node, one credential extending oAuth2Api) written and packed
// with `npm pack` at test time, to prove the n8n harness without the real build.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PROBE_PACKAGE = 'n8n-nodes-e2e-probe';
export const PROBE_NODE_TYPE = `${PROBE_PACKAGE}.probe`;
export const PROBE_CREDENTIAL_TYPE = 'probeOAuth2Api';

const packageJson = {
	name: PROBE_PACKAGE,
	version: '0.0.1',
	description: 'Throwaway package that proves test/n8n',
	license: 'MIT',
	keywords: ['n8n-community-node-package'],
	files: ['lib'],
	n8n: {
		n8nNodesApiVersion: 1,
		strict: true,
		credentials: ['lib/ProbeOAuth2Api.credentials.js'],
		nodes: ['lib/Probe.node.js'],
	},
	peerDependencies: { 'n8n-workflow': '>=2.0.0' },
};

// Entra-shaped URLs computed from visible fields, as the real credential does.
const credentialJs = `'use strict';
class ProbeOAuth2Api {
	constructor() {
		this.name = '${PROBE_CREDENTIAL_TYPE}';
		this.extends = ['oAuth2Api'];
		this.displayName = 'E2E Probe OAuth2 API';
		this.properties = [
			{ displayName: 'Grant Type', name: 'grantType', type: 'hidden', default: 'authorizationCode' },
			{ displayName: 'Identity Provider URL', name: 'idpUrl', type: 'string', default: '' },
			{ displayName: 'Tenant', name: 'tenantId', type: 'string', default: 'test-tenant' },
			{ displayName: 'Authorization URL', name: 'authUrl', type: 'hidden',
				default: '={{$self["idpUrl"] + "/" + $self["tenantId"] + "/oauth2/v2.0/authorize"}}' },
			{ displayName: 'Access Token URL', name: 'accessTokenUrl', type: 'hidden',
				default: '={{$self["idpUrl"] + "/" + $self["tenantId"] + "/oauth2/v2.0/token"}}' },
			{ displayName: 'Scope', name: 'scope', type: 'hidden', default: 'offline_access https://outlook.office.com/SMTP.Send' },
			{ displayName: 'Auth URI Query Parameters', name: 'authQueryParameters', type: 'hidden', default: 'login_hint=alice@example.test' },
			{ displayName: 'Authentication', name: 'authentication', type: 'hidden', default: 'body' },
		];
	}
}
exports.ProbeOAuth2Api = ProbeOAuth2Api;
`;

// Reports what its credential holds, never the token itself.
const nodeJs = `'use strict';
class Probe {
	constructor() {
		this.description = {
			displayName: 'E2E Probe',
			name: 'probe',
			group: ['transform'],
			version: 1,
			description: 'Reports whether its OAuth2 credential holds a token',
			defaults: { name: 'E2E Probe' },
			inputs: ['main'],
			outputs: ['main'],
			credentials: [{ name: '${PROBE_CREDENTIAL_TYPE}', required: true }],
			properties: [],
		};
	}
	async execute() {
		const items = this.getInputData();
		const credential = await this.getCredentials('${PROBE_CREDENTIAL_TYPE}');
		const token = credential.oauthTokenData || {};
		return [items.map((item, index) => ({
			json: {
				hasAccessToken: typeof token.access_token === 'string' && token.access_token.length > 0,
				hasRefreshToken: typeof token.refresh_token === 'string' && token.refresh_token.length > 0,
				expiresAt: token.n8n_expires_at ?? null,
				input: item.json,
			},
			pairedItem: { item: index },
		}))];
	}
}
exports.Probe = Probe;
`;

/** Writes the package under `dir`/src and packs it into `dir`; returns the tarball path. */
export function packProbePackage(dir: string): string {
	const src = join(dir, 'src');
	mkdirSync(join(src, 'lib'), { recursive: true });
	writeFileSync(join(src, 'package.json'), JSON.stringify(packageJson, null, 2));
	writeFileSync(join(src, 'lib', 'ProbeOAuth2Api.credentials.js'), credentialJs);
	writeFileSync(join(src, 'lib', 'Probe.node.js'), nodeJs);
	const name = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: src, encoding: 'utf8' }).trim();
	return join(dir, name.split('\n').pop() ?? name);
}
