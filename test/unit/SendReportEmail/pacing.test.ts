import { Pacer, backoffMs } from '../../../nodes/shared/smtp';

function fakeClock() {
	const now = 0;
	const sleeps: number[] = [];
	return {
		sleeps,
		now: () => now,
		sleep: async (ms: number) => {
			// Time does not move while callers are waiting: each reservation is relative to the same now.
			sleeps.push(ms);
		},
	};
}

describe('pacing and backoff', () => {
	it('spaces starts evenly: 30 per minute is one every 2 s, reserved even for concurrent callers', async () => {
		const clock = fakeClock();
		const pacer = new Pacer(30, clock);
		await Promise.all([pacer.wait(), pacer.wait(), pacer.wait()]);
		expect(clock.sleeps).toEqual([2000, 4000]);
	});
	it('does nothing when off', async () => {
		const clock = fakeClock();
		await new Pacer(0, clock).wait();
		await new Pacer(0, clock).wait();
		expect(clock.sleeps).toEqual([]);
	});
	it('backs off exponentially up to the cap', () => {
		const policy = { baseDelayMs: 2000, maxDelayMs: 5000 };
		expect([1, 2, 3].map((n) => backoffMs(n, policy))).toEqual([2000, 4000, 5000]);
	});
});
