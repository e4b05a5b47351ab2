import { ConfigError } from '../../core/errors.js';
import { parseAddress } from '../../core/net/address.js';
import type { PluginDescriptor } from '../../core/plugin/types.js';
import { clientArgs, runPtyClient } from './client.js';
import { ptyOptions } from './options.js';
import { isLoopback, startConsoles } from './server.js';

const LISTEN_OPTIONS = ['pty-socket', 'pty-usocket', 'forkptyrouter', 'forkptyurouter'] as const;

/**
 * Interactive consoles: `pty-socket`/`pty-usocket` (a pseudo-terminal per client running the app
 * console or `pty-exec`) and the forkpty router. The listeners run as an instance service
 * ({@link startConsoles}), the client (`--pty-connect`) as a command; `create` only checks that TCP
 * consoles are allowed.
 */
export const ptyPlugin: PluginDescriptor<typeof ptyOptions> = {
  id: 'service.pty',
  name: 'pty',
  aliases: ['forkptyrouter'],
  kind: 'service',
  summary: 'interactive consoles on pseudo-terminals (pty-socket, forkpty router)',
  options: ptyOptions,
  instanceService: ({ master, log, emperor }) =>
    startConsoles(master, log, (consoles) => emperor?.consoles(consoles)),
  command: {
    matches: (argv) => argv.some((a) => /^--pty-u?connect(=|$)/.test(a)),
    run: (argv) => runPtyClient(clientArgs(argv)!),
  },
  create({ options, config }) {
    for (const name of LISTEN_OPTIONS) {
      const address = options[name];
      if (!address) continue;
      const a = parseAddress(address, name, config.origin(name));
      if (a.kind !== 'tcp') continue;
      if (!options['pty-token-file'])
        throw new ConfigError(
          'TSGI_ERR_CONFIG_VALUE',
          'a TCP console needs pty-token-file (clients send its token first); use a unix socket otherwise',
          config.origin(name),
          name,
        );
      if (!isLoopback(a.host) && !options['pty-allow-remote'])
        throw new ConfigError(
          'TSGI_ERR_CONFIG_VALUE',
          `console on non-loopback address ${a.host}: set pty-allow-remote to allow it`,
          config.origin(name),
          name,
        );
    }
    return { provides: {} };
  },
};
