import type Koa from 'koa';
import { P, type AppPermission } from '../permissions/catalog';

export interface NavItem {
  label: string;
  href: string;
  /** Shown when the user holds any of these. */
  anyOf: AppPermission[];
  /** Shown to Superusers only. */
  superuser?: boolean;
}

/** The console's sections, in menu order. A section appears only to users who may open it. */
const SECTIONS: NavItem[] = [
  { label: 'Users', href: '/users', anyOf: [P.usersManage] },
  { label: 'Groups', href: '/groups', anyOf: [P.usersManage] },
  { label: 'Roles', href: '/roles', anyOf: [P.usersManage] },
  { label: 'Licenses', href: '/licenses', anyOf: [P.usersManage] },
  { label: 'Workspaces', href: '/workspaces', anyOf: [P.accessManage] },
  { label: 'Domains', href: '/domains', anyOf: [P.accessManage], superuser: true },
  { label: 'Assets', href: '/assets', anyOf: [P.accessManage] },
  { label: 'Access explorer', href: '/access', anyOf: [P.accessManage] },
  { label: 'Audit log', href: '/audit', anyOf: [P.usersManage, P.accessManage] },
  { label: 'Sign-in security', href: '/settings/sign-in', anyOf: [P.usersManage, P.accessManage], superuser: true },
  { label: 'Webhooks', href: '/settings/webhooks', anyOf: [P.usersManage, P.accessManage], superuser: true },
  { label: 'Machine clients', href: '/settings/clients', anyOf: [P.usersManage, P.accessManage], superuser: true },
  { label: 'SCIM provisioning', href: '/settings/scim', anyOf: [P.usersManage, P.accessManage], superuser: true },
];

export function navigationFor(ctx: Koa.Context): Array<NavItem & { current: boolean }> {
  const user = ctx.state.user;
  if (!user) return [];
  return SECTIONS.filter((s) => s.anyOf.some((p) => user.permissions.has(p)) && (!s.superuser || user.isSuperuser)).map((s) => ({
    ...s,
    current: ctx.path === s.href || ctx.path.startsWith(`${s.href}/`),
  }));
}
