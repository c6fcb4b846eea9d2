// Entra v2 scope strings: `https://outlook.office.com/SMTP.Send offline_access` -> resource + short names.

const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);
const GRAPH = 'https://graph.microsoft.com';
const OUTLOOK_RESOURCE = /^https:\/\/outlook\.office(365)?\.com$/i;

export interface ParsedScope {
	/** The single resource (token audience); Entra refuses scopes for more than one. */
	resource: string;
	/** Short permission names as they appear in `scp`, e.g. `SMTP.Send`; `.default` when asked for. */
	names: string[];
	/** openid / profile / email, echoed in the response `scope`. */
	oidc: string[];
	offlineAccess: boolean;
	/** More than one resource was requested (AADSTS28000). */
	multipleResources: boolean;
}

export function parseScope(scope: string): ParsedScope {
	const resources = new Set<string>();
	const names: string[] = [];
	const oidc: string[] = [];
	let offlineAccess = false;
	for (const item of scope.split(/\s+/).filter(Boolean)) {
		if (OIDC_SCOPES.has(item.toLowerCase())) {
			if (item.toLowerCase() === 'offline_access') offlineAccess = true;
			else oidc.push(item.toLowerCase());
			continue;
		}
		const slash = item.lastIndexOf('/');
		// `User.Read` without a resource means Microsoft Graph, as in Entra
		const resource = slash > 0 ? item.slice(0, slash) : GRAPH;
		resources.add(resource);
		names.push(slash > 0 ? item.slice(slash + 1) : item);
	}
	const [first] = resources;
	return {
		resource: first ?? GRAPH,
		names,
		oidc,
		offlineAccess,
		multipleResources: resources.size > 1,
	};
}

/** What `.default` expands to for a delegated (user) token. */
export function delegatedPermissions(parsed: ParsedScope): string[] {
	const expanded = parsed.names.flatMap((name) =>
		name === '.default'
			? OUTLOOK_RESOURCE.test(parsed.resource)
				? ['IMAP.AccessAsUser.All', 'SMTP.Send']
				: ['User.Read']
			: [name],
	);
	return expanded.length > 0 ? [...new Set(expanded)] : ['User.Read'];
}

/** Application roles granted to an app-only (client credentials) token by default. */
export function defaultAppRoles(resource: string): string[] {
	return OUTLOOK_RESOURCE.test(resource) ? ['SMTP.SendAsApp', 'IMAP.AccessAsApp'] : [];
}

export const isDefaultScope = (parsed: ParsedScope): boolean =>
	parsed.names.length > 0 && parsed.names.every((name) => name === '.default');
