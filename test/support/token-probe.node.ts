/**
 * A test-only node that exercises the shared token lifecycle and transports without the product
 * nodes: opens one TokenSession per execution, optionally logs in over SMTP and/or IMAP, and
 * reports what happened (never the token itself).
 */
import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import { isMailError } from '../../nodes/shared/errors';
import { connectImap } from '../../nodes/shared/imap';
import { SmtpClient } from '../../nodes/shared/smtp';
import { TokenSession } from '../../nodes/shared/token';

export class TokenProbe implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Token Probe',
		name: 'tokenProbe',
		group: ['output'],
		version: 1,
		description: 'Test-only',
		defaults: { name: 'Token Probe' },
		inputs: ['main'],
		outputs: ['main'],
		credentials: [{ name: 'microsoftMailOAuth2Api', required: true }],
		properties: [
			{ displayName: 'SMTP Login', name: 'smtp', type: 'boolean', default: false },
			{ displayName: 'IMAP Login', name: 'imap', type: 'boolean', default: false },
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		try {
			const session = await TokenSession.open(this);
			const done: string[] = [];
			if (this.getNodeParameter('smtp', 0) === true) {
				const smtp = new SmtpClient(session);
				try {
					await smtp.verify();
					done.push('smtp');
				} finally {
					smtp.close();
				}
			}
			if (this.getNodeParameter('imap', 0) === true) {
				const imap = await connectImap(session);
				try {
					done.push('imap');
				} finally {
					await imap.logout().catch(() => undefined);
				}
			}
			return [[{ json: { refreshes: session.refreshes, renewed: session.renewedAfterRejection, expiresAt: session.expiresAt ?? null, done }, pairedItem: { item: 0 } }]];
		} catch (e) {
			if (isMailError(e))
				throw new NodeOperationError(this.getNode(), e.failure.message, {
					description: e.failure.hint,
					itemIndex: 0,
				});
			throw e;
		}
	}
}
