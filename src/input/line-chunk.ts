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
}
