// jest globalTeardown for the interop project: stop the stack if globalSetup started it.
import { stopMailStack } from './mailstack';

export default function globalTeardown(): void {
	if (process.env.MAILSTACK_STARTED_BY_JEST === '1' && !process.env.MAILSTACK_KEEP) stopMailStack();
}
