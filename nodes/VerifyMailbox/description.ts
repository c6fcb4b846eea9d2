/** Verify Mailbox: UI only. */
import type { INodeProperties } from 'n8n-workflow';

export const verifyMailboxProperties: INodeProperties[] = [
	{
		displayName:
			'Signs in to the mailbox the way Send Report Email will: token, SMTP (STARTTLS + XOAUTH2, nothing sent) and IMAP (XOAUTH2 or OAUTHBEARER). This is the full test of a Microsoft 365 Mail credential for both grant types; the credential\'s own Test only proves that an app-only token is issued.',
		name: 'verifyNotice',
		type: 'notice',
		default: '',
	},
	{
		displayName: 'Checks',
		name: 'checks',
		type: 'multiOptions',
		options: [
			{
				name: 'SMTP Login',
				value: 'smtp',
				description: 'Connect, STARTTLS and AUTH XOAUTH2; no message is sent',
			},
			{
				name: 'IMAP Login',
				value: 'imap',
				description: 'Log in, list the folders, count INBOX messages and read the quota',
			},
			{
				name: 'Round Trip',
				value: 'roundTrip',
				description:
					'Send a probe message from the mailbox to itself, wait for it in INBOX over IMAP, then delete it: proves that mail is accepted and delivered end to end',
			},
		],
		default: ['smtp', 'imap'],
		description: 'Which checks to run. The token is always checked first; when it fails, the other checks are skipped.',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		options: [
			{
				displayName: 'Fail Workflow When Not Verified',
				name: 'failWhenNotVerified',
				type: 'boolean',
				default: false,
				description:
					'Whether to stop the workflow with an error when a check fails. Off: the node outputs status "Not Verified" with the reason and hint, so the workflow can branch and alert.',
			},
			{
				displayName: 'Timeout per Check (Seconds)',
				name: 'checkTimeout',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 300 },
				default: 20,
				description: 'A check that takes longer fails with a timeout, so a dead or stalled server never hangs the workflow',
			},
			{
				displayName: 'Round Trip Timeout (Seconds)',
				name: 'roundTripTimeout',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 600 },
				default: 60,
				description: 'How long to wait for the probe message to arrive in INBOX',
			},
		],
	},
];
