/** An error the REST layer turns into `{error, message, ...extra}` with `status`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** 422 naming the offending field. */
export function invalid(field: string, message: string): ApiError {
  return new ApiError(422, 'validation_failed', message, { field });
}
