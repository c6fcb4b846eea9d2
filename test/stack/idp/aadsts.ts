// Microsoft-shaped token endpoint errors: the AADSTS codes the IdP emits (or tests ask for) and
// the exact JSON body layout Entra ID uses, so client error mapping is tested against real shapes.
import { randomUUID } from 'node:crypto';

/** Message text Entra puts after `AADSTSnnnn: `, for the codes this project cares about. */
export const AADSTS_MESSAGES: Readonly<Record<number, string>> = {
	28000: 'Provided value for the input parameter scope is not valid because it contains more than one resource.',
	50034: "The user account {EmailHidden} does not exist in the test-tenant directory. To sign into this application, the account must be added to the directory.",
	50053: "The account is locked, you've tried to sign in too many times with an incorrect user ID or password.",
	50055: 'The password is expired.',
	50057: 'The user account is disabled.',
	50105: "Your administrator has configured the application n8n mail ('00000000-m365-mail-test-client') to block users unless they are specifically granted ('assigned') access to the application. The signed in user 'alice@example.test' is blocked because they are not a direct member of a group with access, nor had access directly assigned by an administrator. Please contact your administrator to assign access to this application.",
	50194: "Application '00000000-m365-mail-test-client'(n8n mail) is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.",
	50196: 'The server terminated an operation because it encountered a client request loop. Please contact your app vendor.',
	65004: 'User declined to consent to access the app.',
	70043: 'The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on 2026-11-20T08:00:00.0000000Z and the maximum allowed lifetime for this request is 86400.',
	90094: 'Admin consent is required for the permissions requested by this application. An admin consent request may be sent to the admin.',
	90130: 'Application (00000000-m365-mail-test-client) is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.',
	500011: 'The resource principal named https://outlook.office365.com was not found in the tenant named test-tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.',
	650057: "Invalid resource. The client has requested access to a resource which is not listed in the requested permissions in the client's application registration. Client app ID: 00000000-m365-mail-test-client(n8n mail). Resource value from request: https://outlook.office.com. Resource app ID: 00000002-0000-0ff1-ce00-000000000000. List of valid resources from app registration: 00000003-0000-0000-c000-000000000000.",
	700022: 'The provided value for the input parameter scope is not valid because it contains more than one resource. Scope https://outlook.office.com/SMTP.Send https://graph.microsoft.com/User.Read offline_access is not valid.',
	7000112: "Application '00000000-m365-mail-test-client'(n8n mail) is disabled.",
	9001023: "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
	50011: "The redirect URI specified in the request does not match the redirect URIs configured for the application. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.",
	50076: 'Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.',
	50173: "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
	53003: 'Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.',
	54005: 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.',
	65001: "The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource.",
	70000: 'The request was denied because one or more grants are invalid or malformed.',
	70003: 'The app requested an unsupported grant type.',
	70008: 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
	501481: 'The Code_Verifier does not match the code_challenge supplied in the authorization request.',
	700016: "Application with identifier was not found in the directory. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
	700082: 'The refresh token has expired due to inactivity. The token was issued on a date and was inactive for 90.00:00:00.',
	900144: "The request body must contain the following parameter: 'grant_type'.",
	1002012: 'The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).',
	7000215: 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.',
	7000218: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
	7000222: 'The provided client secret keys for app are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.',
};

export interface EntraError {
	status: number;
	error: string;
	aadsts?: number;
	description?: string;
}

/** `{"error", "error_description": "AADSTSn: ...\r\nTrace ID: ...", "error_codes", "timestamp", ...}` */
export function entraErrorBody(e: EntraError, now: Date = new Date()): Record<string, unknown> {
	const traceId = randomUUID();
	const correlationId = randomUUID();
	const timestamp = now.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
	const message = e.description ?? (e.aadsts !== undefined ? AADSTS_MESSAGES[e.aadsts] : undefined) ?? e.error;
	const head = e.aadsts !== undefined ? `AADSTS${e.aadsts}: ${message}` : message;
	return {
		error: e.error,
		error_description: `${head}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
		error_codes: e.aadsts !== undefined ? [e.aadsts] : [],
		timestamp,
		trace_id: traceId,
		correlation_id: correlationId,
		...(e.aadsts !== undefined ? { error_uri: `https://login.microsoftonline.com/error?code=${e.aadsts}` } : {}),
	};
}

/** Thrown inside a grant handler; the server turns it into the Entra error body. */
export class TokenError extends Error {
	constructor(readonly entra: EntraError) {
		super(`${entra.error}${entra.aadsts !== undefined ? ` AADSTS${entra.aadsts}` : ''}`);
	}
}

export const invalidClient = (aadsts: number, status = 400): TokenError =>
	new TokenError({ status, error: 'invalid_client', aadsts });
export const invalidGrant = (aadsts: number): TokenError => new TokenError({ status: 400, error: 'invalid_grant', aadsts });
export const invalidScope = (aadsts: number): TokenError => new TokenError({ status: 400, error: 'invalid_scope', aadsts });
export const invalidRequest = (aadsts: number, description?: string): TokenError =>
	new TokenError({ status: 400, error: 'invalid_request', aadsts, description });
