/**
 * The line parser for text log formats. Until src/parse/create-parser.ts lands, text
 * formats are refused with one clear sentence; JSON logs use JsonLineParser directly.
 */
import type { LineParser } from '../parse/line-parser.js';
import { InputError } from './read-input.js';

export interface LineParserOptions {
  logFormat?: string;
  escape?: 'default' | 'json' | 'none';
  nginxConf?: string;
  logFormatName?: string;
}

export function createLineParser(_options: LineParserOptions): LineParser {
  throw new InputError('Text log formats (--log-format, --escape, --nginx-conf, --log-format-name) are not supported yet; analyze reads the otel_json format.');
}
