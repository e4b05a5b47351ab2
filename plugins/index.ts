import type { PluginDescriptor } from '../core/plugin/types.js';
import { frontPlugin } from '../router/front/index.js';
import { routerPlugin } from '../router/index.js';
import { subscribePlugin } from '../router/subscribe/index.js';
import { cgiPlugin } from './cgi/index.js';
import { fastcgiPlugin } from './fastcgi/index.js';
import { httpPlugin } from './http/index.js';
import { nodePlugin } from './node/index.js';
import { phpPlugin } from './php/index.js';
import { psgiPlugin } from './psgi/index.js';
import { ptyPlugin } from './pty/index.js';
import { pythonPlugin } from './python/index.js';
import { uwsgiPlugin } from './uwsgi/index.js';

/**
 * Every built-in plugin, in registration order (which is also provisioning order). Adding a plugin
 * means adding its descriptor here; nothing registers itself by being imported.
 */
// biome-ignore lint/suspicious/noExplicitAny: descriptors differ in their option tables
export const builtinPlugins: readonly PluginDescriptor<any>[] = [
  httpPlugin,
  uwsgiPlugin,
  fastcgiPlugin,
  pythonPlugin,
  nodePlugin,
  psgiPlugin,
  cgiPlugin,
  phpPlugin,
  routerPlugin,
  frontPlugin,
  subscribePlugin,
  ptyPlugin,
];
