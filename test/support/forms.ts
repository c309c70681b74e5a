import { $, type Agent } from './app';

/** The user form as the page renders it (with its version), ready to post back with some fields changed. */
export async function userEditForm(agent: Agent, id: number, overrides: Record<string, string> = {}) {
  const page = await agent.get(`/users/${id}`);
  const doc = $(page.text);
  const val = (name: string) => doc(`form.user-form [name=${name}]`).val() as string;
  return {
    _csrf: agent.csrf,
    op: 'save',
    version: val('version'),
    firstName: val('firstName'),
    lastName: val('lastName'),
    email: val('email'),
    password: '',
    roleId: doc('#f-roleId option[selected]').attr('value') ?? '',
    licenseTypeId: doc('#f-licenseTypeId option[selected]').attr('value') ?? '',
    ...overrides,
  };
}
