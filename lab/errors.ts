// Lab error codes (RN_LAB_*). Messages follow "what failed: object (cause). Next step."
import { ResilnetError } from '../config/errors.js';

export type LabErrorCode =
  | 'RN_LAB_NOT_ROOT'
  | 'RN_LAB_TOOL_MISSING'
  | 'RN_LAB_BAD_NAME'
  | 'RN_LAB_NAME_IN_USE'
  | 'RN_LAB_NOT_FOUND'
  | 'RN_LAB_STEP_FAILED'
  | 'RN_LAB_TIMEOUT'
  | 'RN_LAB_UNREACHABLE'
  | 'RN_LAB_NO_SUCH_NODE'
  | 'RN_LAB_BAD_SCENARIO';

export class LabError extends ResilnetError {
  constructor(
    code: LabErrorCode,
    message: string,
    options: { cause?: unknown; hint?: string; details?: Record<string, unknown> } = {},
  ) {
    super(code, message, options);
    this.name = 'LabError';
  }
}
