// jest globalSetup for the interop project: start the real mail stack once for all files.
import { ensureMailStack } from './mailstack';

export default async function globalSetup(): Promise<void> {
	const started = await ensureMailStack();
	// globalTeardown runs in this same process; stop only what was started here
	process.env.MAILSTACK_STARTED_BY_JEST = started ? '1' : '';
}
