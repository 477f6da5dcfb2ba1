/**
 * The input stage's output: complete lines (newline stripped) in the order they were
 * written, with where reading would resume once they are delivered.
 */
export interface LineChunk {
  lines: string[];
  /**
   * Resume position after the last line of this chunk, for the checkpoint. Inputs that
   * cannot resume (syslog, stdin) leave it undefined. The pipeline hands it back through
   * `LineInput.acknowledge` once every span of this chunk and of all earlier chunks of the
   * same input was acknowledged by the collector (or dropped as invalid and counted).
   */
  resume?: ResumePosition;
  /** Byte offset of the first line in its file, for error reports; undefined for streams. */
  startOffset?: number;
  /** Name of the file or stream, for error reports. */
  origin: string;
  /**
   * Indices into `lines` of lines that were longer than the input's line cap and were cut
   * to it (so their byte length no longer tells their offset). Absent when none was.
   */
  truncated?: number[];
}

/** Opaque to everything but the input that produced it and the checkpoint store. */
export interface ResumePosition {
  /** Identity of the file (device + inode, and a fingerprint of its first bytes). */
  fileKey: string;
  path: string;
  offset: number;
}

/** Called for each chunk; resolves when the pipeline can take more (backpressure). */
export type ChunkSink = (chunk: LineChunk) => Promise<void>;

export interface LineInput {
  /** Reads until `signal` aborts (follow mode) or the input ends (replay, stdin EOF). */
  run(sink: ChunkSink, signal: AbortSignal): Promise<void>;
  /** Delivery acknowledged everything up to `position`. */
  acknowledge?(position: ResumePosition): void;
  /** Live counters for /metrics (read them; only the input writes them). */
  readonly counters?: InputCounters;
  /**
   * Bytes written to the input's files but not yet acknowledged (read or not), as of the
   * last poll; undefined for inputs that have no files.
   */
  lagBytes?(): number;
}

/** Counters of an input; fields that do not apply to an input stay 0. */
export interface InputCounters {
  linesRead: number;
  bytesRead: number;
  /** Lines longer than the cap, cut to it. */
  linesTruncated: number;
  /** Rename rotations followed (switched from the old file to the new one). */
  rotations: number;
  /** Copytruncate seen (file shrank below the read offset, or its first bytes changed). */
  truncations: number;
  filesOpened: number;
  /** A checkpointed file could not be found at start (neither at its path nor among its siblings). */
  checkpointMisses: number;
  /** Syslog: datagrams received. */
  datagramsReceived: number;
  /** Syslog: datagrams whose header was not recognised (delivered whole). */
  datagramsUnparsed: number;
  /** Syslog: lines dropped because the pipeline was too far behind (the queue was full). */
  linesDropped: number;
}

export function newInputCounters(): InputCounters {
  return {
    linesRead: 0,
    bytesRead: 0,
    linesTruncated: 0,
    rotations: 0,
    truncations: 0,
    filesOpened: 0,
    checkpointMisses: 0,
    datagramsReceived: 0,
    datagramsUnparsed: 0,
    linesDropped: 0,
  };
}
