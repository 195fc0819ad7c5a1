// The message of whatever was thrown, for logs and one-line errors: one definition for every module.
export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
