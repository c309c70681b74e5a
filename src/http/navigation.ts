import type Koa from 'koa';
import { P, type AppPermission } from '../permissions/catalog';

export interface NavItem {
  label: string;
  href: string;
  /** Shown when the user holds any of these. */
  anyOf: AppPermission[];
}

/** The console's sections, in menu order. A section appears only to users who may open it. */
const SECTIONS: NavItem[] = [
  { label: 'Users', href: '/users', anyOf: [P.usersManage] },
  { label: 'Audit log', href: '/audit', anyOf: [P.usersManage, P.accessManage] },
];

/** Lets a feature add its section when it is mounted (keeps this file free of feature knowledge). */
export function addSection(item: NavItem, before?: string): void {
  if (SECTIONS.some((s) => s.href === item.href)) return;
  const at = before ? SECTIONS.findIndex((s) => s.href === before) : -1;
  if (at >= 0) SECTIONS.splice(at, 0, item);
  else SECTIONS.push(item);
}

export function navigationFor(ctx: Koa.Context): Array<NavItem & { current: boolean }> {
  const user = ctx.state.user;
  if (!user) return [];
  return SECTIONS.filter((s) => s.anyOf.some((p) => user.permissions.has(p))).map((s) => ({
    ...s,
    current: ctx.path === s.href || ctx.path.startsWith(`${s.href}/`),
  }));
}
