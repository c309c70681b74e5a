import { DOMAINS, type DomainKey, type Operation } from '../access/catalog';

/** License types, widest first. A license caps what its holder may do whatever the permissions say. */
export const LICENSE_TYPES = [
  { key: 'process_modeler', name: 'Process modeler', description: 'Every operation in every domain.' },
  { key: 'project_manager', name: 'Project manager', description: 'Every operation, but reads processes only.' },
  { key: 'process_participant', name: 'Process participant', description: 'Reads everything; comments and gives feedback.' },
  { key: 'process_viewer', name: 'Process viewer', description: 'Reads compliance, processes, users and workspaces.' },
] as const;

export type LicenseKey = (typeof LICENSE_TYPES)[number]['key'];

const ALL_OPS: Operation[] = ['R', 'M', 'C', 'D'];

/**
 * The seeded caps of PRODUCT.md for one domain: "every domain" rules cover the domains a Superuser adds
 * later too (a Process modeler and a Project manager do everything there, a Process participant reads,
 * a Process viewer nothing); the named domains get their own rows of the table.
 */
export function defaultCap(license: string, domainKey: string): Operation[] {
  switch (license) {
    case 'process_modeler':
      return ALL_OPS;
    case 'project_manager':
      return domainKey === 'processes' ? ['R'] : ALL_OPS;
    case 'process_participant':
      return domainKey === 'comments' || domainKey === 'feedback' ? ['R', 'M', 'C'] : ['R'];
    case 'process_viewer':
      return ['compliance', 'processes', 'users', 'workspaces'].includes(domainKey) ? ['R'] : [];
    default:
      return [];
  }
}

/** The seeded caps of PRODUCT.md: for each license type, the operations allowed per domain. */
export function defaultLicenseCaps(license: LicenseKey): Record<DomainKey, Operation[]> {
  const caps = {} as Record<DomainKey, Operation[]>;
  for (const d of DOMAINS) caps[d.key] = defaultCap(license, d.key);
  return caps;
}
