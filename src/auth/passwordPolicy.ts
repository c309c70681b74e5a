export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 256;

/** The password policy: returns the message to show beside the field, or null when the password is fine. */
export function passwordProblem(password: string, context: { username?: string; email?: string }): string | null {
  if ([...password].length < MIN_PASSWORD_LENGTH) return `Use at least ${MIN_PASSWORD_LENGTH} characters.`;
  if (password.length > MAX_PASSWORD_LENGTH) return `Use at most ${MAX_PASSWORD_LENGTH} characters.`;
  const lower = password.toLowerCase();
  if (context.username && lower === context.username.toLowerCase()) return 'The password must not be the username.';
  if (context.email && lower === context.email.toLowerCase()) return 'The password must not be the email address.';
  if (/^(.)\1+$/u.test(password)) return 'The password must not be one character repeated.';
  return null;
}
