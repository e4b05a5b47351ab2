import { createRequire } from 'node:module';

/**
 * Dependencies loaded on first use instead of at start-up. Each costs every master that loads it
 * megabytes of private heap (resident memory measured after `require` on Node 20: ioredis ~20 MB,
 * ws ~8.5 MB, mime-types ~3 MB, node-pty ~2 MB), and most instances use none of them: only a Redis
 * rule or table, a WebSocket, a MIME lookup or a pseudo-terminal loads its library. All four are
 * CommonJS packages, so a synchronous `require` keeps their callers synchronous.
 */
const require = createRequire(import.meta.url);

/** ioredis (Redis client). */
export const ioredis = (): typeof import('ioredis') => require('ioredis');
/** ws (WebSocket server). */
export const wsLib = (): typeof import('ws') => require('ws');
/** mime-types (file extension → MIME type). */
export const mimeTypes = (): typeof import('mime-types') => require('mime-types');
/** node-pty (pseudo-terminals). */
export const nodePty = (): typeof import('node-pty') => require('node-pty');
