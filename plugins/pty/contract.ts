/**
 * The contract a language runner provides so that the pty plugin can open an interactive console
 * with the app loaded (Python: an interpreter with the app bound to `application`).
 */
export interface AppConsole {
  /**
   * The program to run in a console's pseudo-terminal.
   * @param env the instance environment (the master's plus `env =` options)
   */
  program(env: NodeJS.ProcessEnv): {
    readonly file: string;
    readonly args: readonly string[];
    /** Working directory (the instance's `chdir`). */
    readonly cwd: string;
    readonly env: NodeJS.ProcessEnv;
  };
}

declare module '../../core/plugin/types.js' {
  interface Contracts {
    /** An interactive console with the app loaded (provided by runners: `python`). */
    'app-console': AppConsole;
  }
}
