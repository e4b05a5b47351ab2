import { type OptionSpec, option } from '../config/option.js';
import { ConfigError } from '../errors.js';
import { type LogEncoder, parseLogEncoder } from './encoders.js';
import { type CompiledLogFormat, compileLogFormat } from './request-log.js';

/** `log-format`: compiled when the config is read, so a bad format fails the start with file and line. */
const logFormatOption: OptionSpec<CompiledLogFormat | null, false> = {
  type: 'string',
  list: false,
  default: null,
  arity: 'required',
  aliases: ['logformat'],
  help: "request log line with uWSGI's %(var) variables, e.g. `%(addr) %(method) %(uri) %(status) %(msecs)ms`",
  parse: (text, name, origin) => compileLogFormat(text, name, origin),
};

/** `log-encoder`: repeatable, each value parsed into an encoder at config time. */
const logEncoderOption: OptionSpec<LogEncoder, true> = {
  type: 'string',
  list: true,
  default: [],
  arity: 'required',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: uWSGI's encoder template syntax, not JS
  help: 'encode every log line (repeatable, applied in order): `json {"msg":"${msg}"}`, `format ...`, `prefix ...`, `suffix ...`, `nl`',
  departure: 'a record without a final newline gets one (uWSGI runs such records together on one line)',
  parse: (text, name, origin) => parseLogEncoder(text, name, origin),
};

/** `memory-report`: uWSGI's optional int (bare flag = 1; 2 adds uss/pss). */
const memoryReportOption: OptionSpec<number, false> = {
  type: 'number',
  list: false,
  default: 0,
  arity: 'optional',
  short: 'm',
  help: 'prefix request log lines with the worker memory (1: address space and rss; 2: also uss and pss)',
  parse(text, name, origin) {
    const v = text.trim().toLowerCase();
    if (v === '' || v === 'true' || v === 'on' || v === 'yes') return 1;
    if (v === 'false' || v === 'off' || v === 'no') return 0;
    if (v === '0' || v === '1' || v === '2') return Number(v);
    throw new ConfigError('TSGI_ERR_CONFIG_VALUE', `expected 0, 1 or 2, got '${text}'`, origin, name);
  },
};

/**
 * Logging options (uWSGI's names and meanings: uWSGI docs "Logging", "Formatting uWSGI requests
 * logs", "Log encoders").
 */
export const logOptions = {
  logto: option.path({
    help: 'write the log to this file instead of stderr (reopened on SIGHUP, for logrotate)',
  }),
  'log-reopen': option.bool({
    help: 'accepted for compatibility: tsgi reopens the logto file on every reload (SIGHUP)',
    departure: 'always on: the logto file is reopened on every SIGHUP, so logrotate needs no extra option',
  }),
  'touch-logreopen': option.strings({ help: 'reopen the logto file when this file is touched (repeatable)' }),
  'disable-logging': option.bool({
    help: 'do not log requests (errors and lifecycle lines are still logged; log-4xx/5xx/slow/big/zero still apply)',
    short: 'L',
  }),
  'log-format': logFormatOption,
  'log-x-forwarded-for': option.bool({
    help: 'log the X-Forwarded-For header as the client address (%(addr)) instead of REMOTE_ADDR',
  }),
  'log-micros': option.bool({ help: 'report response times in microseconds in the default request line' }),
  'log-4xx': option.bool({ help: 'log requests answered with a 4xx status even with disable-logging' }),
  'log-5xx': option.bool({ help: 'log requests answered with a 5xx status even with disable-logging' }),
  'log-slow': option.int({
    help: 'log requests slower than this even with disable-logging (0 = off)',
    unit: 'ms',
    min: 0,
  }),
  'log-big': option.bytes({ help: 'log responses at least this big even with disable-logging (0 = off)' }),
  'log-zero': option.bool({ help: 'log responses with an empty body even with disable-logging' }),
  // uWSGI declares it with a required argument (`log-ioerror = 1`), so on the command line it takes one.
  'log-ioerror': {
    ...option.bool({
      help: 'log requests whose client went away even with disable-logging (takes a value: 1)',
    }),
    arity: 'required',
  },
  'memory-report': memoryReportOption,
  'log-encoder': logEncoderOption,
  'log-master': option.bool({
    help: 'accepted for compatibility: the tsgi master always writes the log',
    default: true,
  }),
  'threaded-logger': option.bool({
    help: 'accepted for compatibility: tsgi never blocks on the log (a slow destination costs lines, counted)',
  }),
} as const;
