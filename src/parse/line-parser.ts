import type { AccessRecord } from './access-record.js';

/** Turns one log line (without its newline) into a record, or throws MalformedLineError. */
export interface LineParser {
  parse(line: string): AccessRecord;
}
