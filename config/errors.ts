// Every error a user can meet carries a stable code (RN_<AREA>_<WHAT>); callers
// and tests branch on `code`, never on message text. docs/errors.md lists them.
export class ResilnetError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; hint?: string; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ResilnetError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }
}

export class ConfigError extends ResilnetError {
  constructor(message: string, options: { cause?: unknown; hint?: string; details?: Record<string, unknown> } = {}) {
    super('RN_CONFIG_INVALID', message, options);
    this.name = 'ConfigError';
  }
}
