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

/** The seeded caps of PRODUCT.md: for each license type, the operations allowed per domain. */
export function defaultLicenseCaps(license: LicenseKey): Record<DomainKey, Operation[]> {
  const caps = {} as Record<DomainKey, Operation[]>;
  for (const d of DOMAINS) {
    switch (license) {
      case 'process_modeler':
        caps[d.key] = ALL_OPS;
        break;
      case 'project_manager':
        caps[d.key] = d.key === 'processes' ? ['R'] : ALL_OPS;
        break;
      case 'process_participant':
        caps[d.key] = d.key === 'comments' || d.key === 'feedback' ? ['R', 'M', 'C'] : ['R'];
        break;
      case 'process_viewer':
        caps[d.key] = ['compliance', 'processes', 'users', 'workspaces'].includes(d.key) ? ['R'] : [];
        break;
    }
  }
  return caps;
}
