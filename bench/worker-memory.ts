/**
 * The worker's memory settings as the compose file runs it (test/deploy.test.ts keeps them equal):
 * two malloc arenas instead of one per thread, and a V8 heap that collects before growing past
 * what a capped cache needs.
 */
export const WORKER_IMAGE_ENV: Record<string, string> = { MALLOC_ARENA_MAX: '2', NODE_OPTIONS: '--max-old-space-size=256 --max-semi-space-size=4' };
