import { configWithoutCloudSupport } from '@n8n/node-cli/eslint';

// Raw SMTP and IMAP sockets cannot run on n8n Cloud, so the package uses the self-hosted rule set.
export default [...configWithoutCloudSupport, { ignores: ['test/**', 'scripts/**', 'examples/**', '.stack/**', 'gulpfile.js', 'jest.config.js'] }];
