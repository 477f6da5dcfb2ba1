import { JsonLineParser } from './json-line-parser.js';
import type { LineParser } from './line-parser.js';
import { compileLogFormat, type LogFormatEscape } from './log-format.js';
import { COMBINED_LOG_FORMAT, readLogFormat } from './nginx-conf.js';

export interface CreateLineParserOptions {
  /** A log_format string (`--log-format`), its quoted parts already joined. */
  logFormat?: string;
  /** Its escape= parameter (`--escape`); default `default`. Only with `logFormat`. */
  escape?: LogFormatEscape;
  /** An nginx config to read the format from (`--nginx-conf`), with `logFormatName`. */
  nginxConf?: string;
  /** The log_format name (`--log-format-name`); `combined` needs no config. */
  logFormatName?: string;
}

/**
 * The parser the CLI uses. Without options: the recommended JSON format
 * (nginx/otel-log-format.conf), which also reads any JSON log whose keys are variable names.
 * Throws an Error with a one-sentence message for contradictory options or a bad format.
 */
export function createLineParser(options: CreateLineParserOptions = {}): LineParser {
  const { logFormat, escape, nginxConf, logFormatName } = options;
  if (logFormat !== undefined) {
    if (nginxConf !== undefined || logFormatName !== undefined) {
      throw new Error('--log-format cannot be combined with --nginx-conf or --log-format-name; give the format one way');
    }
    return compileLogFormat(logFormat, escape ?? 'default');
  }
  if (escape !== undefined) {
    throw new Error('--escape applies to --log-format only (a log_format read from --nginx-conf carries its own escape= parameter)');
  }
  if (nginxConf !== undefined) {
    if (logFormatName === undefined) throw new Error('--nginx-conf needs --log-format-name to say which log_format the access log uses');
    const { format, escape: confEscape } = readLogFormat(nginxConf, logFormatName);
    return compileLogFormat(format, confEscape);
  }
  if (logFormatName !== undefined) {
    if (logFormatName === 'combined') return compileLogFormat(COMBINED_LOG_FORMAT.format, COMBINED_LOG_FORMAT.escape);
    throw new Error(`--log-format-name ${logFormatName} needs --nginx-conf to read the format from (only "combined" is predefined)`);
  }
  return new JsonLineParser();
}
