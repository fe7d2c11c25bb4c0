/**
 * Errors the command line reports as one line on stderr with exit status 2: bad arguments
 * (CliError) and bad input files (FormatError). Anything else is a bug (exit status 1).
 */

/** A bad argument or an unusable file name: one line, exit status 2. */
export class CliError extends Error {
  override name = 'CliError';
}

/** A file that is not what it claims to be (magic, version, sizes, fields). */
export class FormatError extends Error {
  override name = 'FormatError';
}
