import { HttpError } from '../http/errors';

/**
 * Runs a service call for an API handler, renaming the fields of any error it throws from the service's
 * names (the console form's: `roleId`, `licenseTypeId`, …) to the names of the API payload (`role`,
 * `license`, …), so that `details.fields` names the field the client actually sent. "addGroupIds.3"
 * becomes "groups.3".
 */
export async function withApiFieldNames<T>(names: Record<string, string>, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    const rename = (key: string) => {
      const [head, ...rest] = key.split('.');
      return names[head] ? [names[head], ...rest].join('.') : key;
    };
    if (!Object.keys(e.fields).some((k) => rename(k) !== k)) throw e;
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(e.fields)) fields[rename(k)] ??= v;
    throw new HttpError(e.status, e.code, e.message, fields, e.details);
  }
}
