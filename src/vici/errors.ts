// Every failure the VICI layer reports is one of these: callers branch on the class (or on `name`, which
// survives crossing module copies), never on message text.
import type { ViciSection } from './message.js';

export class ViciError extends Error {
  override name = 'ViciError';
  /**
   * What charon logged about the command while it ran (its control-log, what `swanctl --initiate`
   * prints), for initiate and terminate; empty otherwise.
   */
  charonLog: readonly string[] = [];
}

/** A transport segment announced a length over the limit; the stream cannot be trusted past it. */
export class ViciFrameTooLargeError extends ViciError {
  override name = 'ViciFrameTooLargeError';
  constructor(
    readonly length: number,
    readonly max: number,
  ) {
    super(`vici frame of ${length} bytes exceeds the ${max} byte limit`);
  }
}

/** Bytes that are not a valid packet or message. `offset` is where in the decoded buffer it went wrong. */
export class ViciDecodeError extends ViciError {
  override name = 'ViciDecodeError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} (at offset ${offset})`);
  }
}

/** A well-formed message that does not have the shape a typed call expects (e.g. list-sa without uniqueid). */
export class ViciSchemaError extends ViciError {
  override name = 'ViciSchemaError';
  constructor(
    readonly what: string,
    readonly issues: string,
  ) {
    super(`unexpected ${what} from charon: ${issues}`);
  }
}

/** A value the encoder refuses: it would be rejected (often silently) by charon, or cannot be encoded at all. */
export class ViciEncodeError extends ViciError {
  override name = 'ViciEncodeError';
  constructor(
    message: string,
    /** Where in the message, e.g. `conn1.children.net.local_ts[2]`; empty for the packet itself. */
    readonly path = '',
  ) {
    super(path ? `${path}: ${message}` : message);
  }
}

/** charon answered `success = no`. */
export class ViciCommandError extends ViciError {
  override name = 'ViciCommandError';
  constructor(
    readonly command: string,
    readonly errmsg: string,
    readonly response?: ViciSection,
  ) {
    super(`vici ${command} failed: ${errmsg || 'no error message'}`);
  }
}

/** charon has no such command (CMD_UNKNOWN). */
export class ViciUnknownCommandError extends ViciError {
  override name = 'ViciUnknownCommandError';
  constructor(readonly command: string) {
    super(`charon does not know the vici command '${command}'`);
  }
}

/** charon has no such event (EVENT_UNKNOWN on register), or it was not registered (on unregister). */
export class ViciUnknownEventError extends ViciError {
  override name = 'ViciUnknownEventError';
  constructor(readonly event: string) {
    super(`charon does not know the vici event '${event}'`);
  }
}

/**
 * No reply in time. The connection it was sent on has been closed: a late reply would otherwise be taken
 * for the next command's (VICI has no sequence numbers).
 */
export class ViciTimeoutError extends ViciError {
  override name = 'ViciTimeoutError';
  constructor(
    readonly command: string,
    readonly timeoutMs: number,
  ) {
    super(`vici ${command}: no reply within ${timeoutMs} ms`);
  }
}

/** The socket could not be reached, or was lost while the call was in flight. Names the socket. */
export class ViciConnectionError extends ViciError {
  override name = 'ViciConnectionError';
  constructor(
    readonly socket: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`vici ${socket}: ${detail}`, options);
  }
}
